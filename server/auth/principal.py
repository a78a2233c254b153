"""Principals and roles for every HTTP surface (REST API, MCP over HTTP, a future web console).

A role grants permissions; no role grants approval of an action: that needs the approver's voiceprint and a
spoken challenge in the dialogue, which no HTTP request can vouch for.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    READ = "read"  # list cases, owners (masked credentials)
    DECIDE = "decide"  # decline, acknowledge/park, close, reopen, replan or propose a plan
    CONFIGURE = "configure"  # owners, voiceprints, credentials, device tokens


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"

    @property
    def permissions(self) -> frozenset[Permission]:
        return _GRANTS[self]


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset({Permission.READ, Permission.DECIDE, Permission.CONFIGURE}),
    Role.OPERATOR: frozenset({Permission.READ, Permission.DECIDE}),
}


class Via(StrEnum):
    """How the principal proved who it is (a web console adds SESSION with a cookie)."""

    TOKEN = "token"
    SESSION = "session"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    via: Via = Via.TOKEN

    @property
    def actor(self) -> str:
        """The timeline actor for what this principal does: derived from authentication, never from a body."""
        return f"{self.role.value}:{self.name}"

    def may(self, permission: Permission) -> bool:
        return permission in self.role.permissions
