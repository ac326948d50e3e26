"""The command and packet counters of housekeeping, which RESET_COUNTERS sets to zero."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Counters:
    """What admission, dispatch and the loop counted since the start or the last reset."""

    tc_accepted: int = 0
    tc_rejected: int = 0
    tc_failed: int = 0
    packets_bad_crc: int = 0
    packets_bad_header: int = 0
    packets_unknown_apid: int = 0
    manifests_rejected: int = 0
    tc_auth_missing: int = 0
    tc_auth_unknown_key: int = 0
    tc_auth_bad_mac: int = 0
    tc_auth_replay: int = 0
    internal_errors: int = 0

    def reset(self) -> None:
        """Set every counter to zero."""
        for f in fields(self):
            setattr(self, f.name, 0)

    def add(self, name: str) -> None:
        """Count one more of ``name``."""
        setattr(self, name, getattr(self, name) + 1)

    def values(self) -> dict[str, int]:
        """Every counter by its housekeeping field name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
