"""Hazard endpoints (thin router): report, list, read, act (DESIGN §4, screening)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, get_session, request_time
from liandong.screening import hazard_actions, hazard_present, hazards
from liandong.screening import hazard_states as hs
from liandong.screening.hazard_payloads import HazardIn

router = APIRouter(prefix="/api/v1/hazards", tags=["screening"])
HazardId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("", status_code=201, summary="Register a safety hazard (安全隐患)")
def report(body: HazardIn, request: Request, principal: Principal = Depends(current_principal),
           session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    hazard = hazards.open_hazard(session, request.app.state.grid_index.get(session), principal.identity, body, now)
    return JSONResponse(hazard_present.hazard_dict(session, hazard, principal.identity), status_code=201)


@router.get("", summary="Hazards visible to the caller, newest first")
def list_hazards(state: str | None = Query(None, max_length=16, description=" | ".join(hs.STATES)),
                 grade: str | None = Query(None, max_length=8, description=" | ".join(hs.GRADES)),
                 sector: str | None = Query(None, max_length=24, description=" | ".join(hs.SECTORS)),
                 open_only: bool = Query(False, alias="open"), q: str | None = Query(None, max_length=100),
                 limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**7),
                 principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    rows, total = hazards.page(session, principal.identity, state=state, grade=grade, sector=sector,
                               open_only=open_only, q=q, limit=limit, offset=offset)
    return {"total": total, "items": [hazard_present.brief(h) for h in rows]}


@router.get("/{hazard_id}", summary="One hazard with its history and the caller's allowed actions")
def get_hazard(hazard_id: HazardId, principal: Principal = Depends(current_principal),
               session: Session = Depends(get_session)):
    return hazard_present.hazard_dict(session, hazards.get(session, hazard_id, principal.identity),
                                      principal.identity)


PAYLOADS = ("The action's payload (422 names the field at fault). Every action takes `version`, `note`, `reason`. "
            "Required: " + "; ".join(f"`{n}`: {', '.join(f)}" for n, f in hazard_actions.NEEDS.items()) + ".")


@router.post("/{hazard_id}/actions/{action}",
             summary="Act on a hazard; a refusal has a `code`, and 409 names the allowed actions")
def act(request: Request, hazard_id: HazardId,
        action: Annotated[str, Path(max_length=32, description=" | ".join(hazard_actions.NAMES))],
        payload: dict | None = Body(default=None, description=PAYLOADS),
        principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
        now: dt.datetime = Depends(request_time)):
    hazard = hazard_actions.act(session, hazard_id, action, principal.identity, payload or {}, now,
                                request.app.state.grid_index.get(session))
    return hazard_present.hazard_dict(session, hazard, principal.identity)
