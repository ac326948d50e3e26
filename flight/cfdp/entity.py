"""A CFDP entity: the transactions it sends and receives over one link adapter.

The owner calls ``receive`` with each PDU that arrives and ``poll`` often (each bus tick on
board, each loop turn in the stand-alone endpoints); ``poll`` runs the timers and sends what the
link's flow control allows, receivers' directives first, then senders by priority (lowest value
first, as the job manifest's result priorities). Every PDU
refused is counted by reason in ``counters``; nothing a PDU says can write outside the file store.
When the link goes down the transactions freeze (their timers stop) and thaw when it comes back.
With a journal, each transaction is on disk from the moment it is accepted and carries on after
a restart.
"""

from __future__ import annotations

import os
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from pathlib import Path

from flight.cfdp import pdu as P
from flight.cfdp.congestion import SendRate
from flight.cfdp.filestore import FileStore
from flight.cfdp.journal import Journal, TransactionReport
from flight.cfdp.mib import EntityConfig
from flight.cfdp.persistence import RECEIVER, SENDER, Persistence
from flight.cfdp.receiver import ReceiveTransaction
from flight.cfdp.round_trip import RoundTrip
from flight.cfdp.sender import SendTransaction
from flight.links.base import LinkAdapter
from native import cfdp_file_data

SEND_BUDGET = 256


class Entity(Persistence):
    def __init__(
        self,
        config: EntityConfig,
        link: LinkAdapter,
        store: FileStore | None,
        journal: Journal | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.link = link
        self.store = store
        self.journal = journal
        self._saved: dict[tuple[str, int, int], dict] = {}  # the snapshots in the journal
        self.clock = clock
        self.senders: dict[int, SendTransaction] = {}
        self.receivers: dict[tuple[int, int], ReceiveTransaction] = {}
        self.recent: OrderedDict[tuple[int, int], P.Finished | None] = OrderedDict()
        self.reports: deque[TransactionReport] = deque()
        self.counters: Counter[str] = Counter()
        self._replies: deque[bytes] = deque()
        self.finished_senders: dict[int, SendTransaction] = {}
        """Sending transactions that ended, newest last (their owner may send them again)."""
        self.ended_senders: OrderedDict[int, None] = OrderedDict()
        """The sequence numbers of the latest sending transactions that ended (a PDU of one is
        late, not unknown)."""
        self.round_trips: dict[int, RoundTrip] = {}
        """Per remote entity: the round trips measured to it, which set the ACK timers."""
        self.send_rates: dict[int, SendRate] = {}
        """Per remote entity: the pace of file data to it, where the MIB adapts it."""
        self._fast: dict[bytes, ReceiveTransaction] = {}
        self.now = clock()
        self._was_up = False
        self._next_snapshot = clock() + config.snapshot_interval
        self._seq = int(time.time() * 1000)
        if journal is not None:
            self._restore(journal)

    def put(
        self,
        path: str | os.PathLike[str],
        dest_name: str | None = None,
        *,
        remote_id: int,
        acknowledged: bool = True,
        closure: bool = False,
        priority: int = 0,
        source_name: str | None = None,
    ) -> int:
        """Start sending a file; returns the transaction sequence number."""
        size = Path(path).stat().st_size
        seq = self._next_seq()
        header = P.Header(
            self.config.entity_id,
            seq,
            remote_id,
            acknowledged=acknowledged,
            crc=self.config.pdu_crc,
            large_file=size >= 1 << 32,
            id_len=self.config.id_len,
            seq_len=self.config.seq_len,
        )
        name = source_name or Path(path).name
        t = SendTransaction(
            self.config,
            header,
            str(path),
            name,
            dest_name or name,
            priority,
            closure,
            self.round_trip(remote_id),
            self.send_rate(remote_id),
        )
        t.started = self.clock()
        self.senders[seq] = t
        self._save(SENDER, t)
        self.counters["transactions_started"] += 1
        return seq

    def _next_seq(self) -> int:
        modulus = 1 << (8 * self.config.seq_len)
        if self.journal is not None:
            return self.journal.next_seq(modulus)
        self._seq = (self._seq + 1) % modulus
        return self._seq

    @property
    def busy(self) -> bool:
        return bool(self.senders or self.receivers)

    def receive(self, raw: bytes | memoryview) -> None:
        """One PDU from the link (a view of a link's buffer is read before this returns)."""
        # The fast path: file data for a transaction already known, read by the native core
        # (its lengths and CRC checked) and found by its header octets alone.
        if self._fast_path(raw, len(raw)):
            return
        try:
            pdu = P.decode(bytes(raw))
        except P.PduError as exc:
            self.counters[f"pdu_refused_{exc.reason}"] += 1
            return
        now = self.now = self.clock()
        h = pdu.header
        if h.toward_sender:
            if h.source_id != self.config.entity_id:
                self.counters["pdu_refused_not_ours"] += 1
                return
            t = self.senders.get(h.seq_num)
            if t is None or t.header.dest_id != h.dest_id:
                self._unknown_toward_sender(pdu)
                return
            t.handle(pdu, now)
            return
        if h.dest_id != self.config.entity_id:
            self.counters["pdu_refused_not_ours"] += 1
            return
        key = (h.source_id, h.seq_num)
        t = self.receivers.get(key)
        if t is None:
            t = self._new_receiver(pdu, key, now)
            if t is None:
                return
        elif t.header.acknowledged != h.acknowledged:
            self.counters["pdu_refused_transmission_mode"] += 1
            return
        refused = t.refused
        t.handle(pdu, now)
        if t.refused != refused:
            self.counters["pdu_refused_out_of_range"] += t.refused - refused

    def receive_datagrams(self, data: bytes | memoryview, size: int) -> None:
        """PDUs of ``size`` octets laid back to back in ``data`` (the last may be shorter), as
        UDP GRO hands them over: the file data of a known transaction taken by the native core
        many PDUs to a call; anything else one by one."""
        if size >= len(data) or size <= 0:
            self.receive(data)
            return
        view = memoryview(data)
        at = 0
        while at < len(data):
            used = self._fast_path(view[at:], size)
            if not used:  # not file data of a transaction receiving: said why there
                self.receive(view[at : at + size])
                used = min(size, len(data) - at)
            at += used

    def _fast_path(self, datagrams: bytes | memoryview, size: int) -> int:
        """File data PDUs of a transaction being received, from the first of the datagrams of
        ``size`` octets on, found by the first one's header octets: the octets the transaction
        took (0: the first is not one; the Python codec reads it to say why)."""
        parts = cfdp_file_data(datagrams[:size])
        if parts is None:
            return 0
        t = self._fast.get(bytes(datagrams[:1]) + bytes(datagrams[3 : parts[0]]))
        if t is None:
            return 0
        refused = t.refused
        used = t.file_datagrams(datagrams, size, self.now)
        if t.refused != refused:
            self.counters["pdu_refused_out_of_range"] += t.refused - refused
        return used

    def send_rate(self, remote_id: int) -> SendRate | None:
        """The pace of file data to a remote entity, where the MIB adapts it to congestion."""
        if not self.config.adapt_rate:
            return None
        rate = self.send_rates.get(remote_id)
        if rate is None:
            rate = self.send_rates[remote_id] = SendRate(self.clock)
        return rate

    def round_trip(self, remote_id: int) -> RoundTrip:
        """The round trips measured to a remote entity."""
        peer = self.round_trips.get(remote_id)
        if peer is None:
            peer = self.round_trips[remote_id] = RoundTrip()
        return peer

    def _unknown_toward_sender(self, pdu: P.Pdu) -> None:
        if pdu.header.seq_num in self.ended_senders:
            # Of a transaction that ended here: a repeated ACK of EOF or Finished that crossed
            # ours on the way, or that answers an EOF repeated while the first was on its way.
            self.counters["pdu_late"] += 1
        else:
            self.counters["pdu_refused_unknown_transaction"] += 1
        if isinstance(pdu, P.Finished) and pdu.header.acknowledged:
            self._acknowledge(pdu, P.Directive.FINISHED, P.TransactionStatus.UNRECOGNIZED)

    def _new_receiver(
        self, pdu: P.Pdu, key: tuple[int, int], now: float
    ) -> ReceiveTransaction | None:
        if key in self.recent:
            # A PDU of a transaction already ended (say our ACK or Finished was lost).
            self.counters["pdu_late"] += 1
            finished = self.recent[key]
            if isinstance(pdu, P.Eof) and pdu.header.acknowledged:
                self._acknowledge(pdu, P.Directive.EOF, P.TransactionStatus.TERMINATED)
                if finished is not None:
                    self._queue_reply(P.encode(finished))
            return None
        if self.store is None:
            self.counters["pdu_refused_not_receiving"] += 1
            return None
        if not isinstance(pdu, P.Metadata | P.FileData | P.Eof):
            self.counters["pdu_refused_unknown_transaction"] += 1
            return None
        if len(self.receivers) >= self.config.max_transactions:
            self.counters["pdu_refused_too_many_transactions"] += 1
            return None
        t = ReceiveTransaction(
            self.config, self.store, pdu.header, now, self.round_trip(pdu.header.source_id)
        )
        self._add_receiver(key, t)
        self.counters["transactions_received"] += 1
        return t

    def _add_receiver(self, key: tuple[int, int], t: ReceiveTransaction) -> None:
        self.receivers[key] = t
        self._fast[t.key] = t

    def _acknowledge(
        self, pdu: P.Eof | P.Finished, directive: P.Directive, status: P.TransactionStatus
    ) -> None:
        """Answer a PDU of a transaction this entity no longer holds (or never did)."""
        ack = P.Ack(pdu.header.replying(), directive, pdu.condition, status)
        self._queue_reply(P.encode(ack))

    def _queue_reply(self, raw: bytes) -> None:
        self._replies.append(raw)

    def poll(self) -> int:
        """Timers and sending; returns the number of PDUs sent."""
        now = self.now = self.clock()
        up = self.link.up
        if up != self._was_up:
            for t in self._all():
                t.thaw(now) if up else t.freeze()
            self._was_up = up
        for t in self._all():
            t.tick(now)
        sent = 0
        if up:
            sent = self._send(now)
        self._reap(now)
        if self.journal is not None and now >= self._next_snapshot:
            self._next_snapshot = now + self.config.snapshot_interval
            self._save_changed()
        return sent

    def _all(self) -> list[SendTransaction | ReceiveTransaction]:
        return [*self.receivers.values(), *self.senders.values()]

    def _send(self, now: float) -> int:
        link = self.link
        sent = 0
        while self._replies and link.ready():
            link.send(self._replies.popleft())
            sent += 1
        senders = sorted(self.senders.values(), key=lambda t: t.priority)
        for t in senders:  # their directives (EOF again, ACK of a Finished) before any file data
            while t.directives and sent < SEND_BUDGET and link.ready():
                link.send(t.directives.popleft())
                sent += 1
        run_room = getattr(link, "run_room", None)  # a link that sends PDUs many to a call
        for t in [*self.receivers.values(), *senders]:
            next_pdu = t.next_pdu
            stride = t.stride if isinstance(t, SendTransaction) and run_room else 0
            while sent < SEND_BUDGET and link.ready():
                most = min(run_room(stride), SEND_BUDGET - sent) if stride else 0
                pdus = t.next_run(now, most) if most > 1 else None
                if pdus:  # new data: its PDUs back to back, handed over at once
                    link.send_run(pdus, stride)
                    sent += -(-len(pdus) // stride)
                    continue
                pdu = next_pdu(now)
                if pdu is None:
                    break
                link.send(pdu)
                sent += 1
        return sent

    def send_now(self) -> int:
        """Send what the link's flow control allows, without running timers or ending
        transactions (between two polls); the number of PDUs sent."""
        return self._send(self.now) if self.link.up else 0

    def next_wakeup(self) -> float | None:
        """When poll next has timer work (the loop may sleep until then or a PDU arrives)."""
        deadlines = []
        for t in self.senders.values():
            wakeup = t.wakeup()
            if wakeup is not None:
                deadlines.append(wakeup)
            paced = t.paced_until(self.now)
            if paced is not None:
                deadlines.append(paced)
        for t in self.receivers.values():
            deadlines += [
                d for d in (t.nak_deadline, t.ack_deadline, t.check_deadline) if d is not None
            ]
            deadlines.append(t.last_heard + self.config.inactivity_timeout)
        return min(deadlines) if deadlines else None

    def _reap(self, now: float) -> None:
        for seq in [s for s, t in self.senders.items() if t.done]:
            t = self.senders.pop(seq)
            self.finished_senders[seq] = t
            self.ended_senders[seq] = None
            while len(self.finished_senders) > self.config.keep_finished:
                self.finished_senders.pop(next(iter(self.finished_senders)))
            while len(self.ended_senders) > self.config.keep_finished:
                self.ended_senders.popitem(last=False)
            self._report(
                SENDER,
                t.header.source_id,
                seq,
                t.source_name,
                t.dest_name,
                t.size,
                t.outcome,
                None,
                t.started,
            )
        for key in [k for k, t in self.receivers.items() if t.done]:
            t = self.receivers.pop(key)
            self._fast = {k: v for k, v in self._fast.items() if v is not t}
            if t.write_error is not None:
                self.counters["file_write_failed"] += 1
            md = t.metadata or t.refused_metadata  # a refused name is still told
            self.recent[key] = None if t.finished_pdu is None else P.decode(t.finished_pdu)
            while len(self.recent) > self.config.keep_finished:
                self.recent.popitem(last=False)
            self._report(
                RECEIVER,
                key[0],
                key[1],
                md.source_name if md else None,
                md.dest_name if md else None,
                md.file_size if md else None,
                t.outcome,
                t.delivered_path,
                t.started,
            )

    def _report(
        self, role, source_id, seq, source_name, dest_name, size, outcome, path, started
    ) -> None:
        report = TransactionReport(
            role,
            source_id,
            seq,
            source_name,
            dest_name,
            size,
            outcome.condition,
            outcome.delivered,
            path,
            self.now - started,
        )
        self.reports.append(report)
        self._saved.pop((role, source_id, seq), None)
        self.counters[f"transactions_{'delivered' if outcome.delivered else 'failed'}"] += 1
        if self.journal is not None:
            self.journal.finish(report)

    def cancel(self, seq_num: int, source_id: int | None = None) -> bool:
        """Cancel a transaction by request; False if there is no such transaction."""
        now = self.clock()
        if source_id in (None, self.config.entity_id) and seq_num in self.senders:
            self.senders[seq_num].cancel(now)
            return True
        t = self.receivers.get((source_id, seq_num))
        if t is not None:
            t.cancel(now)
            return True
        return False
