"""FOP-1, the ground's sending end of COP-1 (CCSDS 232.1-B-2, section 5), for one virtual channel.

It numbers sequence-controlled (Type-AD) frames, keeps those not yet acknowledged in its sent
queue, at most a sliding window of them, and sends them again when the CLCW asks (the FARM's
retransmit flag) or when the timer T1 runs out, up to a transmission limit. An acknowledgement
confirms a frame's data to its sender; an alert (lockout, a CLCW that makes no sense, the limit,
T1) purges what is outstanding with a negative confirm and leaves FOP-1 in its initial state
until an operator's directive initiates the service again. Expedited (Type-BD) frames bypass
all of it.

States, events and actions follow the standard's state table: CLCW arrivals are classified into
its events E1-E14 and E101-E103 (``_clcw_event``), timer expiries into E16-E18 and E104."""

from __future__ import annotations

import enum
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flight.spacelink.clcw import Clcw
from flight.spacelink.farm import UNLOCK, set_vr_command


class FopState(enum.Enum):
    ACTIVE = 1
    RETRANSMIT = 2
    RETRANSMIT_WAIT = 3
    INITIALISING = 4
    INITIALISING_BC = 5
    INITIAL = 6


class Alert(enum.Enum):
    """Why FOP-1 gave up on what it was sending (232.1-B-2, 5.1.10)."""

    SYNCH = "a CLCW asked for a retransmission of frames all acknowledged"
    CLCW = "a CLCW with the wait flag where none can be"
    LIMIT = "the transmission limit reached"
    NNR = "a CLCW acknowledging frames never sent"
    LOCKOUT = "the spacecraft's FARM is locked out"
    T1 = "no acknowledgement within T1 after the transmission limit"
    TERM = "the AD service was terminated"


class FrameKind(enum.Enum):
    AD = "AD"  # sequence-controlled data
    BD = "BD"  # expedited data
    BC = "BC"  # expedited control command


class Cop1Refused(Exception):
    """A request or directive that FOP-1 does not take in its present state."""


@dataclass
class _Sent:
    ns: int
    data: bytes
    tag: Any
    again: bool = False


@dataclass(frozen=True)
class FopConfig:
    window: int = 64
    """K: frames sent and not yet acknowledged, at most (no more than the FARM's W/2)."""
    t1_s: float = 4.0
    limit: int = 10
    """Transmissions of a frame, the first included, before an alert."""
    timeout_type: int = 0
    """0: an alert when T1 runs out at the limit; 1: the service is suspended instead."""


DEFAULT_CONFIG = FopConfig()


class Fop:
    """FOP-1 of one virtual channel. ``transmit(kind, ns, data)`` puts a frame on the link
    (``ns`` is N(S) for AD frames, else None); ``now()`` is the clock T1 runs on;
    ``confirm(tag, ok, why)`` tells a request's sender whether its data was acknowledged."""

    def __init__(
        self,
        vcid: int,
        transmit: Callable[[FrameKind, int | None, bytes], None],
        now: Callable[[], float],
        confirm: Callable[[Any, bool, str], None],
        config: FopConfig = DEFAULT_CONFIG,
    ) -> None:
        self.vcid = vcid
        self._transmit = transmit
        self._now = now
        self._confirm = confirm
        self.window = config.window
        self.t1_s = config.t1_s
        self.limit = config.limit
        self.timeout_type = config.timeout_type
        self.state = FopState.INITIAL
        self.suspended_in: FopState | None = None
        self.vs = 0
        self.nnr = 0
        self.count = 0
        self.sent: deque[_Sent] = deque()
        self.waiting: deque[tuple[bytes, Any]] = deque()
        self.timer: float | None = None
        self.bc_frame: bytes | None = None  # the control command being initiated with
        self.last_clcw: Clcw | None = None
        self.last_alert: Alert | None = None
        self.counters: Counter[str] = Counter()

    @property
    def accepting(self) -> bool:
        """Whether the AD service takes requests (it is active, or sending again)."""
        return self.state in (FopState.ACTIVE, FopState.RETRANSMIT, FopState.RETRANSMIT_WAIT)

    # --- what the service is asked to do
    def request(self, data: bytes, tag: Any = None) -> None:
        """Send ``data`` in a sequence-controlled frame, in order after those asked before."""
        if not self.accepting:
            raise Cop1Refused(f"COP-1 is {self.describe()}: the AD service is not active")
        self.waiting.append((data, tag))
        self._look_for_fdu()

    def expedite(self, data: bytes) -> None:
        """Send ``data`` in an expedited (Type-BD) frame at once, outside the sequence."""
        self.counters["bd_sent"] += 1
        self._transmit(FrameKind.BD, None, data)

    def initiate(self, check: str = "clcw", vr: int | None = None) -> None:
        """Initiate the AD service: ``none`` at once, ``clcw`` on a CLCW that agrees with V(S),
        ``unlock`` by an Unlock command, ``set_vr`` by a Set V(R) to ``vr``."""
        if self.state is not FopState.INITIAL:
            raise Cop1Refused(f"COP-1 is {self.describe()}: terminate it first")
        self._purge("the AD service was initiated again")
        self.suspended_in = None
        self.last_alert = None
        if check == "none":
            self.state = FopState.ACTIVE
        elif check == "clcw":
            self.state = FopState.INITIALISING
            self._start_timer()
        elif check in ("unlock", "set_vr"):
            if check == "set_vr":
                if vr is None or not 0 <= vr <= 255:
                    raise Cop1Refused("Set V(R) needs a value from 0 to 255")
                self.vs = self.nnr = vr
                self.bc_frame = set_vr_command(vr)
            else:
                self.bc_frame = UNLOCK
            self.state = FopState.INITIALISING_BC
            self.count = 1
            self._send_bc()
        else:
            raise Cop1Refused(f"no initiation {check!r}: none, clcw, unlock or set_vr")
        self.counters[f"initiate_{check}"] += 1

    def terminate(self) -> None:
        """Terminate the AD service: what is outstanding is purged."""
        if self.state is not FopState.INITIAL:
            self._alert(Alert.TERM)
        self.suspended_in = None

    def resume(self) -> None:
        """Resume an AD service suspended when T1 ran out (timeout type 1): what is outstanding
        is sent again, with a fresh transmission count."""
        if self.state is not FopState.INITIAL or self.suspended_in is None:
            raise Cop1Refused("COP-1 is not suspended")
        self.state, self.suspended_in = self.suspended_in, None
        self.count = 0
        self._retransmit_all()
        self._look_for_fdu()

    def set_vs(self, vs: int) -> None:
        if self.state is not FopState.INITIAL or self.suspended_in is not None:
            raise Cop1Refused("V(S) is set only in the initial state, not suspended")
        self.vs = self.nnr = vs & 0xFF

    def describe(self) -> str:
        """The state in words, with the last alert when there was one."""
        words = self.state.name.lower().replace("_", " ")
        if self.suspended_in is not None:
            words += f" (suspended in {self.suspended_in.name.lower()})"
        if self.state is FopState.INITIAL and self.last_alert is not None:
            words += f" after an alert: {self.last_alert.value}"
        return words

    # --- what comes back
    def clcw(self, clcw: Clcw) -> None:
        """A CLCW of this virtual channel from the downlink."""
        self.last_clcw = clcw
        self.counters["clcw"] += 1
        event = self._clcw_event(clcw)
        getattr(self, f"_{self.state.name.lower()}")(event, clcw)

    def tick(self) -> None:
        """Let the timer run out if its time has come."""
        if self.timer is None or self._now() < self.timer:
            return
        self.timer = None
        self.counters["t1_expired"] += 1
        if self.state is FopState.INITIALISING:
            self._alert(Alert.T1)
        elif self.count < self.limit:
            if self.state is FopState.INITIALISING_BC:
                self.count += 1
                self._send_bc()
            elif self.state is not FopState.RETRANSMIT_WAIT:  # waiting, the FARM decides
                self._retransmit_all()
                self._look_for_fdu()
        elif self.timeout_type == 0:
            self._alert(Alert.T1)
        else:
            suspended = self.state
            self._stop_timer()
            self.state, self.suspended_in = FopState.INITIAL, suspended
            self.counters["suspended"] += 1

    # --- the state table
    def _clcw_event(self, c: Clcw) -> str:
        if c.lockout:
            return "E14"
        outstanding = (self.vs - self.nnr) & 0xFF
        acked = (c.report_value - self.nnr) & 0xFF
        if c.report_value == self.vs:
            if c.retransmit:
                return "E4"
            if c.wait:
                return "E3"
            return "E1" if c.report_value == self.nnr else "E2"
        if acked >= outstanding:
            return "E13"
        new = c.report_value != self.nnr
        if not c.retransmit:
            if c.wait:
                return "E7"
            return "E6" if new else "E5"
        if self.limit == 1:
            return "E101" if new else "E102"
        if new:
            return "E9" if c.wait else "E8"
        if self.count < self.limit:
            return "E11" if c.wait else "E10"
        return "E103" if c.wait else "E12"

    def _common(self, event: str, clcw: Clcw) -> bool:
        """The events every state of the AD service treats alike; whether it was one."""
        if event == "E13":
            self._alert(Alert.NNR)
        elif event == "E14":
            self._alert(Alert.LOCKOUT)
        elif event in ("E2", "E6"):
            self._acknowledged(clcw)
            if event == "E2":
                self._stop_timer()
            self.state = FopState.ACTIVE
            self._look_for_fdu()
        elif event in ("E3", "E7"):
            self._alert(Alert.CLCW)
        elif event in ("E101", "E102"):
            self._acknowledged(clcw)
            self._alert(Alert.LIMIT)
        else:
            return False
        return True

    def _active(self, event: str, clcw: Clcw) -> None:
        if self._common(event, clcw) or event in ("E1", "E5"):
            return
        if event == "E4":
            self._alert(Alert.SYNCH)
        elif event in ("E8", "E10"):
            self._send_again(clcw)
        elif event in ("E9", "E11"):
            self._wait(clcw)
        elif event in ("E12", "E103"):
            self._alert(Alert.LIMIT)

    def _retransmit(self, event: str, clcw: Clcw) -> None:
        if self._common(event, clcw) or event in ("E10", "E12"):
            return  # already sending again: T1 decides when next
        if event in ("E1", "E4", "E5"):
            self._alert(Alert.SYNCH)
        elif event == "E8":
            self._send_again(clcw)
        elif event in ("E9", "E11", "E103"):
            self._wait(clcw)

    def _retransmit_wait(self, event: str, clcw: Clcw) -> None:
        if self._common(event, clcw) or event in ("E11", "E103"):
            return  # the FARM still waits
        if event in ("E1", "E4", "E5"):
            self._alert(Alert.SYNCH)
        elif event in ("E8", "E10"):
            self._send_again(clcw)
        elif event == "E9":
            self._acknowledged(clcw)
        elif event == "E12":
            self._alert(Alert.LIMIT)

    def _send_again(self, clcw: Clcw) -> None:
        """The FARM asks for a retransmission: what it acknowledged off the queue, the rest sent
        again."""
        self._acknowledged(clcw)
        self._retransmit_all()
        self.state = FopState.RETRANSMIT
        self._look_for_fdu()

    def _wait(self, clcw: Clcw) -> None:
        """The FARM has no buffer: what it acknowledged off the queue, the rest held until its
        wait flag clears."""
        self._acknowledged(clcw)
        self.state = FopState.RETRANSMIT_WAIT

    def _initialising(self, event: str, clcw: Clcw) -> None:
        if event in ("E1", "E2"):
            self._stop_timer()
            self.nnr = clcw.report_value
            self.state = FopState.ACTIVE
            self._look_for_fdu()
        elif event == "E14":
            self._alert(Alert.LOCKOUT)
        elif event in ("E3", "E4"):
            self._alert(Alert.CLCW)

    def _initialising_bc(self, event: str, clcw: Clcw) -> None:
        if event in ("E1", "E2"):  # the FARM took the control command
            self._stop_timer()
            self.bc_frame = None
            self.nnr = clcw.report_value
            self.state = FopState.ACTIVE
            self._look_for_fdu()
        elif event in ("E3", "E4"):
            self._alert(Alert.CLCW)
        # a lockout or another N(R): the control command has not arrived yet

    def _initial(self, event: str, clcw: Clcw) -> None:
        """CLCWs change nothing until the service is initiated."""

    # --- actions
    def _acknowledged(self, clcw: Clcw) -> None:
        """Remove the frames N(R) acknowledges from the sent queue, confirming them."""
        while self.sent and self.sent[0].ns != clcw.report_value:
            done = self.sent.popleft()
            self.counters["ad_acknowledged"] += 1
            self._confirm(done.tag, True, "acknowledged by the spacecraft's FARM")
        self.nnr = clcw.report_value
        self.count = 1

    def _retransmit_all(self) -> None:
        self.count += 1
        for frame in self.sent:
            frame.again = True
        self._start_timer()

    def _look_for_fdu(self) -> None:
        for frame in self.sent:
            if frame.again:
                frame.again = False
                self.counters["ad_sent_again"] += 1
                self._transmit(FrameKind.AD, frame.ns, frame.data)
        if self.state is not FopState.ACTIVE:
            return
        while self.waiting and ((self.vs - self.nnr) & 0xFF) < self.window:
            data, tag = self.waiting.popleft()
            if not self.sent:
                self.count = 1
            self.sent.append(_Sent(self.vs, data, tag))
            ns, self.vs = self.vs, (self.vs + 1) & 0xFF
            self.counters["ad_sent"] += 1
            self._start_timer()
            self._transmit(FrameKind.AD, ns, data)

    def _send_bc(self) -> None:
        assert self.bc_frame is not None
        self.counters["bc_sent"] += 1
        self._start_timer()
        self._transmit(FrameKind.BC, None, self.bc_frame)

    def _start_timer(self) -> None:
        self.timer = self._now() + self.t1_s

    def _stop_timer(self) -> None:
        self.timer = None

    def _purge(self, why: str) -> None:
        while self.sent:
            self._confirm(self.sent.popleft().tag, False, why)
        while self.waiting:
            self._confirm(self.waiting.popleft()[1], False, why)

    def _alert(self, alert: Alert) -> None:
        self.counters[f"alert_{alert.name.lower()}"] += 1
        self.last_alert = alert
        self._stop_timer()
        self.bc_frame = None
        self.state = FopState.INITIAL
        self._purge(f"COP-1 alert: {alert.value}")
