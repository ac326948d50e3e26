"""The receiving side of one CFDP transaction (727.0-B-5 4.6.2, class 1 and class 2).

File data goes into a partial file at its offset (never past the size announced, never past the
store's limit) through the C core's data path (``native.reception``), many PDUs to a call, which
keeps the received ranges merged and the checksum of each. In class 2 EOF is acknowledged, the
gaps are asked for with NAKs (missing metadata as the 0-0 request) until none is left or the NAK
limit is reached, and Finished is repeated until acknowledged. A file reaches its name only when
complete and its checksum agrees; a corrupted file is discarded, never delivered.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import os
from collections import deque

from flight.cfdp import pdu as P
from flight.cfdp.checksum import file_checksum
from flight.cfdp.filestore import FileStore, FilestoreError
from flight.cfdp.mib import EntityConfig
from flight.cfdp.round_trip import RoundTrip
from flight.cfdp.sender import Outcome
from flight.cfdp.writeback import start_writeback
from native.reception import FileReception

WRITEBACK = 8 << 20  # written octets after which their way to disk is started, not awaited: the
# fsync that makes the file durable then waits for the last of it only
NAK_TIMEOUT_FLOOR = 0.05


class RecvState(enum.IntEnum):
    RECEIVING = 1
    WAIT_FINISHED_ACK = 2
    DONE = 3


class ReceiveTransaction:
    def __init__(
        self,
        config: EntityConfig,
        store: FileStore,
        header: P.Header,
        now: float,
        peer: RoundTrip | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.header = dataclasses.replace(header, toward_sender=True)
        self.now = self.started = now
        self.metadata: P.Metadata | None = None
        self.refused_metadata: P.Metadata | None = None  # what it announced, for the report
        self.partial = store.partial(header.source_id, header.seq_num)
        self.fd = os.open(self.partial, os.O_RDWR | os.O_CREAT, 0o600)
        incoming = dataclasses.replace(self.header, toward_sender=False).prefix(True)
        self.key = incoming[:1] + incoming[3:]  # what its file data PDUs' headers hold
        self.received = FileReception(
            self.key,
            self.fd,
            config.max_file_size,
            header.acknowledged and config.immediate_nak,
        )  # blocks are reserved ahead of the writes once the metadata gives the size: a peer's
        # metadata alone reserves nothing (many transactions announcing gigabytes would fill the
        # disk)
        self.nak_sent_at: float | None = None
        self.round_trip = RoundTrip()  # NAK to retransmission, this transaction's
        self.peer = peer or RoundTrip()  # Finished to its ACK, shared with the sender's entity
        self.finished_sent_at: float | None = None  # the one Finished not yet repeated
        self.unsynced = 0  # octets written since their writeback was last started
        self.write_error: OSError | None = None  # why the partial file could not be written
        self.eof: P.Eof | None = None
        self.state = RecvState.RECEIVING
        self.outbox: deque[bytes] = deque()
        self.nak_deadline: float | None = None
        self.naks = 0
        self.ack_deadline: float | None = None
        self.acks = 0
        self.check_deadline: float | None = None
        self.last_heard = now
        self.outcome: Outcome | None = None
        self.delivered_path: str | None = None
        self.suspended = False
        self.refused = 0
        self.finished_pdu: bytes | None = None

    @property
    def size(self) -> int | None:
        if self.eof is not None:
            return self.eof.file_size
        return self.metadata.file_size if self.metadata is not None else None

    def bound(self) -> None:
        """No data past what is known of the file's size (EOF's, else the metadata's, else the
        store's limit); its blocks reserved ahead of the writes once the metadata gives it."""
        size = self.size
        reserve = None if self.metadata is None else self.metadata.file_size
        self.received.set_limit(self.config.max_file_size if size is None else size, reserve)

    def handle(self, pdu: P.Pdu, now: float) -> None:
        self.last_heard = self.now = now
        if isinstance(pdu, P.FileData):
            self._data(pdu)
            return
        if isinstance(pdu, P.Metadata):
            self._metadata(pdu)
        elif isinstance(pdu, P.Eof):
            self._eof(pdu, now)
        elif isinstance(pdu, P.Ack) and pdu.directive == P.Directive.FINISHED:
            if self.state == RecvState.WAIT_FINISHED_ACK:
                if self.finished_sent_at is not None:
                    self.peer.sample(now - self.finished_sent_at)
                self._close()
                self.state = RecvState.DONE
        elif isinstance(pdu, P.Prompt):
            if pdu.keep_alive:
                self.outbox.append(P.encode(P.KeepAlive(self.header, self.received.contiguous())))
            elif self.state == RecvState.RECEIVING:
                self._send_naks(now)
        if self.state == RecvState.RECEIVING and self.eof is not None:
            self._try_complete(now)

    def _metadata(self, md: P.Metadata) -> None:
        if self.metadata is not None:
            return
        if md.file_size > self.config.max_file_size:
            self.refused_metadata = md
            self._fault(P.Condition.FILE_SIZE_ERROR)
            return
        try:
            if md.dest_name:
                self.store.resolve(md.dest_name, rooted=True)
            room = os.fstatvfs(self.fd)
            if md.file_size > room.f_bavail * room.f_frsize:  # refused before its data comes
                raise OSError(errno.ENOSPC, f"{md.file_size} octets do not fit")
        except (FilestoreError, OSError):
            self.refused += 1
            self.refused_metadata = md
            self._fault(P.Condition.FILESTORE_REJECTION)
            return
        self.metadata = md
        if self.received.total() == 0:  # else the file is read back for its checksum
            self.received.set_checksum(int(md.checksum_type))
        self.bound()

    def _data(self, fd: P.FileData) -> None:
        self.file_data(fd.offset, fd.data, self.now)

    def file_data(self, offset: int, data: bytes | memoryview, now: float) -> None:
        """File data at an offset, from a PDU read in Python."""
        self.last_heard = self.now = now
        if self.state == RecvState.RECEIVING:
            self.received.data(offset, data)
            self._taken(now)

    def file_datagrams(self, datagrams: bytes | memoryview, stride: int, now: float) -> int:
        """This transaction's file data PDUs among datagrams of ``stride`` octets laid back to
        back (the entity's fast path): the octets taken, whole datagrams from the first on,
        short of the end where one is not such a PDU (the entity reads it)."""
        self.last_heard = self.now = now
        if self.state != RecvState.RECEIVING:
            return 0
        taken = self.received.put(datagrams, stride)
        self._taken(now)
        return taken

    def _taken(self, now: float) -> None:
        """After file data: a failed write ends the transaction; writeback is started, progress
        restarts the NAK timer, each gap opened is NAKed at once, the file may be complete."""
        received = self.received
        written, refused, repairs = received.take_counts()
        self.refused += refused
        if received.error is not None:  # the store failed (out of space, an I/O error)
            self.write_error = received.error
            self._fault(P.Condition.FILESTORE_REJECTION)
            return
        self.unsynced += written
        if self.unsynced >= WRITEBACK:
            start_writeback(self.fd)
            self.unsynced = 0
        if repairs:  # a retransmission brought what was missing
            if self.nak_sent_at is not None:
                self.round_trip.sample(now - self.nak_sent_at)
                self.nak_sent_at = None
            if self.nak_deadline is not None:
                # Progress: the NAK timer restarts and the NAK count with it.
                self.nak_deadline = now + self.nak_timeout()
                self.naks = 0
        if received.opened:
            for gap in received.opened:
                self.outbox.append(P.encode(P.Nak(self.header, gap[0], gap[1], [gap])))
            received.opened.clear()
            self.nak_sent_at = self.nak_sent_at or now
        if self.eof is not None:  # a retransmission that may fill the last gap
            self._try_complete(now)

    def _eof(self, eof: P.Eof, now: float) -> None:
        if self.header.acknowledged:
            status = (
                P.TransactionStatus.ACTIVE
                if self.state == RecvState.RECEIVING
                else P.TransactionStatus.TERMINATED
            )
            self.outbox.append(P.encode(P.Ack(self.header, P.Directive.EOF, eof.condition, status)))
        if self.state != RecvState.RECEIVING or self.eof is not None:
            return
        if eof.condition != P.Condition.NO_ERROR:
            self._discard(eof.condition, notify=False)
            return
        if eof.file_size > self.config.max_file_size or self.received_past(eof.file_size):
            self._fault(P.Condition.FILE_SIZE_ERROR)
            return
        self.eof = eof
        self.bound()
        if self.header.acknowledged:
            self._send_naks(now)
        else:
            self.check_deadline = now + self.config.check_timeout

    def received_past(self, size: int) -> bool:
        return self.received.last_end() > size

    def _try_complete(self, now: float) -> None:
        size = self.eof.file_size
        if self.metadata is None or not self.received.covers(size):
            return
        value = self.received.checksum(size)
        if value is None:  # data came before the metadata: read back from the file
            value = file_checksum(self.metadata.checksum_type, self.fd, size)
        if self.metadata.checksum_type != P.ChecksumType.NULL and value != self.eof.checksum:
            self._fault(P.Condition.FILE_CHECKSUM_FAILURE)
            return
        os.ftruncate(self.fd, size)
        os.fsync(self.fd)
        try:
            if self.metadata.dest_name:
                delivered = self.store.deliver(self.partial, self.metadata.dest_name, rooted=True)
                self.delivered_path = str(delivered)
            else:
                os.unlink(self.partial)
        except (FilestoreError, OSError):
            self.refused += 1
            self._fault(P.Condition.FILESTORE_REJECTION)
            return
        self._conclude(P.Condition.NO_ERROR, True, P.FileStatus.RETAINED, now)

    def _send_naks(self, now: float) -> None:
        """NAK the gaps up to what is known of the file, metadata first if it is missing."""
        size = self.size if self.size is not None else self.received.contiguous()
        gaps = [] if self.metadata is not None else [(0, 0)]
        gaps += self.received.gaps(size)
        if not gaps:
            return
        fss = self.header.fss.size
        overhead = 4 + 2 * self.header.id_len + self.header.seq_len + 1 + 2 * fss + 2
        per_pdu = max(1, (self.config.segment_size + 4 + fss - overhead) // (2 * fss))
        for i in range(0, len(gaps), per_pdu):
            part = gaps[i : i + per_pdu]
            start = 0 if i == 0 else part[0][0]
            end = size if i + per_pdu >= len(gaps) else part[-1][1]
            self.outbox.append(P.encode(P.Nak(self.header, start, end, part)))
        self.naks += 1
        self.nak_sent_at = now
        self.nak_deadline = now + self.nak_timeout()

    def nak_timeout(self) -> float:
        """How long without progress before NAKing again: a few round trips once one has been
        measured (NAK to the first retransmission), never more than the configured timeout."""
        rtt = self.round_trip.value
        if rtt is None:
            return self.config.nak_timeout
        return min(self.config.nak_timeout, max(NAK_TIMEOUT_FLOOR, 3 * rtt))

    def tick(self, now: float) -> None:
        self.now = now
        if self.state == RecvState.DONE or self.suspended:
            return
        if self.state == RecvState.WAIT_FINISHED_ACK:
            if self.ack_deadline is not None and now >= self.ack_deadline:
                if self.acks >= self.config.ack_limit:
                    self._close()
                    self.state = RecvState.DONE
                    return
                self.acks += 1
                self.peer.expired(now, self.config.ack_timeout, self.config.ack_timeout_max)
                self.ack_deadline = now + self.ack_interval()
                self.finished_sent_at = None  # an ACK now may answer either copy
                self.outbox.append(self.finished_pdu)
            return
        if self.check_deadline is not None and now >= self.check_deadline:
            self._fault(P.Condition.CHECK_LIMIT)
            return
        if self.eof is not None and self.nak_deadline is not None and now >= self.nak_deadline:
            if self.naks >= self.config.nak_limit:
                self._fault(P.Condition.NAK_LIMIT)
                return
            self._send_naks(now)
        if now - self.last_heard >= self.config.inactivity_timeout:
            self._fault(P.Condition.INACTIVITY)

    def _fault(self, condition: P.Condition) -> None:
        self._discard(condition, notify=True)

    def _discard(self, condition: P.Condition, notify: bool) -> None:
        """End without delivering: the partial file is removed, the sender told in class 2."""
        self._close()
        try:
            os.unlink(self.partial)
        except FileNotFoundError:
            pass
        status = P.FileStatus.DISCARDED_DELIBERATELY
        if notify and (self.header.acknowledged or self._closure()):
            fault = self.config.entity_id
            self._send_finished(P.Finished(self.header, condition, False, status, fault))
        self.outcome = Outcome(condition, False, status)
        if notify and self.header.acknowledged:
            self._await_finished_ack(self.now)
        else:
            self.state = RecvState.DONE

    def _closure(self) -> bool:
        return self.metadata is not None and self.metadata.closure_requested

    def _conclude(
        self, condition: P.Condition, complete: bool, status: P.FileStatus, now: float
    ) -> None:
        self._close()
        self.outcome = Outcome(condition, complete, status)
        if self.header.acknowledged:
            self._send_finished(P.Finished(self.header, condition, complete, status))
            self._await_finished_ack(now)
        else:
            if self._closure():
                self._send_finished(P.Finished(self.header, condition, complete, status))
            self.state = RecvState.DONE

    def _await_finished_ack(self, now: float) -> None:
        self.state = RecvState.WAIT_FINISHED_ACK
        self.ack_deadline = now + self.ack_interval()
        self.finished_sent_at = now
        self.acks = 1

    def ack_interval(self) -> float:
        """How long to wait for the ACK of Finished: the round trips measured to the sender."""
        return self.peer.timeout(self.config.ack_timeout, self.config.ack_timeout_max)

    def _send_finished(self, finished: P.Finished) -> None:
        self.finished_pdu = P.encode(finished)
        self.outbox.append(self.finished_pdu)

    def _close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def cancel(self, now: float) -> None:
        if self.state == RecvState.RECEIVING:
            self._fault(P.Condition.CANCEL_REQUEST)

    def freeze(self) -> None:
        self.suspended = True
        self.finished_sent_at = None  # a round trip across an outage measures the outage

    def thaw(self, now: float) -> None:
        self.suspended = False
        self.last_heard = now
        if self.nak_deadline is not None:
            self.nak_deadline = now
        if self.ack_deadline is not None:
            self.ack_deadline = now + self.ack_interval()
        if self.check_deadline is not None:
            self.check_deadline = now + self.config.check_timeout

    @property
    def done(self) -> bool:
        return self.state == RecvState.DONE and not self.outbox

    def next_pdu(self, now: float) -> bytes | None:
        return self.outbox.popleft() if self.outbox else None

    def snapshot(self) -> dict:
        """The durable part of the transaction: the ranges claimed are on disk (fsynced)."""
        if self.fd >= 0:
            os.fsync(self.fd)
        md = self.metadata
        return {
            "header": [
                self.header.source_id,
                self.header.seq_num,
                self.header.dest_id,
                self.header.acknowledged,
                self.header.crc,
                self.header.large_file,
                self.header.id_len,
                self.header.seq_len,
            ],
            "metadata": None
            if md is None
            else [
                md.file_size,
                md.source_name,
                md.dest_name,
                int(md.checksum_type),
                md.closure_requested,
            ],
            "eof": None
            if self.eof is None
            else [int(self.eof.condition), self.eof.checksum, self.eof.file_size],
            "received": self.received.ranges(),
            "state": int(self.state),
            "finished": self.finished_pdu,
        }
