"""Dispute endpoints (thin router): register, list (with the 三单 views), read, act (DESIGN §4, screening)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, get_session, request_time
from liandong.screening import dispute_actions, dispute_present, disputes
from liandong.screening import dispute_states as ds
from liandong.screening.dispute_payloads import DisputeIn

router = APIRouter(prefix="/api/v1/disputes", tags=["screening"])
DisputeId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("", status_code=201, summary="Register a dispute (矛盾纠纷): 挂单 on the problem list")
def report(body: DisputeIn, request: Request, principal: Principal = Depends(current_principal),
           session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    dispute = disputes.open_dispute(session, request.app.state.grid_index.get(session), principal.identity, body,
                                    now)
    return JSONResponse(dispute_present.dispute_dict(session, dispute, principal.identity), status_code=201)


@router.get("", summary="Disputes visible to the caller, newest first; `list` gives one of the 三单")
def list_disputes(state: str | None = Query(None, max_length=16, description=" | ".join(ds.STATES)),
                  type: str | None = Query(None, max_length=16, description=" | ".join(ds.TYPES)),
                  risk: str | None = Query(None, max_length=8, description=" | ".join(ds.RISKS)),
                  tier: str | None = Query(None, max_length=12, description=" | ".join(ds.TIERS)),
                  list_name: str | None = Query(None, alias="list", max_length=16,
                                                description=" | ".join(ds.LISTS)),
                  q: str | None = Query(None, max_length=100),
                  limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**7),
                  principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    rows, total = disputes.page(session, principal.identity, state=state, type=type, risk=risk, tier=tier,
                                list_name=list_name, q=q, limit=limit, offset=offset)
    return {"total": total, "items": [dispute_present.brief(x) for x in rows]}


@router.get("/{dispute_id}", summary="One dispute with its history and the caller's allowed actions")
def get_dispute(dispute_id: DisputeId, principal: Principal = Depends(current_principal),
                session: Session = Depends(get_session)):
    return dispute_present.dispute_dict(session, disputes.get(session, dispute_id, principal.identity),
                                        principal.identity)


PAYLOADS = ("The action's payload (422 names the field at fault). Every action takes `version`, `note`, `reason`. "
            "Required: " + "; ".join(f"`{n}`: {', '.join(f)}" for n, f in dispute_actions.NEEDS.items()) + ".")


@router.post("/{dispute_id}/actions/{action}",
             summary="Act on a dispute; a refusal has a `code`, and 409 names the allowed actions")
def act(request: Request, dispute_id: DisputeId,
        action: Annotated[str, Path(max_length=32, description=" | ".join(dispute_actions.NAMES))],
        payload: dict | None = Body(default=None, description=PAYLOADS),
        principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
        now: dt.datetime = Depends(request_time)):
    dispute = dispute_actions.act(session, dispute_id, action, principal.identity, payload or {}, now,
                                  request.app.state.grid_index.get(session))
    return dispute_present.dispute_dict(session, dispute, principal.identity)
