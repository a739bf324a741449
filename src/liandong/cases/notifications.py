"""A unit's in-app notices (an overdue stage, urging, a reopened case): the list, the unread badge, marking
one read. A notice belongs to a unit: another unit's is not found (404 leaks nothing)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.cases.models import Case, Notification
from liandong.errors import NotFound


def for_unit(session: Session, unit_id: int, *, unread: bool = False, limit: int = 50) -> list[dict]:
    """Newest first, each with its case's number (pages word a notice from its kind and details)."""
    stmt = select(Notification, Case.number).outerjoin(Case, Case.id == Notification.case_id).where(
        Notification.unit_id == unit_id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    rows = session.execute(stmt.order_by(Notification.id.desc()).limit(limit))
    return [{"id": n.id, "case_id": n.case_id, "case_number": number, "kind": n.kind, "details": n.details or {},
             "message": n.message, "created_at": n.created_at.isoformat(), "read": n.read_at is not None}
            for n, number in rows]


def unread_count(session: Session, unit_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.unit_id == unit_id, Notification.read_at.is_(None)))


def mark_read(session: Session, unit_id: int, notification_id: int, now: dt.datetime) -> None:
    """Read once: marking it again keeps the first time."""
    n = session.get(Notification, notification_id)
    if n is None or n.unit_id != unit_id:
        raise NotFound(f"notification {notification_id} not found")
    n.read_at = n.read_at or now
