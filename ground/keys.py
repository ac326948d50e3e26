"""``python -m ground keys``: the operator's side of telecommand authentication keys.

    provision DIR    a matched set of fresh key files (flight.toml for the payload, bus.toml,
                     ground.toml), each readable by its owner only
    list FILE        the keys of a file: id, source, in use (never the secrets)
    use FILE ID      sign with key ID from now on (the station reads its file again by itself)
    sign MANIFEST --keys FILE --out SIGNED.msgpack
                     sign a job manifest offline with the file's job key (the station sends a
                     signed manifest as it is)

Rotation (docs/security.md): KEY_ACTIVATE the spare, ``keys use`` it, KEY_DEACTIVATE the old.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import msgpack

from flight.dictionary import SOURCES
from flight.security.job_auth import sign_manifest
from flight.security.keys import KeyFileError, load_job_keys, load_keys, provision_keys, use_key
from ground.manifests import ManifestFileError, load_manifest


def add_keys_commands(sub: argparse._SubParsersAction) -> None:
    """The ``keys`` subcommand and its own subcommands."""
    keys = sub.add_parser("keys", help="telecommand authentication key files")
    what = keys.add_subparsers(dest="keys_cmd", required=True)
    provision = what.add_parser("provision", help="write a matched set of fresh key files")
    provision.add_argument("dir", type=Path)
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
            files = provision_keys(args.dir)
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


def _sign(manifest_path: Path, keys: Path, out: Path) -> None:
    """Sign a manifest with the lowest-numbered job key whose private half the file holds."""
    signers = [k for k in load_job_keys(keys).values() if k.private is not None]
    if not signers:
        raise KeyFileError(f"key file {keys} holds no private job key ([[job_key]] private)")
    key = min(signers, key=lambda k: k.key_id)
    signed = sign_manifest(load_manifest(manifest_path), key)
    out.write_bytes(msgpack.packb(signed, use_bin_type=True))
    print(f"{out}: signed with job key {key.key_id}")
