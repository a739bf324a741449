"""The plan library's endpoints (thin router): the current plans, and one plan with its versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, get_session
from liandong.emergency import present
from liandong.emergency.plans import library

router = APIRouter(prefix="/api/v1/plans", tags=["plans"])


@router.get("", summary="The contingency plans (预案), each in its current version")
def list_plans(principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return [present.plan_brief(p) for p in library.current(session)]


@router.get("/{code}", summary="One plan: its document (levels, conditions, tasks, notices, resources) and versions")
def get_plan(code: Annotated[str, Path(max_length=40)],
             version: str | None = Query(None, max_length=32, description="a loaded version; default: the current"),
             principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    plan = library.get(session, code, version)
    return present.plan_dict(plan, library.versions(session, code))
