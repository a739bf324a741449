"""``GET /api/v1/screening/summary`` (thin router): the period's hazard and dispute figures from the logs."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, read_session, request_time
from liandong.screening import summary

router = APIRouter(prefix="/api/v1/screening", tags=["screening"])


@router.get("/summary", summary="Hazards collected, filed, closed, rewarded; disputes collected, mediated, "
                                "succeeded, escalated… (from the event logs, within the caller's sight)")
def screening_summary(date_from: dt.date | None = Query(None, alias="from", description="default: 30 days ago"),
                      date_to: dt.date | None = Query(None, alias="to", description="default: today (local days)"),
                      principal: Principal = Depends(current_principal), session: Session = Depends(read_session),
                      now: dt.datetime = Depends(request_time)):
    return summary.figures(session, principal.identity, date_from, date_to, now)
