"""LibreCube's ``cfdp`` as a UDP endpoint: the second independent peer of the interop tests.

LibreCube's entity brings its own UDP transport, which binds a fixed address and sends to the
addresses it is routed to. So both ends are named here: this end's --listen address and the
far end's --to address (our sender then needs a fixed address too: ``cfdp send --bind``).
It prints ``{"listening": PORT}`` once bound, then one JSON line: the outcome and the seconds
the transfer took.

    python bench/librecube_endpoint.py send FILE --listen HOST:PORT --to HOST:PORT \
        --local-id 1 --remote-id 2 [--class 1|2] [--dest-name NAME]
    python bench/librecube_endpoint.py receive --listen HOST:PORT --to HOST:PORT \
        --local-id 2 --out DIR

LibreCube sends file data in 4 KiB segments, its default, with the modular file checksum, the
one it computes. File names are paths of its virtual file store: the sender's store is the
file's directory, the receiver's is --out; a destination name may begin with ``/`` or not. The
outcome counts the faults LibreCube logs: it goes on after some of them (docs/downlink.md, Peers).
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from pathlib import Path

import cfdp
from cfdp.constants import ChecksumType, ConditionCode, DeliveryCode, TransmissionMode
from cfdp.filestore import NativeFileStore
from cfdp.transport.udp import UdpTransport


class Faults(logging.Handler):
    """The faults LibreCube declares: it logs them (its fault handlers act later, if at all)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.faults: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.faults.append(record.getMessage())


class Entity(cfdp.CfdpEntity):
    """A LibreCube entity that records how each transaction finished."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, transaction_finished_indication_required=True, **kwargs)
        self.finished: dict | None = None
        self.done = threading.Event()

    def transaction_finished_indication(
        self, transaction_id, condition_code, file_status, delivery_code, *rest
    ) -> None:
        self.finished = {
            "condition": condition_code,
            "delivery_code": delivery_code,
            "file_status": file_status,
        }
        self.done.set()


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def condition_name(code: int) -> str:
    names = {v: k for k, v in vars(ConditionCode).items() if not k.startswith("_")}
    return names.get(code, str(code))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    send = sub.add_parser("send")
    send.add_argument("file", type=Path)
    send.add_argument("--remote-id", required=True, type=int)
    send.add_argument("--class", dest="cfdp_class", type=int, choices=[1, 2], default=2)
    send.add_argument("--dest-name")
    receive = sub.add_parser("receive")
    receive.add_argument("--out", required=True, type=Path)
    for p in (send, receive):
        p.add_argument(
            "--listen", required=True, type=address,
            help="this end's address (a port of its own: LibreCube cannot unbind port 0)",
        )  # fmt: skip
        p.add_argument("--to", required=True, type=address, help="the far end's address")
        p.add_argument("--local-id", required=True, type=int)
        p.add_argument("--timeout", type=float, default=300.0)
        p.add_argument("--log", action="store_true", help="LibreCube's debug log on stderr")
    args = parser.parse_args(argv)
    if args.log:
        logging.basicConfig(level=logging.DEBUG)
    faults = Faults()
    logging.getLogger("cfdp").addHandler(faults)

    root = args.file.resolve().parent if args.cmd == "send" else args.out
    root.mkdir(parents=True, exist_ok=True)
    transport = UdpTransport(routing={"*": [args.to]})
    entity = Entity(
        args.local_id,
        NativeFileStore(str(root)),
        transport,
        transaction_inactivity_limit=30,
        positive_ack_timer_interval=3,
        positive_ack_timer_expiration_limit=20,
        nak_timer_interval=3,
        nak_timer_expiration_limit=20,
    )
    transport.bind(*args.listen)
    print(json.dumps({"listening": args.listen[1]}), flush=True)
    start = time.monotonic()
    size = 0
    try:
        if args.cmd == "send":
            size = args.file.stat().st_size
            mode = (
                TransmissionMode.UNACKNOWLEDGED
                if args.cfdp_class == 1
                else TransmissionMode.ACKNOWLEDGED
            )
            entity.put(
                args.remote_id,
                source_filename="/" + args.file.name,
                destination_filename=args.dest_name or "/" + args.file.name,
                transmission_mode=mode,
                checksum_type=ChecksumType.MODULAR,
            )
        ended = entity.done.wait(args.timeout)
        if args.cmd == "receive" and ended:
            size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    finally:
        entity.shutdown()
        transport.unbind()
    finished = entity.finished
    ok = finished is not None and finished["condition"] == ConditionCode.NO_ERROR
    if args.cmd == "receive":
        delivered = ok and finished["delivery_code"] == DeliveryCode.DATA_COMPLETE
    elif args.cfdp_class == 2:
        delivered = ok  # the receiver's Finished said NO_ERROR
    else:
        delivered = None if ok else False  # class 1: nothing comes back
    result = {
        "peer": "librecube",
        "ended": ended,
        "delivered": delivered and not faults.faults if delivered is not None else None,
        "condition": None if finished is None else condition_name(finished["condition"]),
        "faults": faults.faults,
        "seconds": time.monotonic() - start,
        "size": size,
    }
    print(json.dumps(result), flush=True)
    return 0 if ended and result["delivered"] is not False and not faults.faults else 1


if __name__ == "__main__":
    raise SystemExit(main())
