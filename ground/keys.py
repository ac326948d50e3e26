"""``python -m ground keys``: the operator's side of telecommand authentication keys.

    provision DIR [--ground-keys N] [--force FILE...]
                     a matched set of fresh key files (flight.toml for the payload, bus.toml,
                     ground.toml, image.toml), each readable by its owner only; an existing file
                     is never replaced unless named after --force
    rotate --station HOST:PORT --keys FILE [--to ID]
                     rotate the ground's key in flight (ground/key_rotation.py)
    list FILE        the keys of a file: id, source, in use (never the secrets)
    use FILE ID      sign with key ID from now on (the station reads its file again by itself)
    sign MANIFEST --keys FILE --out SIGNED.msgpack
                     sign a job manifest offline with the file's job key (the station sends a
                     signed manifest as it is)

Rotation (docs/security.md): KEY_ACTIVATE the spare, ``keys use`` it, KEY_DEACTIVATE the old;
``keys rotate`` does these steps, checking each.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import msgpack

from flight.command_line import address, positive_count
from flight.dictionary import SOURCES
from flight.security.job_auth import sign_manifest
from flight.security.keys import (
    GROUND_KEY_LIMIT,
    KeyFileError,
    load_job_keys,
    load_keys,
    provision_keys,
    use_key,
)
from ground.accounts.credentials import (
    CredentialError,
    add_credential_arguments,
    client_credentials,
)
from ground.client import StationUnreachable
from ground.key_rotation import RotationError, rotate
from ground.manifests import ManifestFileError, load_manifest
from ground.procedure import ProcedureError, StationProcedure
from ground.tls import TlsError


def add_keys_commands(sub: argparse._SubParsersAction) -> None:
    """The ``keys`` subcommand and its own subcommands."""
    keys = sub.add_parser("keys", help="telecommand authentication key files")
    what = keys.add_subparsers(dest="keys_cmd", required=True)
    provision = what.add_parser("provision", help="write a matched set of fresh key files")
    provision.add_argument("dir", type=Path)
    provision.add_argument(
        "--ground-keys",
        type=positive_count,
        default=2,
        help=f"ground keys to preload: one in use and spares to rotate to (default 2, at most "
        f"{GROUND_KEY_LIMIT})",
    )
    provision.add_argument(
        "--force",
        nargs="+",
        default=[],
        metavar="FILE",
        help="replace these existing files of the set (flight.toml, bus.toml, ground.toml, "
        "image.toml): the payload holding the old flight.toml no longer accepts the new keys",
    )
    rotation = what.add_parser(
        "rotate", help="rotate the ground's telecommand key in flight, through the station"
    )
    rotation.add_argument("--station", required=True, type=address, help="HOST:PORT")
    add_credential_arguments(rotation)
    rotation.add_argument(
        "--keys", type=Path, required=True, help="the station's key file (it signs with it)"
    )
    rotation.add_argument("--to", type=int, help="the key to rotate to (default: the next spare)")
    rotation.add_argument("--json", action="store_true", help="print JSON for machines")
    listing = what.add_parser("list", help="list a key file's keys (not their secrets)")
    listing.add_argument("file", type=Path)
    listing.add_argument("--json", action="store_true", help="print JSON for machines")
    use = what.add_parser("use", help="sign with this key from now on")
    use.add_argument("file", type=Path)
    use.add_argument("key_id", type=int)
    sign = what.add_parser("sign", help="sign a job manifest with a job key, offline")
    sign.add_argument("manifest", type=Path, help="a .json, .toml or .msgpack manifest")
    sign.add_argument("--keys", type=Path, required=True, help="a key file with a private job key")
    sign.add_argument("--out", type=Path, required=True, help="the signed manifest (.msgpack)")


def run_keys(args: argparse.Namespace) -> int:
    """Run a ``keys`` subcommand; the exit status."""
    try:
        if args.keys_cmd == "provision":
            replace = [_in_dir(name, args.dir) for name in args.force]
            files = provision_keys(args.dir, ground_keys=args.ground_keys, replace_files=replace)
            print(
                f"payload: {files.flight}\nbus: {files.bus}\nground: {files.ground}\n"
                f"image signer: {files.image}"
            )
        elif args.keys_cmd == "list":
            rows = [
                {"id": k.key_id, "source": SOURCES[k.source], "active": k.active}
                for k in sorted(load_keys(args.file).values(), key=lambda k: k.key_id)
            ]
            if args.json:
                print(json.dumps(rows))
            for row in [] if args.json else rows:
                print(f"{row['id']:>5}  {row['source']:<6}  {'in use' if row['active'] else '-'}")
        elif args.keys_cmd == "rotate":
            return _rotate(args)
        elif args.keys_cmd == "use":
            key = use_key(args.file, args.key_id)
            print(f"{args.file}: key {key.key_id} in use for {SOURCES[key.source]}")
        else:
            _sign(args.manifest, args.keys, args.out)
    except (KeyFileError, ManifestFileError) as exc:
        print(f"ground keys: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ground keys: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


def _in_dir(name: str, directory: Path) -> str:
    """A --force file: a name of the set, or a path to it in the directory provisioned."""
    path = Path(name)
    if path.parent != Path(".") and path.parent.resolve() != directory.resolve():
        raise KeyFileError(f"--force {name}: not in {directory}")
    return path.name


def _rotate(args: argparse.Namespace) -> int:
    try:
        token, tls = client_credentials(args)
        with StationProcedure(args.station, token, tls=tls) as procedure:
            result = rotate(
                procedure, args.keys, args.to, say=lambda line: args.json or print(line)
            )
    except (StationUnreachable, CredentialError, TlsError) as exc:
        print(f"ground keys rotate: {exc}", file=sys.stderr)
        return 2
    except (RotationError, ProcedureError) as exc:
        print(f"ground keys rotate: stopped: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"old": result.old, "new": result.new, "steps": result.steps}))
    return 0


def _sign(manifest_path: Path, keys: Path, out: Path) -> None:
    """Sign a manifest with the lowest-numbered job key whose private half the file holds."""
    signers = [k for k in load_job_keys(keys).values() if k.private is not None]
    if not signers:
        raise KeyFileError(f"key file {keys} holds no private job key ([[job_key]] private)")
    key = min(signers, key=lambda k: k.key_id)
    signed = sign_manifest(load_manifest(manifest_path), key)
    out.write_bytes(msgpack.packb(signed, use_bin_type=True))
    print(f"{out}: signed with job key {key.key_id}")
