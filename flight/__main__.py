"""Command line of the payload controller: ``python -m flight run --bus PORT``, ``icd``, the
stand-alone CFDP endpoint ``cfdp send|receive``, the flight image's ``image build|verify|install|
status`` and ``selftest``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import serial

from flight.cfdp.endpoint import add_cfdp_commands, run_cfdp
from flight.command_line import positive_count, run_main, spacecraft_id
from flight.gpu.choice import GPU_KINDS, open_gpu
from flight.image.cli import add_image_commands, run_image, run_selftest_command
from flight.image.manager import ImageManager
from flight.jobs.process import scopes_available
from flight.links.laser import LaserLink
from flight.links.udp import LinkUrlError
from flight.jobs.sandbox import (
    CONTROLLER_UMASK,
    JobUser,
    SandboxError,
    job_user,
    prepare_state_dir,
)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m flight", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the payload controller on a bus link")
    run.add_argument("--bus", required=True, help="serial port: a tty, a pty or a pyserial URL")
    run.add_argument(
        "--baud", type=positive_count, default=115200, help="line rate (default 115200)"
    )
    run.add_argument(
        "--keys",
        type=Path,
        required=True,
        help="the telecommand authentication key file (TOML, mode 0600; docs/security.md)",
    )
    run.add_argument(
        "--state-dir",
        type=Path,
        default=Path("payload-state"),
        help="job area (bin/) and job directories (jobs/); default ./payload-state",
    )
    run.add_argument(
        "--gpu",
        default="auto",
        choices=GPU_KINDS,
        help="GPU backend: nvml (a real NVIDIA GPU), simulated (an H100 model, for the HIL "
        "bench), none; auto: nvml when NVML answers, else none (default)",
    )
    run.add_argument(
        "--no-eclipse-predictions",
        action="store_true",
        help="schedule without the bus's eclipse predictions (the baseline of the "
        "energy-aware scheduling figures)",
    )
    run.add_argument(
        "--job-user",
        help="the unprivileged account jobs run as (needed when the controller runs as root; "
        "docs/security.md)",
    )
    run.add_argument(
        "--allow-root-jobs",
        action="store_true",
        help="as root without --job-user, run jobs as root anyway (a bench whose interpreter "
        "only root can reach; never on a flight image)",
    )
    run.add_argument(
        "--job-scopes",
        action="store_true",
        help="start each job in a systemd scope unit of its own, so that it outlives a restart "
        "of the controller's service and is adopted (the flight image's unit sets it)",
    )
    run.add_argument(
        "--image-root",
        type=Path,
        help="the root the controller's flight image is installed in (/ on board): enables "
        "IMAGE_INSTALL and IMAGE_ACTIVATE, and the trial of a new version (docs/image.md)",
    )
    run.add_argument(
        "--isl",
        metavar="URL",
        help="the laser terminal: udp://HOST:PORT[?rate=BITS_PER_BUS_S][&bind=HOST:PORT]; "
        "enables the relay, which routes files for the ground across the mesh "
        "(docs/constellation.md)",
    )
    run.add_argument(
        "--entity-id",
        type=spacecraft_id,
        help="this payload's CFDP entity id on the mesh (with --isl; its spacecraft id)",
    )
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    icd = sub.add_parser("icd", help="print the dictionary's part of docs/icd.md")
    icd.add_argument("--write", type=Path, help="update the generated section of this file")
    add_cfdp_commands(sub, "flight")
    add_image_commands(sub)
    args = parser.parse_args(argv)

    if args.cmd == "cfdp":
        return run_cfdp(args)
    if args.cmd == "image":
        return run_image(args)
    if args.cmd == "selftest":
        return run_selftest_command(args)

    if args.cmd == "icd":
        from flight.icd import render, splice

        if args.write is None:
            print(render())
        else:
            args.write.write_text(splice(args.write.read_text()))
        return 0

    from flight.board import build_board
    from flight.controller import Controller, open_link
    from flight.jobs.store import StoreError
    from flight.security.keys import KeyFileError, load_job_keys, load_keys

    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s flight %(levelname)s %(message)s",
    )
    try:
        keys, job_keys = load_keys(args.keys), load_job_keys(args.keys)
    except KeyFileError as exc:
        print(f"flight: {exc}", file=sys.stderr)
        return 2
    try:
        link = open_link(args.bus, args.baud)
    except (serial.SerialException, ValueError) as exc:
        print(f"flight: cannot open bus link {args.bus}: {exc}", file=sys.stderr)
        return 2
    (args.state_dir / "bin").mkdir(parents=True, exist_ok=True)
    if args.job_scopes and (why := scopes_available()) is not None:
        print(f"flight: --job-scopes: {why}", file=sys.stderr)
        return 2
    try:
        job_user = jobs_as(args)
    except (SandboxError, OSError) as exc:
        print(f"flight: {exc}", file=sys.stderr)
        return 2
    if (args.isl is None) != (args.entity_id is None):
        print("flight: --isl and --entity-id go together", file=sys.stderr)
        return 2
    try:
        laser = None if args.isl is None else LaserLink(args.isl)
    except LinkUrlError as exc:
        print(f"flight: --isl: {exc}", file=sys.stderr)
        return 2
    gpu, kind = open_gpu(args.gpu)
    image = None
    if args.image_root is not None:
        image = ImageManager(args.image_root, args.keys, lambda: trial_health(args.state_dir))
    try:
        board = build_board(
            link, args.state_dir, keys, job_keys, gpu, kind,
            eclipse_predictions=not args.no_eclipse_predictions, job_user=job_user,
            job_scopes=args.job_scopes, image=image, laser=laser, entity_id=args.entity_id,
        )  # fmt: skip
        controller = Controller(link, board)
    except (StoreError, OSError) as exc:
        print(f"flight: cannot start: {exc}", file=sys.stderr)
        return 2
    try:
        controller.run()
    except serial.SerialException as exc:
        print(f"flight: bus link lost: {exc}", file=sys.stderr)
        return 3
    finally:
        link.close()
    return controller.exit_status


def trial_health(state_dir: Path) -> None:
    """The self-test a new version passes before it commits: the native core on every CPU path
    and the state store; CheckFailed otherwise."""
    from flight.selftest import check_native, check_state

    check_native()
    check_state(state_dir)


def jobs_as(args: argparse.Namespace) -> JobUser | None:
    """The account jobs run as: --job-user (as root, the state directory laid out for it); None
    for the controller's own (not root, or root with --allow-root-jobs). SandboxError when root
    names no job user and does not allow root jobs."""
    if os.geteuid() != 0:
        if args.job_user:
            logging.getLogger("flight").warning(
                "not root: jobs run as this user, not %s", args.job_user
            )
        return None
    if args.job_user:
        user = job_user(args.job_user)
        os.umask(CONTROLLER_UMASK)
        prepare_state_dir(args.state_dir, user)
        return user
    if not args.allow_root_jobs:
        raise SandboxError(
            "running as root: name the unprivileged account jobs run as (--job-user)"
        )
    logging.getLogger("flight").warning("jobs run as root (--allow-root-jobs)")
    return None


if __name__ == "__main__":
    sys.exit(run_main("flight", main))
