"""Stand-alone CFDP endpoints over a UDP link, for interoperability tests and the benchmark.

``python -m flight cfdp send|receive`` and ``python -m ground cfdp send|receive`` are both this
module (docs/downlink.md): the same entity that runs on board, driven by a loop of its own
instead of the controller's bus ticks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from flight.command_line import count, host_port, positive, positive_count
from flight.cfdp.entity import Entity
from flight.cfdp.filestore import FileStore
from flight.cfdp.journal import Journal, TransactionReport
from flight.cfdp.mib import EntityConfig
from flight.cfdp.pdu import ChecksumType, Condition
from flight.links.udp import LinkUrlError, UdpLink

IDLE_WAIT = 0.05
# Class 1 has no retransmission: a receiver that falls behind loses the file. Unless the link
# names a rate, class 1 goes at this one, which cfdp-py, a Python receiver with the system's
# socket buffers, keeps up with on a busy 2-core machine (docs/downlink.md, Pacing).
CLASS1_RATE_BPS = 20_000_000
CHECKSUMS = {
    "crc32c": ChecksumType.CRC32C,
    "crc32": ChecksumType.CRC32,
    "modular": ChecksumType.MODULAR,
    "proximity1": ChecksumType.PROXIMITY1_CRC32,
    "null": ChecksumType.NULL,
}


def add_cfdp_commands(sub: argparse._SubParsersAction, prog: str) -> None:
    """The ``cfdp send`` and ``cfdp receive`` subcommands, for either command line."""
    cfdp = sub.add_parser("cfdp", help="a stand-alone CFDP endpoint over UDP (docs/downlink.md)")
    actions = cfdp.add_subparsers(dest="cfdp_cmd", required=True)
    send = actions.add_parser("send", help="send files and wait for their outcome")
    send.add_argument("files", nargs="+", type=Path, metavar="FILE")
    receive = actions.add_parser("receive", help="receive files into a directory")
    receive.add_argument("--out", required=True, type=Path, help="the file store's directory")
    receive.add_argument(
        "--count", type=positive_count, help="exit after this many transactions end"
    )
    for p in (send, receive):
        p.add_argument(
            "--link", required=True,
            help="udp://HOST:PORT[?rate=BITS_PER_S]: the rate paces what this end sends "
            f"(class 1 goes at {CLASS1_RATE_BPS / 1e6:g} Mbit/s unless it is given)",
        )  # fmt: skip
        p.add_argument("--local-id", required=True, type=count, help="this entity's id")
        p.add_argument("--timeout", type=positive, help="give up after this many seconds")
        p.add_argument(
            "--state", type=Path, help="journal directory: transactions survive restarts"
        )
        p.add_argument("--json", action="store_true", help="one JSON object per transaction")
        p.add_argument(
            "--segment", type=positive_count, default=1024, help="file data octets per PDU"
        )
    send.add_argument("--remote-id", required=True, type=count, help="the receiving entity's id")
    send.add_argument("--class", dest="cfdp_class", type=int, choices=[1, 2], default=2)
    send.add_argument("--checksum", choices=sorted(CHECKSUMS), default="crc32c")
    send.add_argument("--dest-name", help="the name at the receiver (default: the file's name)")
    send.add_argument(
        "--bind", type=host_port, metavar="HOST:PORT",
        help="send from this address (default: an ephemeral port), for a peer that answers a "
        "fixed address",
    )  # fmt: skip
    send.add_argument(
        "--seq-len", type=int, choices=range(1, 9), default=4, metavar="OCTETS",
        help="the transaction sequence number's length, 1 to 8 octets (default 4); 1 for a peer "
        "that answers with one, as LibreCube's cfdp 0.2 does (docs/downlink.md, Peers)",
    )  # fmt: skip
    send.add_argument(
        "--adapt", action="store_true",
        help="class 2 slows down when NAKs show congestion: for a receiver that overruns "
        "(docs/downlink.md, Pacing)",
    )  # fmt: skip
    send.add_argument(
        "--pdu-crc", action="store_true", help="a CRC on every PDU (links that pass bit errors)"
    )
    cfdp.set_defaults(prog=prog)


def run_cfdp(args: argparse.Namespace) -> int:
    """Run a ``cfdp`` subcommand; returns the exit status (0: every transfer delivered)."""
    class1 = args.cfdp_cmd == "send" and args.cfdp_class == 1
    try:
        link = UdpLink(
            args.link,
            listen=args.cfdp_cmd == "receive",
            rate_bps=CLASS1_RATE_BPS if class1 else None,
            bind=getattr(args, "bind", None),
            batch=True,
        )
        config = EntityConfig(
            args.local_id,
            segment_size=args.segment,
            checksum=CHECKSUMS[getattr(args, "checksum", "crc32c")],
            pdu_crc=getattr(args, "pdu_crc", False),
            seq_len=getattr(args, "seq_len", 4),
            adapt_rate=getattr(args, "adapt", False),
        )
    except (LinkUrlError, ValueError) as exc:
        print(f"{args.prog} cfdp: {exc}", file=sys.stderr)
        return 2
    try:
        store = FileStore(args.out) if args.cfdp_cmd == "receive" else None
    except OSError as exc:
        print(f"{args.prog} cfdp: cannot use {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    journal = Journal(args.state / "cfdp.sqlite") if args.state else None
    try:
        link.open()
    except OSError as exc:
        print(f"{args.prog} cfdp: cannot open {args.link}: {exc}", file=sys.stderr)
        return 2
    if args.cfdp_cmd == "receive":  # the port is bound: say so (port 0 picks a free one)
        host, port = link.local_address
        print(
            json.dumps({"listening": port}) if args.json else f"listening on {host}:{port}",
            flush=True,
        )
    if link.paced_by_default:
        print(
            f"{args.prog} cfdp: class 1 paced at {CLASS1_RATE_BPS / 1e6:g} Mbit/s, the default; "
            "for a receiver that keeps up with more, give --link udp://HOST:PORT?rate=BITS_PER_S",
            file=sys.stderr,
        )
    entity = Entity(config, link, store, journal)
    failed = 0

    def report(r: TransactionReport) -> None:
        nonlocal failed
        ok = r.condition == Condition.NO_ERROR and (r.delivered or r.role == "send")
        failed += not ok
        if args.json:
            print(json.dumps({**r.__dict__, "condition": r.condition.name}), flush=True)
        else:
            what = f"{r.dest_name or r.source_name} ({r.size} octets)"
            if not ok:
                verdict = f"failed: {r.condition.name}"
            else:
                verdict = "delivered" if r.delivered else "sent (class 1: unconfirmed)"
            print(f"{r.role} {r.source_id}/{r.seq_num} {what}: {verdict}", flush=True)

    try:
        if args.cfdp_cmd == "send":
            for path in args.files:
                if not path.is_file():
                    print(f"{args.prog} cfdp: {path}: no such file", file=sys.stderr)
                    return 2
            for path in args.files:
                entity.put(
                    path,
                    args.dest_name,
                    remote_id=args.remote_id,
                    acknowledged=args.cfdp_class == 2,
                )
            done = drive(entity, report, lambda n: not entity.busy, args.timeout)
        else:
            done = drive(
                entity, report, lambda n: args.count is not None and n >= args.count, args.timeout
            )
    except KeyboardInterrupt:
        done = args.cfdp_cmd == "receive" and args.count is None
    finally:
        link.close()
    if not done:
        print(f"{args.prog} cfdp: timed out with transfers still open", file=sys.stderr)
        return 1
    return 1 if failed else 0


def drive(
    entity: Entity,
    report: Callable[[TransactionReport], None],
    finished: Callable[[int], bool],
    timeout: float | None,
) -> bool:
    """Run the entity until finished(transactions ended) says so; False on timeout."""
    link = entity.link
    end = None if timeout is None else time.monotonic() + timeout
    ended = 0
    wait = 0.0
    while True:
        for data, size in link.receive_coalesced(wait):
            entity.receive_datagrams(data, size)
        sent = entity.poll()
        link.flush()
        while entity.reports:
            report(entity.reports.popleft())
            ended += 1
        if finished(ended):
            return True
        now = time.monotonic()
        if end is not None and now >= end:
            return False
        if sent:
            wait = 0.0
        elif not link.ready():
            wait = link.wait_hint()
        elif entity.send_now():  # paced: the link became ready after poll found it not
            link.flush()
            wait = 0.0
        else:
            wakeup = entity.next_wakeup()
            wait = IDLE_WAIT if wakeup is None else min(IDLE_WAIT, max(0.0, wakeup - now))
