"""Command authority: one account at a time may command the spacecraft, as in COSMOS.

An operator's first command while nobody holds authority takes it; it is then theirs until they
release it, or an admin takes it over. Requests from anyone else are refused, naming the holder.
Every change is reported to the caller, which audits and announces it.
"""

from __future__ import annotations

from ground.accounts.store import Role


class AuthorityRefused(Exception):
    """Authority is held by another account, or the role does not allow it."""


class CommandAuthority:
    """Who holds command authority for the spacecraft."""

    def __init__(self) -> None:
        self.holder: str | None = None

    def request(self, account: str, role: Role) -> bool:
        """Take authority if it is free; True if it changed hands. AuthorityRefused otherwise."""
        if role < Role.OPERATOR:
            raise AuthorityRefused(
                f"command authority needs the operator role; {account} is not one"
            )
        if self.holder == account:
            return False
        if self.holder is not None:
            raise AuthorityRefused(f"command authority is held by {self.holder}")
        self.holder = account
        return True

    def release(self, account: str) -> bool:
        """Give authority up; True if this account held it."""
        if self.holder != account:
            return False
        self.holder = None
        return True

    def take(self, account: str, role: Role) -> str | None:
        """An admin takes authority over; the account it was taken from (None if it was free)."""
        if role < Role.ADMIN:
            raise AuthorityRefused("taking command authority over needs the admin role")
        previous, self.holder = self.holder, account
        return previous
