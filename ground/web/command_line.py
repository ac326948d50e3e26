"""``python -m ground web``: serve the web mission control.

    python -m ground web --station HOST:PORT --listen HOST:PORT --users FILE [--state DIR]
                         [--tls-cert F --tls-key F] [--station-tls-ca F] [--port-file F]
                         [--plain-http-beyond-loopback]

Without --tls-cert it listens on loopback only (session cookies and passwords would cross the
network in the clear), unless --plain-http-beyond-loopback says otherwise; it says which.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import ssl
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from flight.command_line import address
from ground.archive.command_line import add_archive_arguments, archive_named, spacecraft_named

if TYPE_CHECKING:
    from ground.web.server import WebServer

DEFAULT_LISTEN = "127.0.0.1:8080"


def add_web_command(sub: argparse._SubParsersAction, default_station: str) -> None:
    from ground.accounts.command_line import add_users_arguments

    web = sub.add_parser("web", help="the web mission control (NASA Open MCT)")
    web.add_argument("--station", default=default_station, type=address, help="HOST:PORT")
    web.add_argument("--listen", default=DEFAULT_LISTEN, type=address, help="HOST:PORT to serve")
    add_users_arguments(web)
    add_archive_arguments(web, "the station's state directory: its archive is the history")
    web.add_argument(
        "--spacecraft",
        metavar="NAME|ID",
        help="the spacecraft of the station's fleet it is for (default: the station's only one)",
    )
    web.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve HTTPS")
    web.add_argument("--tls-key", type=Path, help="the certificate's PEM private key")
    web.add_argument("--station-tls-ca", type=Path, help="the station's TLS authority (PEM)")
    web.add_argument("--port-file", type=Path, help="write the bound port here")
    web.add_argument("--plain-http-beyond-loopback", action="store_true",
                     help="serve plain HTTP on a non-loopback address (not advised)")  # fmt: skip


def run_web(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT; one line and status 2 for a mistake."""
    from ground.accounts.store import AccountError, AccountStore
    from ground.archive import Archive, ArchiveError
    from ground.fleet import FleetError
    from ground.tls import TlsError, client_context, listening_refusal, server_context
    from ground.web.history import History
    from ground.web.objects import AccountObjects, ObjectError
    from ground.web.server import WebServer, assets
    from ground.web.station_links import StationLinks

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s ground-web %(levelname)s %(message)s")  # fmt: skip
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]")
    refusal = listening_refusal(
        args.listen,
        args.tls_cert,
        args.tls_key,
        "--plain-http-beyond-loopback",
        args.plain_http_beyond_loopback,
    )
    if refusal is not None:
        print(f"ground web: {refusal}", file=sys.stderr)
        return 2
    archive = archive_named(args)
    try:
        scid = spacecraft_named(args)
        Archive(archive, create=False).close()
        assets()
        tls = server_context(args.tls_cert, args.tls_key) if args.tls_cert else None
        station_tls = client_context(args.station_tls_ca) if args.station_tls_ca else None
        accounts = AccountStore(args.users)
        objects = AccountObjects(args.state / "web.sqlite")
    except (
        FileNotFoundError,
        TlsError,
        AccountError,
        ObjectError,
        ArchiveError,
        FleetError,
    ) as exc:
        print(f"ground web: {exc}", file=sys.stderr)
        return 2
    _clear_spool(args.state / "web-uploads")
    links = StationLinks(args.station, accounts, station_tls, scid)
    server = WebServer(
        accounts, links, History(archive, scid), objects, spool=args.state / "web-uploads"
    )
    try:
        asyncio.run(_serve(server, host, int(port), tls, args.port_file))
    except OSError as exc:
        print(f"ground web: cannot listen on {args.listen}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


SPOOL_KEPT_S = 7 * 86_400  # an upload can wait days for its pass


def _clear_spool(spool: Path) -> None:
    """Spooled uploads older than SPOOL_KEPT_S: long sent, or given up."""
    now = time.time()
    for path in spool.glob("*") if spool.is_dir() else ():
        if now - path.stat().st_mtime > SPOOL_KEPT_S:
            path.unlink(missing_ok=True)


async def _serve(
    server: WebServer, host: str, port: int, tls: ssl.SSLContext | None, port_file: Path | None
) -> None:
    from aiohttp import web

    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls)
    await site.start()
    bound = runner.addresses[0][1]  # the port, when 0 asked for any
    scheme = "https" if tls else "http"
    where = "" if tls else " (plain HTTP: loopback only unless told otherwise)"
    logging.getLogger("ground.web").info("serving %s://%s:%d%s", scheme, host, bound, where)
    if port_file is not None:
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(f"{bound}\n")
        os.replace(tmp, port_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
