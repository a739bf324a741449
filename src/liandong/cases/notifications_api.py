"""Notification endpoints: a unit's in-app notices (overdue stages, urging), and marking them read."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, get_session, request_time
from liandong.cases.models import Case, Notification
from liandong.errors import NotFound

router = APIRouter(prefix="/api/v1/notifications", tags=["cases"])


@router.get("", summary="Notices for the caller's unit, newest first")
def notifications(unread: bool = False, limit: int = Query(50, ge=1, le=500),
                  principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    stmt = select(Notification, Case.number).outerjoin(Case, Case.id == Notification.case_id).where(
        Notification.unit_id == principal.unit_id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    rows = session.execute(stmt.order_by(Notification.id.desc()).limit(limit))
    return [{"id": n.id, "case_id": n.case_id, "case_number": number, "kind": n.kind, "details": n.details or {},
             "message": n.message, "created_at": n.created_at.isoformat(), "read": n.read_at is not None}
            for n, number in rows]


@router.get("/unread-count", summary="How many notices for the caller's unit wait unread (the badge)")
def unread_count(principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return {"unread": session.scalar(select(func.count()).select_from(Notification).where(
        Notification.unit_id == principal.unit_id, Notification.read_at.is_(None)))}


@router.post("/{notification_id}/read", status_code=204, summary="Mark a notice read")
def mark_read(notification_id: int = Path(ge=1, le=2**31), principal: Principal = Depends(current_principal),
              session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    n = session.get(Notification, notification_id)
    if n is None or n.unit_id != principal.unit_id:
        raise NotFound(f"notification {notification_id} not found")
    n.read_at = n.read_at or now
    session.commit()
