"""An entity's transactions on disk: each one's snapshot saved to the journal when it changes (all
that changed in one journal transaction), and every transaction that was open brought back at
start, a sender whose source file is gone ended as lost. The entity (entity.py) takes this part
as a base class: it works on the entity's own tables of senders and receivers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from flight.cfdp import pdu as P
from flight.cfdp.congestion import SendRate
from flight.cfdp.filestore import FileStore
from flight.cfdp.journal import Journal, TransactionReport
from flight.cfdp.mib import EntityConfig
from flight.cfdp.receiver import ReceiveTransaction, RecvState
from flight.cfdp.round_trip import RoundTrip
from flight.cfdp.sender import Outcome, SendTransaction

SENDER, RECEIVER = "send", "receive"


class Persistence:
    """The journal side of an entity."""

    config: EntityConfig
    store: FileStore
    journal: Journal | None
    clock: Callable[[], float]
    counters: Counter
    senders: dict[int, SendTransaction]
    receivers: dict[tuple[int, int], ReceiveTransaction]
    _saved: dict
    round_trip: Callable[[int], RoundTrip]
    send_rate: Callable[[int], SendRate | None]
    _add_receiver: Callable[[tuple[int, int], ReceiveTransaction], None]

    def _save_changed(self) -> None:
        """The snapshots of the transactions that changed since they were last saved, in one
        journal transaction (one flush, however many transactions are open)."""
        changed = []
        for role, table in ((SENDER, self.senders), (RECEIVER, self.receivers)):
            for t in table.values():
                key = (role, t.header.source_id, t.header.seq_num)
                snap = t.snapshot()
                if not t.done and self._saved.get(key) != snap:
                    changed.append((*key, snap))
                    self._saved[key] = snap
        if changed:
            self.journal.save_all(changed)

    def _save(self, role: str, t: SendTransaction | ReceiveTransaction) -> None:
        if self.journal is not None and not t.done:
            key, snap = (role, t.header.source_id, t.header.seq_num), t.snapshot()
            self.journal.save_all([(*key, snap)])
            self._saved[key] = snap

    def _restore(self, journal: Journal) -> None:
        now = self.clock()
        for role, _source, seq, snap in journal.active():
            if role == SENDER:
                self._restore_sender(seq, snap, now)
            else:
                self._restore_receiver(snap, now)

    def _restore_sender(self, seq: int, snap: dict, now: float) -> None:
        header = P.Header(
            self.config.entity_id,
            seq,
            snap["dest_id"],
            acknowledged=snap["acknowledged"],
            crc=self.config.pdu_crc,
            large_file=snap["large_file"],
            id_len=self.config.id_len,
            seq_len=self.config.seq_len,
        )
        try:
            t = SendTransaction(
                self.config,
                header,
                snap["path"],
                snap["source_name"],
                snap["dest_name"],
                snap["priority"],
                snap["closure"],
                self.round_trip(snap["dest_id"]),
                self.send_rate(snap["dest_id"]),
            )
        except (OSError, ValueError):
            self.counters["transactions_lost_source"] += 1
            self.journal.finish(
                TransactionReport(
                    SENDER,
                    self.config.entity_id,
                    seq,
                    snap["source_name"],
                    snap["dest_name"],
                    snap["size"],
                    P.Condition.FILESTORE_REJECTION,
                    False,
                    None,
                    0.0,
                )
            )
            return
        t.started = now
        t.resume(snap, now)
        self.senders[seq] = t

    def _restore_receiver(self, snap: dict, now: float) -> None:
        h = P.Header(*snap["header"][:4], True, *snap["header"][4:])
        t = ReceiveTransaction(self.config, self.store, h, now, self.round_trip(h.source_id))
        if snap["metadata"] is not None:
            size, source, dest, kind, closure = snap["metadata"]
            t.metadata = P.Metadata(h, size, source, dest, P.ChecksumType(kind), closure)
        if snap["eof"] is not None:
            condition, checksum, size = snap["eof"]
            t.eof = P.Eof(h, P.Condition(condition), checksum, size)
            t.nak_deadline = now
        t.received.restore([(start, end) for start, end in snap["received"]])
        t.bound()
        t.state = RecvState(snap["state"])
        t.finished_pdu = snap["finished"]
        if t.finished_pdu is not None:  # it had concluded: as its Finished said
            finished = P.decode(t.finished_pdu)
            t.outcome = Outcome(finished.condition, finished.complete, finished.status)
            if finished.complete and t.metadata is not None and t.metadata.dest_name:
                t.delivered_path = str(self.store.resolve(t.metadata.dest_name, rooted=True))
        if t.state == RecvState.WAIT_FINISHED_ACK:
            t.ack_deadline = now
        self._add_receiver((h.source_id, h.seq_num), t)
