"""The ``image`` and ``selftest`` subcommands of ``python -m flight``: build, verify, install and
inspect flight image bundles (docs/image.md), and run the self-test."""

from __future__ import annotations

import argparse
import errno
import hashlib
import os
import sys
from pathlib import Path

from flight.command_line import positive_count
from flight.gpu.choice import GPU_KINDS
from flight.image.boot import SLOTS, current, read_record
from flight.image.build import BuildError, CheckoutError, build_image
from flight.image.bundle import Bundle, BundleError, read_bundle
from flight.image.targets import TARGETS, TargetError, host_target
from flight.security.keys import IMAGE_KEYS, KeyFileError, load_signing_keys


DISK_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "payload-flight"


def add_image_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``image build|verify|install|status`` and ``selftest``."""
    image = sub.add_parser("image", help="flight image bundles: build, verify, install, status")
    what = image.add_subparsers(dest="image_cmd", required=True)
    build = what.add_parser("build", help="build a signed bundle from a source checkout")
    build.add_argument("--out", type=Path, required=True, help="the directory to write it to")
    build.add_argument("--target", choices=sorted(TARGETS), default=host_target())
    build.add_argument(
        "--key",
        type=Path,
        required=True,
        help="a key file with a private "
        "image key ([[image_key]]; python -m ground keys provision writes one)",
    )
    build.add_argument("--source", type=Path, default=Path.cwd(), help="the checkout (default .)")
    build.add_argument("--config", type=Path, help="the payload.conf to ship (default image/'s)")
    for name, text in (
        ("verify", "check a bundle's signature, target and files"),
        ("install", "verify, then install into the inactive slot of a root"),
    ):
        parser = what.add_parser(name, help=text)
        parser.add_argument("bundle", type=Path)
        parser.add_argument(
            "--keys",
            type=Path,
            required=True,
            help="the key file holding the trusted image keys (public halves)",
        )
        parser.add_argument(
            "--target",
            choices=sorted(TARGETS),
            default=host_target(),
            help="the machine it must be built for (default this one)",
        )
    install = what.choices["install"]
    install.add_argument("--root", type=Path, required=True, help="the root tree (/ on board)")
    install.add_argument(
        "--activate",
        action="store_true",
        help="make the installed slot current at once, without a trial",
    )
    status = what.add_parser("status", help="the slots of a root, the current one, any trial")
    status.add_argument("--root", type=Path, default=Path("/"))
    disk = what.add_parser("disk", help="write a bootable flight disk holding a bundle")
    disk.add_argument("bundle", type=Path)
    disk.add_argument("--out", type=Path, required=True, help="the disk image to write")
    disk.add_argument("--target", choices=sorted(TARGETS), default=host_target())
    disk.add_argument(
        "--keys",
        type=Path,
        required=True,
        help="the controller's key file (flight.toml): it verifies the bundle and goes aboard",
    )
    disk.add_argument("--site-config", type=Path, help="this board's payload.conf settings")
    disk.add_argument("--state-size", type=positive_count, default=2048, help="MiB (2048)")
    disk.add_argument(
        "--job-area", type=Path, help="a directory of job executables for the state's bin/"
    )
    disk.add_argument(
        "--package",
        action="append",
        default=[],
        help="a further Debian package for the root (repeatable; python3-numpy, say)",
    )
    disk.add_argument(
        "--engineering",
        action="store_true",
        help="add QEMU's guest agent, the bench's way into the guest (never for flight)",
    )
    disk.add_argument("--cache", type=Path, default=DISK_CACHE, help=f"default {DISK_CACHE}")
    disk.add_argument("--refresh", action="store_true", help="build the Debian root again")

    selftest = sub.add_parser("selftest", help="check this installation (docs/image.md)")
    selftest.add_argument("--json", action="store_true", help="print JSON for machines")
    selftest.add_argument("--state-dir", type=Path, default=Path("payload-state"))
    selftest.add_argument("--bus", help="the serial port to open (default: a pty loopback)")
    selftest.add_argument("--baud", type=positive_count, default=115200)
    selftest.add_argument("--gpu", default="auto", choices=GPU_KINDS)


def run_image(args: argparse.Namespace) -> int:
    """Run an ``image`` subcommand; the exit status."""
    try:
        print(_image(args))
    except (BundleError, KeyFileError, TargetError, CheckoutError, OSError) as exc:
        message = f"{exc.filename}: {exc.strerror}" if type(exc) is OSError else str(exc)
        print(f"flight image: {message}", file=sys.stderr)
        return 2
    except BuildError as exc:  # a bundle's, a disk's or its root filesystem's
        print(f"flight image: {exc}", file=sys.stderr)
        return 1
    return 0


def _image(args: argparse.Namespace) -> str:
    if args.image_cmd == "build":
        path = build_image(args.source, args.out, args.target, args.key, args.config)
        return f"{path}\nsha256 {hashlib.sha256(path.read_bytes()).hexdigest()}"
    if args.image_cmd == "status":
        return _status(args.root)
    bundle = read_bundle(args.bundle, load_signing_keys(args.keys, IMAGE_KEYS), args.target)
    if args.image_cmd == "disk":
        return _disk(args, bundle)
    summary = (
        f"{bundle.manifest['name']} {bundle.version} for {bundle.target}, signed by image key "
        f"{bundle.manifest['signer']}, {len(bundle.manifest['files'])} files verified"
    )
    if args.image_cmd == "verify":
        return f"{args.bundle}: {summary}"
    from flight.image.boot import point_current
    from flight.image.install import install_bundle

    slot = install_bundle(bundle, args.root)
    if args.activate:
        point_current(args.root, slot)
    return f"{summary}\ninstalled into slot {slot} of {args.root}; current: {current(args.root)}"


def _disk(args: argparse.Namespace, bundle: Bundle) -> str:
    from flight.image.disk import DiskSettings, build_disk
    from flight.image.rootfs import build_rootfs

    settings = DiskSettings(
        target=args.target,
        keys=args.keys.read_bytes(),
        site_config=args.site_config.read_bytes() if args.site_config else b"",
        state_mib=args.state_size,
        engineering=args.engineering,
        jobs=_job_area(args.job_area),
    )
    rootfs = build_rootfs(
        args.target, args.cache, args.engineering, args.refresh, tuple(args.package)
    )
    manifest = build_disk(rootfs, bundle, settings, args.out, args.cache)
    return (
        f"{args.out}: {bundle.manifest['name']} {bundle.version} on Debian {manifest['kernel']} "
        f"for {args.target}, {len(manifest['packages'])} packages (manifest {args.out}.json)"
    )


def _job_area(directory: Path | None) -> dict[str, bytes]:
    if directory is None:
        return {}
    if not directory.is_dir():
        raise OSError(
            errno.ENOENT, "no such directory (the job area to put on the disk)", directory
        )
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _status(root: Path) -> str:
    from flight.image.install import installed_version

    if not root.is_dir():
        raise OSError(errno.ENOENT, "no such directory (the root an image is installed in)", root)
    lines = []
    for slot in SLOTS:
        label = installed_version(root, slot) or "empty"
        lines.append(f"slot {slot}{' (current)' if current(root) == slot else ''}: {label}")
    for name in ("trial.json", "rollback.json"):
        record = read_record(root, name)
        if record is not None:
            lines.append(f"{name[:-5]}: {record}")
    return "\n".join(lines)


def run_selftest_command(args: argparse.Namespace) -> int:
    """Run ``selftest``; 0 when every check passed, 1 otherwise."""
    from flight import __version__
    from flight.selftest import report, run_selftest

    results = run_selftest(args.state_dir, args.bus, args.baud, args.gpu)
    print(report(results, args.json, __version__))
    return 0 if all(r.ok for r in results) else 1
