"""The sending side of one CFDP transaction (727.0-B-5 4.6.1, class 1 and class 2).

Metadata, then the file's data in segments, then EOF; in class 2 it answers NAKs with the octets
asked for (directives and retransmissions before new data), repeats EOF until it is acknowledged,
and acknowledges the receiver's Finished. The file is read once in large chunks, its checksum
computed on the way through the native core.

An EOF lost with the last of the data (a receiver overrun at the end of the file drops both, and
nothing after them brings a NAK) is probed for the way TCP probes a lost tail (RFC 8985): the
EOF is sent once more after a few data round trips, measured from the NAKs of gaps the receiver
saw while the file was going, rather than only when the ACK timer, seconds long, runs out. A
sender that saw no such NAK sends no probe.
"""

from __future__ import annotations

import enum
import os
import stat
from collections import deque
from dataclasses import dataclass

from flight.cfdp import pdu as P
from flight.cfdp.checksum import RunningChecksum, file_checksum
from flight.cfdp.congestion import SendRate
from flight.cfdp.mib import EntityConfig
from flight.cfdp.round_trip import RoundTrip

READ_SEGMENTS = 256
EMPTY = memoryview(b"")
SENT_MARKS = 64  # the latest chunks' offsets and times read, for round trips measured by NAKs
PROBE_FLOOR = 0.01  # seconds: the shortest wait before the EOF is probed for


class SendState(enum.IntEnum):
    SENDING = 1
    WAIT_EOF_ACK = 2
    WAIT_FINISHED = 3
    DONE = 4


@dataclass
class Outcome:
    """How a transaction ended, from this entity's point of view."""

    condition: P.Condition
    delivered: bool
    status: P.FileStatus = P.FileStatus.UNREPORTED


def _regular_file(path: str) -> os.stat_result:
    """The file's status; OSError unless it is a regular file (a FIFO or a device would block
    or never end)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{path}: not a regular file")
    return st


def not_pending(pending: deque[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of [start, end) not already waiting in ``pending`` to be sent again. A receiver
    NAKs again every NAK timeout until the data comes; where that is shorter than the round trip
    (a slow link with a long delay), each NAK would otherwise queue the same ranges once more,
    and the repeats would hold back the repairs until the NAK limit."""
    wanted = [(start, end)]
    for p_start, p_end in pending:
        wanted = [
            piece
            for w_start, w_end in wanted
            for piece in ((w_start, min(w_end, p_start)), (max(w_start, p_end), w_end))
            if piece[0] < piece[1]
        ]
        if not wanted:
            break
    return wanted


class SendTransaction:
    def __init__(
        self,
        config: EntityConfig,
        header: P.Header,
        path: str,
        source_name: str,
        dest_name: str,
        priority: int = 0,
        closure: bool = False,
        peer: RoundTrip | None = None,
        rate: SendRate | None = None,
    ) -> None:
        self.config = config
        self.peer = peer or RoundTrip()  # EOF to its ACK, shared with the receiver's entity
        self.rate = rate  # file data paced by what NAKs say of congestion (None: not adapted)
        self.gaps_seen_to = 0  # NAKed gaps below this offset were weighed for congestion
        self.recover = 0  # and those below this one went before the last decrease of the rate
        self.eof_sent_at: float | None = None  # the one EOF not yet repeated
        self.sent_marks: deque[tuple[int, float]] = deque(maxlen=SENT_MARKS)
        self.data_round_trip = RoundTrip()  # new data to the NAK of a gap before it
        self.probe_at: float | None = None  # when the EOF is sent again if not yet acknowledged
        self.probes = 0
        self.header = header
        self.path = path
        self.source_name = source_name
        self.dest_name = dest_name
        self.priority = priority
        self.closure = closure or header.acknowledged
        self._fd = -1  # open only while the file is being read: many queued files hold none
        self.size = _regular_file(path).st_size
        if self.size > config.max_file_size or (self.size >= 1 << 32 and not header.large_file):
            raise ValueError(f"{path}: {self.size} octets is more than this transfer can carry")
        self.kind = config.checksum
        self.encoder = P.FileDataEncoder(header)
        self.state = SendState.SENDING
        self.metadata_sent = False
        self.next_offset = 0
        self.checksum = RunningChecksum(self.kind)
        self.checksum_value: int | None = None
        self.run = EMPTY  # new data's PDUs back to back, made a chunk at a time
        self.run_at = 0  # where the next of them begins
        self.retransmit: deque[tuple[int, int]] = deque()
        self.directives: deque[bytes] = deque()
        self.deadline: float | None = None
        self.tries = 0
        self.last_heard: float | None = None
        self.outcome: Outcome | None = None
        self.condition = P.Condition.NO_ERROR
        self.suspended = False
        self.retransmitted = 0
        self.started = 0.0

    @property
    def seq_num(self) -> int:
        return self.header.seq_num

    @property
    def fd(self) -> int:
        """The file, opened when first read (a transaction waiting its turn holds no
        descriptor)."""
        if self._fd < 0:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO put there cannot block
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise OSError(f"{self.path}: no longer a regular file")
            self._fd = fd
        return self._fd

    def _release(self) -> None:
        """Close the file until it is read again (after the first pass, after a NAK's
        retransmission, at the end)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _metadata(self) -> bytes:
        return P.encode(
            P.Metadata(
                self.header,
                self.size,
                self.source_name,
                self.dest_name,
                self.kind,
                self.closure,
            )
        )

    def _eof(self) -> bytes:
        fault = None if self.condition == P.Condition.NO_ERROR else self.config.entity_id
        checksum = self.checksum_value if self.condition == P.Condition.NO_ERROR else 0
        return P.encode(P.Eof(self.header, self.condition, checksum or 0, self.size, fault))

    def _read_new(self, now: float, most: int) -> memoryview | None:
        """The next PDUs of new data, at most ``most``, back to back: the file read ahead in
        large chunks, each cut into its PDUs at once by the native core."""
        seg = self.config.segment_size
        if self.run_at >= len(self.run):
            offset = self.next_offset
            if offset >= self.size:
                return None
            data = os.pread(self.fd, min(seg * READ_SEGMENTS, self.size - offset), offset)
            if not data:
                raise OSError(f"{self.path}: shorter than the {self.size} octets announced")
            self.checksum.update(data, offset)
            self.sent_marks.append((offset, now))
            self.run = memoryview(self.encoder.encode_joined(offset, data, seg))
            self.run_at = 0
        overhead = self.encoder.overhead
        at = self.run_at
        pdus = self.run[at : at + most * self.stride]
        self.run_at = at + len(pdus)
        self.next_offset += len(pdus) - -(-len(pdus) // self.stride) * overhead
        if self.next_offset >= self.size:
            if self.checksum_value is None:
                self.checksum_value = self.checksum.value
            self._release()
        return pdus

    def _read_again(self) -> bytes:
        start, end = self.retransmit[0]
        stop = min(end, start + self.config.segment_size)
        if stop >= end:
            self.retransmit.popleft()
        else:
            self.retransmit[0] = (stop, end)
        self.retransmitted += stop - start
        data = os.pread(self.fd, stop - start, start)
        if not self.retransmit:
            self._release()
        return self.encoder.encode(start, data)

    def next_pdu(self, now: float) -> bytes | None:
        """The next PDU to send, or None when there is nothing to send now."""
        if self.directives:
            return self.directives.popleft()
        if self.suspended or self.state == SendState.DONE:
            return None
        if not self.metadata_sent:
            self.metadata_sent = True
            return self._metadata()
        try:
            return self._file_pdu(now)
        except OSError:  # the file went, or changed into something unreadable: cancelled
            self.condition = P.Condition.FILESTORE_REJECTION
            self.retransmit.clear()
            self._finish(P.Condition.FILESTORE_REJECTION, False)
            return self._eof()

    @property
    def stride(self) -> int:
        """The octets of each file data PDU of new data but the file's last."""
        return self.encoder.overhead + self.config.segment_size

    def next_run(self, now: float, most: int) -> memoryview | None:
        """When new data goes next: its PDUs, at most ``most``, back to back (each of the
        segment size but the last), for a link that sends them so; else None, and next_pdu
        says what goes."""
        if (
            self.directives
            or self.retransmit
            or self.suspended
            or self.state != SendState.SENDING
            or not self.metadata_sent
            or (self.rate is not None and not self.rate.allows())
        ):
            return None
        allowance = None if self.rate is None else self.rate.allowance()
        if allowance is not None:  # no more back to back than the pace allows now
            most = min(most, max(1, int(allowance // self.stride)))
        try:
            pdus = self._read_new(now, most)
        except OSError:  # next_pdu meets it again and ends the transaction
            return None
        if pdus is not None and self.rate is not None:
            self.rate.sent(len(pdus), now, self.peer.value)
        return pdus

    def _file_pdu(self, now: float) -> bytes | None:
        rate = self.rate
        if rate is not None and not rate.allows():
            return None
        if self.retransmit:
            pdu = self._read_again()
        elif self.state != SendState.SENDING:
            return None
        else:
            new = self._read_new(now, 1)
            pdu = None if new is None else bytes(new)
        if pdu is not None:
            if rate is not None:
                rate.sent(len(pdu), now, self.peer.value)
            return pdu
        if self.checksum_value is None:  # an empty file
            self.checksum_value = file_checksum(self.kind, self.fd, 0)
            self._release()
        return self._send_eof(now)

    def _send_eof(self, now: float) -> bytes:
        if self.header.acknowledged:
            self.state = SendState.WAIT_EOF_ACK
            self.deadline = now + self.ack_interval()
            self.eof_sent_at = now
            self.tries = 1
            if self.data_round_trip.value is not None:
                self.probe_at = now + self.data_round_trip.timeout(PROBE_FLOOR, self.ack_interval())
        elif self.closure and self.condition == P.Condition.NO_ERROR:
            self.state = SendState.WAIT_FINISHED
            self.deadline = now + self.config.inactivity_timeout
        else:  # class 1 without closure: sent, and nothing will say whether it arrived
            self._finish(self.condition, False)
        return self._eof()

    def handle(self, pdu: P.Pdu, now: float) -> None:
        """A PDU for this transaction from the receiver."""
        self.last_heard = now
        if isinstance(pdu, P.Nak):
            self._handle_nak(pdu, now)
        elif isinstance(pdu, P.Ack) and pdu.directive == P.Directive.EOF:
            if self.state == SendState.WAIT_EOF_ACK:
                if self.eof_sent_at is not None:
                    self.peer.sample(now - self.eof_sent_at)
                self.probe_at = None
                self.state = SendState.WAIT_FINISHED
                self.deadline = now + self.config.inactivity_timeout
        elif isinstance(pdu, P.Finished):
            if self.header.acknowledged:
                ack = P.Ack(
                    self.header, P.Directive.FINISHED, pdu.condition, P.TransactionStatus.TERMINATED
                )
                self.directives.append(P.encode(ack))
            if self.state != SendState.DONE:
                self.retransmit.clear()
                self._finish(
                    pdu.condition,
                    pdu.complete and pdu.condition == P.Condition.NO_ERROR,
                    pdu.status,
                )
        elif isinstance(pdu, P.KeepAlive):
            if self.state == SendState.WAIT_FINISHED:
                self.deadline = now + self.config.inactivity_timeout

    def _handle_nak(self, nak: P.Nak, now: float) -> None:
        if self.state == SendState.DONE or not self.header.acknowledged:
            return
        fresh = []
        spoken_from = self.gaps_seen_to
        for start, end in nak.segments or [(nak.start, nak.end)]:
            if start == 0 and end == 0:
                self.metadata_sent = False
            elif 0 <= start < end <= min(self.size, self.next_offset):
                self.retransmit.extend(not_pending(self.retransmit, start, end))
                if start >= max(self.gaps_seen_to, self.recover):
                    fresh.append((start, end))
                self.gaps_seen_to = max(self.gaps_seen_to, end)
        if fresh and self.state == SendState.SENDING:
            self._sample_data_round_trip(fresh[-1][1], now)
        if fresh and self.rate is not None:
            span = self.gaps_seen_to - max(spoken_from, self.recover)
            if self.rate.nak(fresh, span, self.config.segment_size, now, self.peer.value):
                self.recover = self.next_offset

    def _sample_data_round_trip(self, end: int, now: float) -> None:
        """A gap the receiver saw when the data at ``end`` came: the time since the chunk
        holding that data was read bounds the round trip from above (it went a little later)."""
        if end >= self.next_offset:
            return
        for offset, read_at in reversed(self.sent_marks):
            if offset <= end:
                self.data_round_trip.sample(now - read_at)
                return

    def paced_until(self, now: float) -> float | None:
        """When file data waiting here may go, where its rate holds it back now."""
        rate = self.rate
        if rate is None or not (self.retransmit or self.state == SendState.SENDING):
            return None
        wait = rate.wait()
        return now + wait if wait > 0 else None

    def wakeup(self) -> float | None:
        """When this transaction's next timer runs out (None: it has none running)."""
        if self.probe_at is not None and self.deadline is not None:
            return min(self.probe_at, self.deadline)
        return self.deadline

    def tick(self, now: float) -> None:
        """Timers: EOF probed for once, then repeated until acknowledged; inactivity while
        waiting for Finished."""
        if self.suspended or self.state == SendState.DONE:
            return
        if self.probe_at is not None and now >= self.probe_at:
            self.probe_at = None
            self.probes += 1
            self.eof_sent_at = None  # an ACK now may answer either copy
            self.directives.append(self._eof())
        if self.deadline is None or now < self.deadline:
            return
        if self.state == SendState.WAIT_EOF_ACK:
            if self.tries >= self.config.ack_limit:
                self._fault(P.Condition.POSITIVE_ACK_LIMIT)
                return
            self.tries += 1
            self.peer.expired(now, self.config.ack_timeout, self.config.ack_timeout_max)
            self.deadline = now + self.ack_interval()
            self.eof_sent_at = None  # an ACK now may answer either copy
            self.directives.append(self._eof())
        elif self.state == SendState.WAIT_FINISHED:
            self._fault(P.Condition.INACTIVITY)

    def _fault(self, condition: P.Condition) -> None:
        """A fault at this end: the transaction is abandoned (no peer left to tell)."""
        self._finish(condition, False)

    def cancel(self, now: float) -> None:
        """Cancel by request: EOF(cancel) tells the receiver, which need not answer."""
        if self.state == SendState.DONE:
            return
        self.condition = P.Condition.CANCEL_REQUEST
        self.retransmit.clear()
        self.directives.append(self._eof())
        self._finish(P.Condition.CANCEL_REQUEST, False)

    def _finish(
        self,
        condition: P.Condition,
        delivered: bool,
        status: P.FileStatus = P.FileStatus.UNREPORTED,
    ) -> None:
        self.state = SendState.DONE
        self.deadline = self.probe_at = None
        self.outcome = Outcome(condition, delivered, status)
        self.run, self.run_at = EMPTY, 0
        self._release()

    def ack_interval(self) -> float:
        """How long to wait for the ACK of EOF: the round trips measured to the receiver."""
        return self.peer.timeout(self.config.ack_timeout, self.config.ack_timeout_max)

    def freeze(self) -> None:
        """The link went down: timers stop (727.0-B-5 4.12, link state procedures)."""
        self.suspended = True
        self.eof_sent_at = None  # a round trip across an outage measures the outage
        self.probe_at = None  # the ACK timer, restarted when the link is back, does its work

    def thaw(self, now: float) -> None:
        self.suspended = False
        if self.deadline is not None:
            self.deadline = now + (
                self.ack_interval()
                if self.state == SendState.WAIT_EOF_ACK
                else self.config.inactivity_timeout
            )

    @property
    def done(self) -> bool:
        return self.state == SendState.DONE and not self.directives

    def snapshot(self) -> dict:
        """What a restart needs to carry on (the journal stores it)."""
        return {
            "path": self.path,
            "source_name": self.source_name,
            "dest_name": self.dest_name,
            "priority": self.priority,
            "closure": self.closure,
            "acknowledged": self.header.acknowledged,
            "dest_id": self.header.dest_id,
            "large_file": self.header.large_file,
            "size": self.size,
            "state": int(self.state),
            "sent": self.next_offset,
        }

    def resume(self, snap: dict, now: float) -> None:
        """Carry on after a restart from a snapshot: the checksum is recomputed from the file,
        data sent is taken as sent (the receiver NAKs what it lacks) and EOF is sent again."""
        if self.size != snap["size"]:
            self._fault(P.Condition.FILE_SIZE_ERROR)
            return
        self.next_offset = snap["sent"]
        if self.next_offset > 0:
            self.checksum_value = file_checksum(self.kind, self.fd, self.size)
            self._release()
            if self.next_offset >= self.size:
                self.state = SendState.SENDING
                self.directives.append(self._send_eof(now))
        self.metadata_sent = snap["state"] != SendState.SENDING or self.next_offset > 0
