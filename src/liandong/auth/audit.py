"""The append-only audit log: logins, failures, lock-outs and every administrative change."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.auth.models import AuditEntry, User


def record(
    session: Session,
    action: str,
    *,
    actor: User | None = None,
    actor_name: str | None = None,
    actor_id: int | None = None,
    target: str | None = None,
    detail: dict | None = None,
    ip: str | None = None,
) -> AuditEntry:
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
