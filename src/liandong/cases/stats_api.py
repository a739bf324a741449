"""Figures for the command-centre screen (thin router over cases/stats.py)."""

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, read_session, request_time
from liandong.cases import stats
from liandong.cases.api import actor_of

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


@router.get("/overview", summary="KPI cards: today's work, open, overdue, lights, 30-day closure and on-time rates")
def overview(request: Request, principal: Principal = Depends(current_principal),
             session: Session = Depends(read_session),
             now: dt.datetime = Depends(request_time)):
    # the calendar from the primary: the process keeps what it loads for every writer (a replica may be behind)
    return stats.overview(session, actor_of(principal), request.app.state.calendar.get(principal.session), now)


@router.get("/breakdown", summary="Cases reported in the last days by category, town, channel or state")
def breakdown(by: str = Query(description=" | ".join(stats.BREAKDOWNS), max_length=16),
              days: int = Query(30, ge=1, le=366), principal: Principal = Depends(current_principal),
              session: Session = Depends(read_session),
              now: dt.datetime = Depends(request_time)):
    return stats.breakdown(session, actor_of(principal), by, days, now)


@router.get("/series", summary="Reported and closed cases per day")
def series(days: int = Query(30, ge=1, le=366), principal: Principal = Depends(current_principal),
           session: Session = Depends(read_session),
           now: dt.datetime = Depends(request_time)):
    return stats.series(session, actor_of(principal), days, now)


@router.get("/areas", summary="Open and overdue cases per town, community or grid (map shading)")
def by_area(level: str = Query("town", description=" | ".join(stats.LEVEL_DEPTH), max_length=16),
            principal: Principal = Depends(current_principal), session: Session = Depends(read_session),
            now: dt.datetime = Depends(request_time)):
    return stats.by_area(session, actor_of(principal), level, now)


@router.get("/points", summary="Open cases as map markers (newest first)")
def points(limit: int = Query(stats.POINTS_LIMIT, ge=1, le=stats.POINTS_LIMIT),
           principal: Principal = Depends(current_principal), session: Session = Depends(read_session),
           now: dt.datetime = Depends(request_time)):
    return stats.points(session, actor_of(principal), now, limit)
