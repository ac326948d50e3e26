"""Command line of the ground segment: ``python -m ground station|console|ping|tlm|submit|jobs|
upload|files|archive|plot|xtce|keys|users|web|cfdp``.

User mistakes and lost connections end with a one-line message and a non-zero status, never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import logging
import shlex
import signal
import sys
import time
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from flight.cfdp.endpoint import add_cfdp_commands, run_cfdp
from flight.command_line import address, count, positive, positive_count, run_main, spacecraft_id
from flight import dictionary as d
from flight.dictionary import JOB_STATE_NAMES
from flight.spacelink.profile import DEFAULT_SCID
from ground.client import CommandRefused, NoSuchSpacecraft, StationClient, StationUnreachable
from ground.accounts.command_line import add_users_arguments, add_users_commands, run_users
from ground.archive.command_line import (
    add_archive_arguments,
    add_spacecraft_argument,
    archive_named,
    spacecraft_named,
)
from ground.accounts.credentials import (
    CredentialError,
    add_credential_arguments,
    client_credentials,
)
from ground.command_requests import RequestError
from ground.console.command_line import parse_command
from ground.console.model import utc as utc_z
from ground.fleet_view import (
    COLUMNS,
    JOB_COLUMNS,
    NUMERIC,
    describe_broker,
    describe_placement,
    fleet_row,
    job_row,
)
from ground.cop1_directives import describe_cop1
from ground.keys import add_keys_commands, run_keys
from ground.manifests import ManifestFileError, load_manifest
from ground.tls import TlsError, listening_refusal, server_context
from ground.web.command_line import add_web_command, run_web

DEFAULT_STATION = "127.0.0.1:5560"


def utc(seconds: float) -> str:
    """Bus or ground time as ISO 8601 UTC."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ground", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("station", help="run the ground station")
    st.add_argument("--listen", default=DEFAULT_STATION, type=address, help="HOST:PORT for clients")
    st.add_argument(
        "--link",
        type=address,
        help="HOST:PORT of the space link (the bus radio); with --fleet, of the spacecraft that "
        "name no link of their own",
    )
    st.add_argument("--fleet", type=Path, help="the spacecraft it serves (TOML; docs/ground.md)")
    st.add_argument("--port-file", type=Path, help="write the bound client port here")
    st.add_argument(
        "--placement",
        choices=("broker", "round-robin"),
        default="broker",
        help="how fleet jobs are placed: by the broker's predictions (default), or each on the "
        "next spacecraft in turn",
    )
    st.add_argument(
        "--contacts",
        type=Path,
        help="the fleet's contact plan (JSON, docs/constellation.md) the broker predicts with",
    )
    st.add_argument(
        "--mesh",
        type=Path,
        help="the contact plan the payloads route over (JSON, docs/icd.md section 12; the file "
        "CONTACT_PLAN_LOAD puts in use): fleet jobs and relayed consignments then cross the "
        "laser links to a spacecraft out of contact, by way of the one in contact that brings "
        "them there soonest",
    )
    add_users_arguments(st)
    st.add_argument("--tls-cert", type=Path, help="PEM certificate chain: clients connect by TLS")
    st.add_argument("--tls-key", type=Path, help="the certificate's PEM private key")
    st.add_argument(
        "--keys",
        type=Path,
        help="the ground's telecommand key file (mode 0600; python -m ground keys); without "
        "--fleet, for the one spacecraft of --spacecraft-id",
    )
    add_archive_arguments(
        st,
        "files received (files/), their register, the CFDP journal and the archive; default "
        "./ground-state",
    )
    st.add_argument(
        "--retain-days",
        type=positive,
        help="archive retention: packets and commands older are deleted (default: kept)",
    )
    st.add_argument(
        "--echo-idle",
        action="store_true",
        help="loop the loopback's idle packets back up the space link once everything before "
        "them is answered (docs/icd.md section 11)",
    )
    st.add_argument(
        "--spacecraft-id",
        type=spacecraft_id,
        default=DEFAULT_SCID,
        help=f"the spacecraft id its USLP frames carry (0-65535; default {DEFAULT_SCID})",
    )
    files = sub.add_parser("files", help="list the files received from the payload")
    files.add_argument("--state", type=Path, default=Path("ground-state"), help="the station's")
    files.add_argument("--json", action="store_true", help="print JSON for machines")

    def client(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument(
            "--station", default=DEFAULT_STATION, type=address, help="HOST:PORT of the station"
        )
        add_credential_arguments(p)
        p.add_argument("--timeout", type=positive, default=10.0, help="seconds to wait for answers")
        p.add_argument("--json", action="store_true", help="print JSON for machines")
        p.add_argument(
            "--spacecraft",
            metavar="NAME|ID",
            help="the spacecraft of the station's fleet it is about (default: its only one)",
        )
        return p

    fleet = client("fleet", "the fleet: its spacecraft, or the broker's jobs, or submit one")
    fleet.add_argument(
        "action",
        nargs="?",
        default="status",
        choices=("status", "jobs", "submit"),
        help="status (the default): every spacecraft's link, power, GPU, jobs and contact, and "
        "the broker's counts; jobs: the broker's jobs; submit MANIFEST: a job for the broker to "
        "place",
    )
    fleet.add_argument("manifest", nargs="?", type=Path, help="submit: the job manifest")
    fleet.add_argument(
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="PATH[=NAME]",
        help="submit: an input for the job's spacecraft's file store, sent up with it (NAME: "
        "its name on board, default the file's name)",
    )
    client("ping", "ping the payload (PUS 17)")
    tlm = client("tlm", "print live housekeeping")
    tlm.add_argument("--count", type=count, default=0, help="stop after N reports (0: never)")
    submit = client("submit", "submit a job manifest (.json, .toml or .msgpack)")
    submit.add_argument("manifest", type=Path)
    client("jobs", "list the payload's jobs")
    upload = client("upload", "send a file to the payload's file store (a job input) by CFDP")
    upload.add_argument("file", type=Path)
    upload.add_argument("--as", dest="dest", help="its name on board (default: the file's name)")
    relay = client(
        "relay",
        "send files and commands to a spacecraft out of contact, by one in contact and the "
        "laser mesh",
    )
    relay.add_argument(
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="PATH[=NAME]",
        help="a file for its file store (NAME: its name on board, default the file's name)",
    )
    relay.add_argument(
        "--command",
        dest="commands",
        action="append",
        default=[],
        metavar="'COMMAND [NAME=VALUE ...]'",
        help="a command, run once the files are in place (in the order given)",
    )
    relay.add_argument(
        "--submit", dest="manifest", type=Path, help="a job manifest to submit after them"
    )
    relay.add_argument("--via", metavar="NAME|ID", help="the spacecraft in contact to carry it")
    relay.add_argument("--confirm", action="store_true", help="confirm its hazardous commands")
    authority = client("authority", "show, request, release or (admin) take command authority")
    authority.add_argument(
        "action", nargs="?", default="show", choices=("show", "request", "release", "take")
    )
    cop1 = client("cop1", "COP-1's state and the space link's counts, or a directive to it")
    cop1.add_argument(
        "directive",
        nargs="?",
        default="status",
        choices=("status", "unlock", "initiate", "terminate", "resume", "bypass"),
        help="status (the default); unlock (after a FARM lockout); initiate, terminate or "
        "resume the AD service; bypass: send COMMAND in an expedited frame, around COP-1",
    )
    cop1.add_argument(
        "words", nargs="*", help="bypass: COMMAND [NAME=VALUE ...]", metavar="COMMAND"
    )
    cop1.add_argument(
        "--check",
        choices=("none", "clcw", "unlock", "set_vr"),
        default="clcw",
        help="initiate: at once (none), on an agreeing CLCW (clcw, the default), by Unlock, or by "
        "Set V(R) to --vr",
    )
    cop1.add_argument("--vr", type=count, help="initiate --check set_vr: the value for V(R)")
    cop1.add_argument("--confirm", action="store_true", help="bypass: confirm a hazardous command")
    archive = sub.add_parser("archive", help="read, migrate or prune the station's archive")
    actions = archive.add_subparsers(dest="archive_cmd", required=True)
    query = actions.add_parser("query", help="print archived telemetry, decoded")
    export = actions.add_parser("export", help="write archived telemetry as CSV, or raw")
    written = export.add_mutually_exclusive_group(required=True)
    written.add_argument("--csv", type=Path, help="the file to write, decoded")
    written.add_argument(
        "--raw",
        type=Path,
        help="the file to write: the packets' octets concatenated, as tm.bin holds them",
    )
    query.add_argument(
        "--audit", action="store_true", help="the audit trail: logins, commands, authority"
    )
    verify = actions.add_parser("verify", help="check the audit trail's hash chain")
    add_archive_arguments(verify)
    migrate = actions.add_parser("migrate", help="bring an archive to this schema version")
    add_archive_arguments(migrate)
    migrate.add_argument(
        "--spacecraft-id",
        type=spacecraft_id,
        default=DEFAULT_SCID,
        help=f"the spacecraft an archive from before spacecraft ids holds (default {DEFAULT_SCID})",
    )
    prune = actions.add_parser("prune", help="delete packets and commands older than a time")
    add_archive_arguments(prune)
    prune.add_argument("--before", required=True, type=_when, help="arrival time, UTC ISO 8601")
    for p in (query, export):
        add_archive_arguments(p)
        add_spacecraft_argument(p)
        p.add_argument("--from", dest="start", type=_when, help="on-board time, UTC ISO 8601")
        p.add_argument("--to", dest="end", type=_when, help="on-board time, UTC ISO 8601")
        p.add_argument("--name", help="a telemetry packet's or an event's name")
        p.add_argument("--limit", type=positive_count, help="at most this many packets")
        p.add_argument("--json", action="store_true", help="print JSON for machines")
    plot = sub.add_parser("plot", help="plot an archived telemetry channel to a PNG")
    plot.add_argument("channel", help="a housekeeping field (uptime_s) or PACKET.FIELD")
    plot.add_argument("--out", type=Path, required=True, help="the PNG to write")
    add_archive_arguments(plot)
    add_spacecraft_argument(plot)
    plot.add_argument("--from", dest="start", type=_when, help="on-board time, UTC ISO 8601")
    plot.add_argument("--to", dest="end", type=_when, help="on-board time, UTC ISO 8601")
    plot.add_argument("--json", action="store_true", help="print JSON for machines")
    console = sub.add_parser("console", help="the operator console (full screen)")
    console.add_argument(
        "--station", default=DEFAULT_STATION, type=address, help="HOST:PORT of the station"
    )
    add_credential_arguments(console)
    console.add_argument(
        "--spacecraft",
        metavar="NAME|ID",
        help="of the station's fleet (default: its only one; in a replay, every one)",
    )
    console.add_argument(
        "--replay",
        metavar="ARCHIVE",
        help="replay a station's archive: its state directory, its SQLite file or a "
        "postgresql:// URL",
    )
    console.add_argument("--from", dest="start", type=_when, help="replay from (UTC ISO 8601)")
    console.add_argument("--to", dest="end", type=_when, help="replay to (UTC ISO 8601)")
    console.add_argument("--speed", type=positive, default=1.0, help="replay speed (default 1)")
    xtce = sub.add_parser("xtce", help="write the dictionary as XTCE 1.2 (for Yamcs or COSMOS)")
    xtce.add_argument("--out", type=Path, help="the file to write (default: standard output)")
    add_cfdp_commands(sub, "ground")
    add_keys_commands(sub)
    add_users_commands(sub)
    add_web_command(sub, DEFAULT_STATION)
    return parser


def _when(text: str) -> float:
    """A time given as UTC ISO 8601 (2026-03-20T01:00:00Z) or seconds since 1970."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a time (2026-03-20T01:00:00Z)") from None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.cmd == "cfdp":
        return run_cfdp(args)
    if args.cmd == "station":
        return _station(args)
    if args.cmd == "keys":
        return run_keys(args)
    if args.cmd == "users":
        return run_users(args)
    if args.cmd == "web":
        return run_web(args)
    if args.cmd == "files":
        return _files(args)
    if args.cmd == "archive":
        return _archive(args)
    if args.cmd == "xtce":
        return _xtce(args)
    if args.cmd == "console":
        return _console(args)
    if args.cmd == "plot":
        return _plot(args)
    if args.cmd == "fleet" and (args.action == "submit") != (args.manifest is not None):
        print("ground fleet: submit takes a MANIFEST, and only submit does", file=sys.stderr)
        return 2
    if args.cmd == "fleet" and args.files and args.action != "submit":
        print("ground fleet: only submit takes --file", file=sys.stderr)
        return 2
    try:
        if getattr(args, "manifest", None) is not None:
            args.manifest_doc = load_manifest(args.manifest)
        return asyncio.run(_client_command(args))
    except ManifestFileError as exc:
        print(f"ground {args.cmd}: {exc}", file=sys.stderr)
        return 2
    except (StationUnreachable, CommandRefused, CredentialError, TlsError, NoSuchSpacecraft) as exc:
        print(f"ground {args.cmd}: {exc}", file=sys.stderr)
        return 2
    except TimeoutError:
        print(f"ground {args.cmd}: no answer within {args.timeout} s", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _station(args: argparse.Namespace) -> int:
    from flight.security.keys import KeyFileError
    from ground.accounts.store import AccountError, AccountStore
    from ground.archive import ArchiveError
    from ground.broker import BrokerError, ContactPlan
    from ground.mesh import Mesh, MeshError
    from ground.fleet import FleetError
    from ground.station import Station

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s ground %(levelname)s %(message)s"
    )
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    refusal = listening_refusal(args.listen, args.tls_cert, args.tls_key)
    if refusal is not None:
        print(f"ground station: {refusal}", file=sys.stderr)
        return 2
    try:
        fleet = _station_fleet(args)
        tls = server_context(args.tls_cert, args.tls_key) if args.tls_cert else None
        accounts = AccountStore(args.users)
        station = Station(
            args.link or "",
            fleet,
            args.state,
            args.echo_idle,
            accounts=accounts,
            tls=tls,
            archive=args.archive,
            retain_s=args.retain_days * 86_400 if args.retain_days else None,
            placement=args.placement,
            contacts=ContactPlan.load(args.contacts) if args.contacts else None,
            mesh=Mesh.load(args.mesh, {c.name: c.scid for c in fleet}) if args.mesh else None,
        )
    except (
        KeyFileError,
        AccountError,
        TlsError,
        ArchiveError,
        FleetError,
        BrokerError,
        MeshError,
    ) as exc:
        print(f"ground station: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ground station: cannot use {args.state}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve_until_signal(station.serve(host, int(port), args.port_file)))
    except OSError as exc:
        print(f"ground station: cannot listen on {args.listen}: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


def _station_fleet(args: argparse.Namespace) -> list[Any]:
    """The spacecraft the station serves: --fleet's, or the one of --spacecraft-id and --keys;
    FleetError when the command line does not say."""
    from ground.fleet import FleetError, load_fleet, one_spacecraft

    if args.fleet is None:
        if args.keys is None or args.link is None:
            raise FleetError("the station needs --link and --keys (or --fleet FILE)")
        return one_spacecraft(args.spacecraft_id, args.keys)
    if args.keys is not None:
        raise FleetError("--keys is for one spacecraft: a fleet file names each one's keys")
    fleet = load_fleet(args.fleet)
    unlinked = [c.name for c in fleet if c.link is None]
    if unlinked and args.link is None:
        raise FleetError(f"{', '.join(unlinked)} name no link of their own: give --link")
    return fleet


def _files(args: argparse.Namespace) -> int:
    from ground.files import FileRegistry

    if not (args.state / "files.sqlite").is_file():
        print(f"ground files: no station state in {args.state}", file=sys.stderr)
        return 2
    registry = FileRegistry(args.state)
    rows = registry.rows()
    registry.close()
    lines = [f"{'file':40} {'octets':>10}  {'CFDP':24} check     received (UTC)"]
    for r in rows:
        outcome = "delivered" if r.delivered else f"failed {r.condition}"
        lines.append(
            f"{r.name:40} {r.size if r.size is not None else '-':>10}  {outcome:24} "
            f"{r.check:9} {utc(r.received_at)}"
        )
    _emit(args, "\n".join(lines) if rows else "no files", [r.__dict__ for r in rows])
    return 0


def _plot(args: argparse.Namespace) -> int:
    from ground.fleet import FleetError
    from ground.plot import PlotError, plot_channel

    try:
        summary = plot_channel(
            archive_named(args), args.channel, args.start, args.end, args.out,
            spacecraft_named(args),
        )  # fmt: skip
    except (PlotError, FleetError) as exc:
        print(f"ground plot: {exc}", file=sys.stderr)
        return 2
    span = (
        "not valid throughout"
        if summary["min"] is None
        else f"{summary['min']:g} to {summary['max']:g}"
    )
    invalid = f", {summary['not_valid']} not valid" if summary["not_valid"] else ""
    human = f"{summary['points']} points of {summary['channel']} ({span}{invalid}) to {args.out}"
    _emit(args, human, summary)
    return 0


def _console(args: argparse.Namespace) -> int:
    from ground.archive import Archive, ArchiveError
    from ground.console.app import Console
    from ground.fleet import FleetError, spacecraft_in
    from ground.console.feeds import ReplayFeed, StationFeed
    from ground.console.model import Model

    model = Model()
    feed: StationFeed | ReplayFeed
    if args.replay is not None:
        spec = args.replay
        state = Path(spec) if Path(spec).is_dir() else Path(spec).parent
        if Path(spec).is_dir():
            spec = Path(spec) / "archive.sqlite"
        try:
            scid = None if args.spacecraft is None else spacecraft_in(state, args.spacecraft)
            Archive(spec, create=False).close()
        except (ArchiveError, FleetError) as exc:
            print(f"ground console: {exc}", file=sys.stderr)
            return 2
        feed = ReplayFeed(model, spec, args.start, args.end, args.speed, scid)
    else:
        try:
            token, tls = client_credentials(args)
        except (CredentialError, TlsError) as exc:
            print(f"ground console: {exc}", file=sys.stderr)
            return 2
        feed = StationFeed(model, args.station, token, tls, args.spacecraft)
    Console(model, feed).run()
    return 0


def _xtce(args: argparse.Namespace) -> int:
    from ground.xtce import export

    document = export()
    if args.out is None:
        sys.stdout.write(document)
        return 0
    try:
        args.out.write_text(document)
    except OSError as exc:
        print(f"ground xtce: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


def _archive(args: argparse.Namespace) -> int:
    from ground.archive import Archive, ArchiveError, migrate
    from ground.fleet import FleetError

    spec = archive_named(args)
    try:
        args.scid = spacecraft_named(args) if hasattr(args, "spacecraft") else None
        if args.archive_cmd == "migrate":
            print(migrate(spec, args.spacecraft_id))
            return 0
        archive = Archive(spec, create=False)
    except (ArchiveError, FleetError) as exc:
        print(f"ground archive: {exc}", file=sys.stderr)
        return 2
    try:
        return _archive_read(args, archive)
    finally:
        archive.close()


def _archive_read(args: argparse.Namespace, archive: Any) -> int:
    if args.archive_cmd == "prune":
        packets, commands = archive.prune(args.before)
        human = f"{packets} packets and {commands} commands from before {utc(args.before)} deleted"
        print(human)
        return 0
    if args.archive_cmd == "verify" or getattr(args, "audit", False):
        return _audit(args, archive)
    if args.name is not None and not (
        args.name in d.TELEMETRY_BY_NAME or args.name in d.EVENTS_BY_NAME
    ):
        owners = [t.name for t in d.TELEMETRY if any(f.name == args.name for f in t.fields)]
        hint = (
            f": {args.name} is a field of {owners[0]} (--name {owners[0]}; or ground plot "
            f"{args.name})"
            if owners
            else " (packets: ground xtce or docs/icd.md)"
        )
        print(f"ground archive: no telemetry or event named {args.name!r}{hint}", file=sys.stderr)
        return 2
    if args.start is not None and args.end is not None and args.start > args.end:
        print(
            f"ground archive: --from {utc(args.start)} is later than --to {utc(args.end)}",
            file=sys.stderr,
        )
        return 2
    if getattr(args, "raw", None) is not None:
        packets = archive.packets(args.start, args.end, spacecraft=args.scid, name=args.name)
        packets = packets[: args.limit]
        try:
            args.raw.write_bytes(b"".join(p.raw for p in packets))
        except OSError as exc:
            print(f"ground archive: cannot write {args.raw}: {exc.strerror}", file=sys.stderr)
            return 2
        _emit(args, f"{len(packets)} packets to {args.raw}",
              {"packets": len(packets), "raw": str(args.raw)})  # fmt: skip
        return 0
    rows, decoded = [], []
    packets = archive.packets(args.start, args.end, spacecraft=args.scid, name=args.name)
    for packet in packets:
        tm = packet.decoded()
        if tm is None:
            continue
        decoded.append(tm)
        rows.append(
            {
                "time": utc(tm.packet.time),
                "name": tm.name,
                "values": tm.values,
                "playback": packet.playback,
                "spacecraft": packet.scid,
            }
        )
        if args.limit is not None and len(rows) >= args.limit:
            break
    if args.archive_cmd == "export":
        _export_csv(args.csv, rows, decoded, args.name in d.TELEMETRY_BY_NAME)
        _emit(
            args, f"{len(rows)} packets to {args.csv}", {"packets": len(rows), "csv": str(args.csv)}
        )
        return 0
    lines = [
        f"{r['time']}  {r['name']:20} {_shown(tm.labelled())}"
        for r, tm in zip(rows, decoded, strict=True)
    ]
    _emit(
        args, "\n".join(lines) if rows else "no packets", json.loads(json.dumps(rows, default=repr))
    )
    return 0


def _audit(args: argparse.Namespace, archive: Any) -> int:
    """``archive verify``: walk the audit trails' hash chains (the station's, and the web
    server's where it has one). ``archive query --audit``: list their rows by time (ground
    times; --from, --to and --limit apply)."""
    import sqlite3

    from ground.audit import audit_rows, verify_chain

    trails = {"station": archive.db}
    if (args.state / "web.sqlite").is_file():
        trails["web"] = sqlite3.connect(args.state / "web.sqlite")
    try:
        if args.archive_cmd == "verify":
            broken_any = False
            for source, db in trails.items():
                count, head, broken = verify_chain(db)
                if broken is not None:
                    print(
                        f"ground archive verify: the {source} audit trail is broken: {broken}",
                        file=sys.stderr,
                    )
                    broken_any = True
                else:
                    print(f"{source} audit trail holds: {count} rows, head {head.hex()}")
            return 1 if broken_any else 0
        rows = sorted(
            (
                (source, r)
                for source, db in trails.items()
                for r in audit_rows(db)
                if (args.start is None or r.time >= args.start)
                and (args.end is None or r.time < args.end)
            ),
            key=lambda pair: pair[1].time,
        )[: args.limit]
    finally:
        if "web" in trails:
            trails["web"].close()
    lines = [
        f"{utc(r.time)}  {source:7} {r.account or '-':12} {r.peer or '-':21} {r.action:12} "
        f"{r.outcome}  " + " ".join(f"{k}={v}" for k, v in r.detail.items())
        for source, r in rows
    ]
    machine = [r.as_dict() | {"source": source} for source, r in rows]
    _emit(args, "\n".join(lines) if rows else "no audit rows", machine)
    return 0


def _shown(values: dict[str, Any]) -> str:
    """Values on one line for a person: name=value, enum names, "not valid" where not valid."""
    return " ".join(f"{k}={v}" for k, v in values.items())


def _export_csv(path: Path, rows: list[dict], decoded: list, one_packet: bool) -> None:
    """Archived packets as CSV. One telemetry packet named (--name): a column per field, enum
    values by name, a value that is not valid an empty cell; otherwise each packet's values as
    JSON (null where not valid)."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        if one_packet and decoded:
            names = [f.name for f in decoded[0].fields]
            writer.writerow(["time", "name", "playback", *names])
            for r, tm in zip(rows, decoded, strict=True):
                shown = tm.labelled()
                cells = ["" if tm.values.get(n) is None else shown[n] for n in names]
                writer.writerow([r["time"], r["name"], int(r["playback"]), *cells])
            return
        writer.writerow(["time", "name", "playback", "values"])
        for r in rows:
            values = json.dumps(r["values"], default=repr, sort_keys=True)
            writer.writerow([r["time"], r["name"], int(r["playback"]), values])


async def _serve_until_signal(serving: Any) -> None:
    task = asyncio.ensure_future(serving)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _client_command(args: argparse.Namespace) -> int:
    token, tls = client_credentials(args)
    client = await StationClient.connect(args.station, token, tls=tls, spacecraft=args.spacecraft)
    try:
        await client.greeting(args.timeout)
        return await _COMMANDS[args.cmd](client, args)
    finally:
        await client.close()


def _emit(args: argparse.Namespace, human: str, machine: Any) -> None:
    print(json.dumps(machine, sort_keys=True) if args.json else human, flush=True)


async def _ping(client: StationClient, args: argparse.Namespace) -> int:
    queue = client.subscribe()
    start = time.monotonic()
    result = await client.command("PING", timeout=args.timeout)
    if not result.ok:
        _emit(args, result.describe(), {"ok": False, "stages": result.stages})
        return 1
    await client.await_telemetry(lambda tm: tm.name == "PING_REPORT", args.timeout, queue)
    ms = (time.monotonic() - start) * 1000
    _emit(
        args,
        f"PING answered in {ms:.0f} ms ({', '.join(result.stages)})",
        {"ok": True, "round_trip_ms": round(ms, 1), "stages": result.stages},
    )
    return 0


async def _tlm(client: StationClient, args: argparse.Namespace) -> int:
    queue = client.subscribe()
    seen = 0
    while not args.count or seen < args.count:
        tm = await client.await_telemetry(lambda t: t.name == "HOUSEKEEPING", None, queue)
        seen += 1
        values = tm.values
        human = (
            f"{utc(tm.packet.time)} up {values['uptime_s']} s  "
            f"allowance {values['power_allowance_w']:.1f} W  "
            f"job {JOB_STATE_NAMES.get(values['job_state'], '?')} {values['job_elapsed_s']} s  "
            f"queued {values['jobs_queued']} done {values['jobs_completed']} "
            f"failed {values['jobs_failed']}  tc ok/rej/fail {values['tc_accepted']}/"
            f"{values['tc_rejected']}/{values['tc_failed']}  frames bad {values['frames_bad']}"
        )
        _emit(args, human, {"time": utc(tm.packet.time), **values})
    return 0


async def _submit(client: StationClient, args: argparse.Namespace) -> int:
    manifest = args.manifest_doc
    result = await client.command("SUBMIT_JOB", {"manifest": manifest}, timeout=args.timeout)
    job = manifest.get("id")
    human = f"job {job} accepted" if result.ok else result.describe()
    _emit(
        args,
        human,
        {
            "ok": result.ok,
            "job": job,
            "stages": result.stages,
            "failure": result.failure.values if result.failure else None,
        },
    )
    return 0 if result.ok else 1


async def _upload(client: StationClient, args: argparse.Namespace) -> int:
    name = args.dest or args.file.name
    queue = client.subscribe()
    seq = await client.upload(str(args.file.resolve()), name)

    def ended(tm: Any) -> bool:
        return tm.name in ("FILE_RECEIVED", "FILE_FAILED") and tm.values["seq_num"] == seq

    try:
        tm = await client.await_telemetry(ended, args.timeout, queue)
    except TimeoutError:
        print(f"ground upload: {_unanswered_upload(name, queue, args.timeout)}", file=sys.stderr)
        return 3
    ok = tm.name == "FILE_RECEIVED"
    verdict = "received on board" if ok else f"failed: {tm.values['condition']}"
    _emit(args, f"{args.file} as {name}: {verdict}", {"ok": ok, "name": name, "seq_num": seq})
    return 0 if ok else 1


def _named_files(items: list[str]) -> list[tuple[str, str]]:
    """``PATH[=NAME]`` each: the file's absolute path and its name on board."""
    files = []
    for item in items:
        path, _, name = item.partition("=")
        files.append((str(Path(path).resolve()), name or Path(path).name))
    return files


async def _relay(client: StationClient, args: argparse.Namespace) -> int:
    files = _named_files(args.files)
    commands = []
    try:
        for text in args.commands:
            request = parse_command(text)
            commands.append((request.name, request.args, args.confirm))
    except RequestError as exc:
        print(f"ground relay: {exc}", file=sys.stderr)
        return 2
    if args.manifest is not None:
        commands.append(("SUBMIT_JOB", {"manifest": args.manifest_doc}, args.confirm))
    if not files and not commands:
        print("ground relay: give at least one --file, --command or --submit", file=sys.stderr)
        return 2
    sent = await client.relay(files, commands, args.via)
    target = args.spacecraft or "the spacecraft"
    human = (
        f"consignment {sent['name']} ({len(files)} files, {len(commands)} commands) goes up to "
        f"{sent['via']} (CFDP transaction {sent['seq_num']}) for {target}; its verification "
        f"comes down with {target}'s telemetry"
    )
    ids = [bytes(i).hex() for i in sent["request_ids"]]
    _emit(args, human, sent | {"request_ids": ids})
    return 0


def _unanswered_upload(name: str, queue: asyncio.Queue, timeout: float) -> str:
    """Why an upload's answer did not come: the payload answers on the downlink, which the
    latest housekeeping says is closed until the next window (or no housekeeping came down)."""
    window = None
    while not queue.empty():
        tm = queue.get_nowait()
        if tm.name == "HOUSEKEEPING":
            window = tm.values["link_in_s"]
    if window == 0:
        return (
            f"{name} is queued at the station, but the payload's answer (FILE_RECEIVED) did not "
            f"come down within {timeout:g} s with the window open: see `ground files` or the "
            "console's events"
        )
    when = (
        "the next link window"
        if window in (None, d.NONE_AHEAD)
        else f"the next link window, in {window // 3600}:{window % 3600 // 60:02d}:"
        f"{window % 60:02d}"
    )
    return (
        f"{name} is queued at the station; its answer (FILE_RECEIVED) comes down with {when} "
        "(no downlink now): see it then with `ground files` or in the console's events"
    )


async def _jobs(client: StationClient, args: argparse.Namespace) -> int:
    result, jobs = await client.job_list(args.timeout)
    if not result.ok:
        _emit(args, result.describe(), {"ok": False, "stages": result.stages})
        return 1
    head = ("job", "state", "priority", "progress", "exit", "started (UTC)", "ended (UTC)")
    rows = [
        (
            j["id"],
            j["state"],
            str(j.get("priority", "")),
            f"{round(100 * j['progress'])} %" if j.get("progress") is not None else "",
            "" if j["exit_code"] is None else str(j["exit_code"]),
            utc_z(j["started_at"]) if j["started_at"] else "-",
            utc_z(j["ended_at"]) if j["ended_at"] else "-",
        )
        for j in jobs
    ]
    _emit(args, _table(head, rows, right=(2, 3, 4)) if jobs else "no jobs", jobs)
    return 0


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]], right: tuple[int, ...]) -> str:
    """Columns as wide as their widest cell, two spaces apart; numbers aligned right."""
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join(line(r) for r in (head, *rows))


async def _authority(client: StationClient, args: argparse.Namespace) -> int:
    holder = await client.authority_action(args.action)
    human = f"command authority: {holder or 'nobody'} (this is {client.account})"
    _emit(args, human, {"holder": holder, "account": client.account})
    return 0


async def _cop1(client: StationClient, args: argparse.Namespace) -> int:
    if args.directive == "bypass":
        try:
            request = parse_command(" ".join(shlex.quote(w) for w in args.words))
        except RequestError as exc:
            print(f"ground cop1 bypass: {exc}", file=sys.stderr)
            return 2
        request_id = await client.send(
            request.name, request.args, confirm=args.confirm, bypass=True
        )
        _emit(args, f"{request.describe()} sent around COP-1: request {request_id.hex()}",
              {"request_id": request_id.hex()})  # fmt: skip
        return 0
    if args.words:
        print("ground cop1: only bypass takes a command", file=sys.stderr)
        return 2
    directive = None if args.directive == "status" else args.directive
    params = {"check": args.check, "vr": args.vr} if directive == "initiate" else {}
    spacecraft = await client.cop1(directive, **params)
    _emit(args, "\n".join(describe_cop1(s) for s in spacecraft), spacecraft)
    return 0


async def _fleet(client: StationClient, args: argparse.Namespace) -> int:
    if args.action == "submit":
        job = await client.fleet_submit(args.manifest_doc, files=_named_files(args.files))
        _emit(args, describe_placement(job), job)
        return 0
    if args.action == "jobs":
        jobs = await client.fleet_jobs()
        rows = [job_row(j) for j in jobs]
        _emit(args, _table(JOB_COLUMNS, rows, right=()) if jobs else "no fleet jobs", jobs)
        return 0
    fleet, broker = await client.fleet_status_and_broker()
    if args.spacecraft is not None:
        fleet = [c for c in fleet if c["scid"] == client.scid]
    table = _table(COLUMNS, [fleet_row(c) for c in fleet], right=NUMERIC)
    _emit(args, f"{table}\n{describe_broker(broker)}", {"spacecraft": fleet, "broker": broker})
    return 0


_COMMANDS = {
    "fleet": _fleet,
    "cop1": _cop1,
    "ping": _ping,
    "tlm": _tlm,
    "submit": _submit,
    "jobs": _jobs,
    "upload": _upload,
    "relay": _relay,
    "authority": _authority,
}

if __name__ == "__main__":
    sys.exit(run_main("ground", main))
