"""The caller: the one type every service takes to decide what someone may see and do."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from liandong.areas.scope import EVERYTHING, Scope


@dataclass(frozen=True)
class Identity:
    """A signed-in user (roles, unit, jurisdiction) or a system channel without a user (hotline, sensors…).

    No ORM object, so it can outlive a session and be cached per process (``auth/principals.py``)."""

    roles: frozenset[str]
    unit_id: int | None = None
    scope: Scope = EVERYTHING
    user_id: int | None = None
    username: str | None = None
    assigned_only: bool = False
    """A department's unit (department, branch, team): sees the cases assigned to it, not its area's."""
    token_expires_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.roles, frozenset):  # lists and tuples from rows and callers
            object.__setattr__(self, "roles", frozenset(self.roles))

    @property
    def name(self) -> str:
        """How the event log and the audit log name the caller."""
        return self.username or "system"

    def has(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)
