"""The duplicate review queue (thin router over cases/dedupe.py)."""

import datetime as dt

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, get_session, request_time, require
from liandong.cases import dedupe
from liandong.cases.api import actor_of

router = APIRouter(prefix="/api/v1/duplicates", tags=["cases"])
DESK = ("receptionist", "shift_leader")


@router.get("", summary="Pairs that may report the same problem, waiting for a decision (likeliest first)")
def review_queue(limit: int = Query(100, ge=1, le=500), principal: Principal = Depends(require(*DESK)),
                 session: Session = Depends(get_session)):
    return dedupe.queue(session, actor_of(principal), limit)


@router.post("/{pair_id}/{decision}", summary="merge (into the older case) or dismiss a pair")
def decide(request: Request, pair_id: int = Path(ge=1, le=2**31), decision: str = Path(pattern="^(merge|dismiss)$"),
           principal: Principal = Depends(require(*DESK)), session: Session = Depends(get_session),
           now: dt.datetime = Depends(request_time)):
    return dedupe.decide(session, request.app.state.grid_index.get(session), pair_id, decision == "merge",
                         actor_of(principal), request.app.state.calendar.get(session), now)
