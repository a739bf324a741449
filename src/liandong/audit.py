"""The append-only audit log: logins, failures, lock-outs and every administrative change.

It sits below every domain (like ``db`` and ``errors``): each domain's service records its own changes, and
areas and units, which auth builds on, must be able to do so without importing auth. The actor is anything
with an ``id`` and a ``username`` (a user row), so this module knows no user table; ``actor_id`` has no
foreign key either, the log outliving users. Database triggers refuse updates and deletes (migrations).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from liandong.db import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    """User id at the time (no foreign key: the log outlives users)."""
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))


class Actor(Protocol):
    """Who did it: a user row (``auth.models.User``) fits, or an ``Operator``."""

    @property
    def id(self) -> int | None: ...

    @property
    def username(self) -> str: ...


@dataclass(frozen=True)
class Operator:
    """An actor without a user row, recorded by name: ``Operator("cli")`` for the command line."""

    username: str
    id: None = None


def record(
    session: Session,
    action: str,
    *,
    actor: Actor | None = None,
    actor_name: str | None = None,
    actor_id: int | None = None,
    target: str | None = None,
    detail: dict | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Add an entry to the caller's transaction: it is stored exactly when the change it describes is."""
    entry = AuditEntry(
        actor_id=actor.id if actor else actor_id,
        actor=actor.username if actor else (actor_name or "system"),
        action=action,
        target=target,
        detail=detail or {},
        ip=ip,
    )
    session.add(entry)
    return entry


def entries(session: Session, *, action: str | None = None, actor: str | None = None, limit: int = 100,
            offset: int = 0) -> list[AuditEntry]:
    stmt = select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    return list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)))
