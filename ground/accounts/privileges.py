"""Who may send what: privileges per command, from the dictionary's own marks.

- Viewers send nothing.
- Operators send ground commands, upload files and direct COP-1 (docs/icd.md section 18). A
  command the dictionary marks hazardous goes up only with the sender's confirmation.
- The commands of the key management (PUS 220) and flight image (PUS 230) services need an admin,
  as the keys and the software on board are what every other command rests on.

The station applies these rules to every request; clients apply them too, to say so before
sending, but the station's word is the one that counts.
"""

from __future__ import annotations

from flight import dictionary as d
from ground.accounts.store import Role

ADMIN_SERVICES = {220: "key management", 230: "flight images"}


def required_role(command: d.Command) -> Role:
    """The least role that may send the command."""
    return Role.ADMIN if command.service in ADMIN_SERVICES else Role.OPERATOR


def command_refusal(role: Role, command: d.Command, confirmed: bool) -> str | None:
    """Why an account of this role may not send the command now, in words; None if it may."""
    needed = required_role(command)
    if role < needed:
        why = ADMIN_SERVICES.get(command.service, "commanding")
        return f"{command.name} needs the {needed.label} role ({why}); this is a {role.label}"
    if command.hazardous and not confirmed:
        return f"{command.name} is hazardous: it goes up only when confirmed"
    return None


def cop1_refusal(role: Role) -> str | None:
    """Why an account of this role may not direct COP-1 (initiate, unlock, terminate); None if
    it may."""
    if role < Role.OPERATOR:
        return f"COP-1 directives need the operator role; this account is a {role.label}"
    return None


def upload_refusal(role: Role) -> str | None:
    """Why an account of this role may not send files up; None if it may."""
    if role < Role.OPERATOR:
        return f"uploads need the operator role; this account is a {role.label}"
    return None
