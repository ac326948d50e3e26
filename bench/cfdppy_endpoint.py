"""cfdp-py as a UDP endpoint: the peer of the interoperability tests and of bench/downlink.py.

cfdp-py brings the CFDP handlers but no transport; this drives its SourceHandler or DestHandler
over a UDP socket the same way our stand-alone endpoints use theirs (the sender sends to
HOST:PORT from an ephemeral port; the receiver listens on HOST:PORT and answers whoever sent).
It prints one JSON line: the outcome and the seconds the transfer took.

    python bench/cfdppy_endpoint.py send FILE --to HOST:PORT --local-id 1 --remote-id 2 \
        [--class 1|2] [--segment 1024] [--dest-name NAME]
    python bench/cfdppy_endpoint.py receive --listen HOST:PORT --local-id 2 --out DIR

Both take --system-buffers: the system's default socket buffers, as a program that sets none
has, instead of 16 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path

from cfdppy import CfdpState, PutRequest
from cfdppy.handler.dest import DestHandler
from cfdppy.handler.source import SourceHandler
from cfdppy.mib import (
    CheckTimerProvider,
    DefaultFaultHandlerBase,
    EntityType,
    IndicationConfig,
    LocalEntityConfig,
    RemoteEntityConfig,
    RemoteEntityConfigTable,
)
from cfdppy.user import CfdpUserBase
from spacepackets.cfdp import ChecksumType, ConditionCode, TransmissionMode
from spacepackets.cfdp.pdu import PduFactory
from spacepackets.cfdp.pdu.finished import DeliveryCode
from spacepackets.countdown import Countdown
from spacepackets.seqcount import SeqCountProvider
from spacepackets.util import ByteFieldU16

BUFFER = 16 << 20


class Faults(DefaultFaultHandlerBase):
    def __init__(self) -> None:
        super().__init__()
        self.faults: list[str] = []

    def notice_of_suspension_cb(self, transaction_id, cond, progress) -> None:
        self.faults.append(f"suspended {cond!r}")

    def notice_of_cancellation_cb(self, transaction_id, cond, progress) -> None:
        self.faults.append(f"cancelled {cond!r}")

    def abandoned_cb(self, transaction_id, cond, progress) -> None:
        self.faults.append(f"abandoned {cond!r}")

    def ignore_cb(self, transaction_id, cond, progress) -> None:
        self.faults.append(f"ignored {cond!r}")


class User(CfdpUserBase):
    """Records the Transaction-Finished indication; the other indications are not needed."""

    def __init__(self) -> None:
        super().__init__()
        self.finished = None

    def transaction_indication(self, params) -> None:
        pass

    def eof_sent_indication(self, transaction_id) -> None:
        pass

    def transaction_finished_indication(self, params) -> None:
        self.finished = params.finished_params

    def metadata_recv_indication(self, params) -> None:
        pass

    def file_segment_recv_indication(self, params) -> None:
        pass

    def report_indication(self, transaction_id, status_report) -> None:
        pass

    def suspended_indication(self, transaction_id, cond_code) -> None:
        pass

    def resumed_indication(self, transaction_id, progress) -> None:
        pass

    def fault_indication(self, transaction_id, cond_code, progress) -> None:
        pass

    def abandoned_indication(self, transaction_id, cond_code, progress) -> None:
        pass

    def eof_recv_indication(self, transaction_id) -> None:
        pass


class Timers(CheckTimerProvider):
    def provide_check_timer(self, local_entity_id, remote_entity_id, entity_type) -> Countdown:
        return Countdown(timedelta(seconds=2.0 if entity_type == EntityType.RECEIVING else 5.0))


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def open_socket(bind: tuple[str, int], system_buffers: bool) -> socket.socket:
    """A UDP socket bound to ``bind``: with 16 MiB buffers each way, or (``system_buffers``)
    the system's default ones, as a program that sets none has (on Linux, 208 KiB)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for option, forced in ((socket.SO_RCVBUF, 33), (socket.SO_SNDBUF, 32)):
        if system_buffers:
            break
        try:
            sock.setsockopt(socket.SOL_SOCKET, forced, BUFFER)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, option, BUFFER)
    sock.bind(bind)
    return sock


def remote(
    entity_id: int, segment: int, mode: TransmissionMode, pdu_crc: bool = False
) -> RemoteEntityConfig:
    return RemoteEntityConfig(
        entity_id=ByteFieldU16(entity_id),
        max_file_segment_len=segment,
        max_packet_len=segment + 64,
        closure_requested=mode == TransmissionMode.ACKNOWLEDGED,
        crc_on_transmission=pdu_crc,
        default_transmission_mode=mode,
        crc_type=ChecksumType.CRC_32C,
        positive_ack_timer_interval_seconds=3.0,
        positive_ack_timer_expiration_limit=20,
        nak_timer_interval_seconds=3.0,
        nak_timer_expiration_limit=20,
    )


def drive(handler, sock: socket.socket, peer: list, done, timeout: float) -> None:
    """Feed the handler what arrives and send what it produces until done() or the timeout."""
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise TimeoutError("the transfer did not end in time")
        wait = 0.0 if handler.state != CfdpState.IDLE else 0.05
        ready = select.select([sock], [], [], wait)[0]
        packet = None
        if ready:
            data, sender = sock.recvfrom(65536)
            peer[0] = sender
            packet = PduFactory.from_raw(data)
        handler.state_machine(packet)
        while handler.packets_ready:
            pdu = handler.get_next_packet()
            if peer[0] is not None:
                sock.sendto(pdu.pack(), peer[0])


def outcome(user: User, faults: Faults, seconds: float, size: int) -> dict:
    finished = user.finished
    return {
        "peer": "cfdp-py",
        "delivered": finished is not None
        and finished.condition_code == ConditionCode.NO_ERROR
        and finished.delivery_code == DeliveryCode.DATA_COMPLETE,
        "condition": None if finished is None else finished.condition_code.name,
        "faults": faults.faults,
        "seconds": seconds,
        "size": size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    send = sub.add_parser("send")
    send.add_argument("file", type=Path)
    send.add_argument("--to", required=True, type=address)
    send.add_argument("--remote-id", required=True, type=int)
    send.add_argument("--class", dest="cfdp_class", type=int, choices=[1, 2], default=2)
    send.add_argument("--dest-name")
    send.add_argument("--pdu-crc", action="store_true")
    receive = sub.add_parser("receive")
    receive.add_argument("--listen", required=True, type=address)
    receive.add_argument("--out", required=True, type=Path)
    receive.add_argument("--remote-id", type=int, default=1)
    for p in (send, receive):
        p.add_argument("--local-id", required=True, type=int)
        p.add_argument("--segment", type=int, default=1024)
        p.add_argument("--timeout", type=float, default=300.0)
        p.add_argument("--system-buffers", action="store_true",
                       help="the system's default socket buffers, not 16 MiB")  # fmt: skip
    args = parser.parse_args(argv)

    faults, user = Faults(), User()
    local = LocalEntityConfig(ByteFieldU16(args.local_id), IndicationConfig(), faults)
    mode = TransmissionMode.ACKNOWLEDGED
    if args.cmd == "send":
        if args.cfdp_class == 1:
            mode = TransmissionMode.UNACKNOWLEDGED
        table = RemoteEntityConfigTable([remote(args.remote_id, args.segment, mode, args.pdu_crc)])
        handler = SourceHandler(local, user, table, Timers(), SeqCountProvider(16))
        sock, peer = open_socket(("0.0.0.0", 0), args.system_buffers), [args.to]
        request = PutRequest(
            destination_id=ByteFieldU16(args.remote_id),
            source_file=args.file.resolve(),
            dest_file=Path(args.dest_name or args.file.name),
            trans_mode=mode,
            closure_requested=mode == TransmissionMode.ACKNOWLEDGED,
        )
        start = time.monotonic()
        handler.put_request(request)
        sent = [False]

        def done() -> bool:
            sent[0] = sent[0] or handler.state != CfdpState.IDLE
            return sent[0] and handler.state == CfdpState.IDLE

        drive(handler, sock, peer, done, args.timeout)
        if mode == TransmissionMode.UNACKNOWLEDGED and user.finished is None:
            result = {
                "peer": "cfdp-py",
                "delivered": None,
                "condition": "NO_ERROR",
                "faults": faults.faults,
            }
        else:
            result = outcome(user, faults, 0.0, args.file.stat().st_size)
        result["seconds"] = time.monotonic() - start
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        table = RemoteEntityConfigTable([remote(args.remote_id, args.segment, mode)])
        handler = DestHandler(local, user, table, Timers())
        sock, peer = open_socket(args.listen, args.system_buffers), [None]
        start = [None]

        def done() -> bool:
            if start[0] is None and handler.state != CfdpState.IDLE:
                start[0] = time.monotonic()
            return user.finished is not None and handler.state == CfdpState.IDLE

        os.chdir(args.out)  # cfdp-py writes the destination name relative to the working directory
        print(json.dumps({"listening": sock.getsockname()[1]}), flush=True)
        drive(handler, sock, peer, done, args.timeout)
        result = outcome(user, faults, time.monotonic() - start[0], handler.file_size or 0)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
