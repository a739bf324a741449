"""Notification endpoints: a unit's in-app notices (overdue stages, urging), and marking them read."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, get_session, request_time
from liandong.cases import notifications as notices

router = APIRouter(prefix="/api/v1/notifications", tags=["cases"])


@router.get("", summary="Notices for the caller's unit, newest first")
def notifications(unread: bool = False, limit: int = Query(50, ge=1, le=500),
                  principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return notices.for_unit(session, principal.unit_id, unread=unread, limit=limit)


@router.get("/unread-count", summary="How many notices for the caller's unit wait unread (the badge)")
def unread_count(principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return {"unread": notices.unread_count(session, principal.unit_id)}


@router.post("/{notification_id}/read", status_code=204, summary="Mark a notice read")
def mark_read(notification_id: int = Path(ge=1, le=2**31), principal: Principal = Depends(current_principal),
              session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    notices.mark_read(session, principal.unit_id, notification_id, now)
