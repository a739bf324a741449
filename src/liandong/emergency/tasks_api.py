"""Plan task endpoints (thin router): one task, acting on it, and the period's task figures."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, get_session, request_time
from liandong.emergency import present, task_actions, task_figures, tasks

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])
TaskId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/figures", summary="How the plan tasks of the last days went (real incidents, or drills alone)")
def figures(days: int = Query(30, ge=1, le=3660),
            exercise: bool = Query(False, description="the drills' figures instead of the real ones"),
            principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
            now: dt.datetime = Depends(request_time)):
    return task_figures.figures(session, principal.identity, days, exercise, now)


@router.get("/{task_id}", summary="One task, with what the caller may do on it")
def get_task(task_id: TaskId, principal: Principal = Depends(current_principal),
             session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    task = tasks.get(session, task_id, principal.identity)
    return present.task_list(session, [task], principal.identity, now)[0]


PAYLOADS = ("`ack` takes `on_behalf` (the commander recording a unit's acknowledgement given by phone) and `note`; "
            "`done` needs `report`; every action takes `version` (a stale one is refused with 409 `stale`).")


@router.post("/{task_id}/actions/{action}",
             summary="Act on a task: ack, start, done; a refusal has a `code`, and 409 names the allowed actions")
def act(task_id: TaskId, action: Annotated[str, Path(max_length=16, description=" | ".join(task_actions.NAMES))],
        payload: dict | None = Body(default=None, description=PAYLOADS),
        principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
        now: dt.datetime = Depends(request_time)):
    task = task_actions.act(session, task_id, action, principal.identity, payload or {}, now)
    return present.task_list(session, [task], principal.identity, now)[0]
