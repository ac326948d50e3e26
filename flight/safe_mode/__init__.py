"""Safe mode: the payload's fault count, the state it keeps across restarts (state.py), and the
commands that enter and leave it (commands.py)."""

from flight.safe_mode.state import FAULT_EVENTS, SafeMode

__all__ = ["FAULT_EVENTS", "SafeMode"]
