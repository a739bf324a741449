"""Early-warning endpoints (thin router): scan now, list, read with evidence, decide (watch, dismiss, promote)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, get_session, request_time
from liandong.errors import Invalid, role_needed
from liandong.screening import early_warning_actions as actions
from liandong.screening import early_warning_present as present
from liandong.screening import early_warning_queries as queries
from liandong.screening import early_warnings
from liandong.screening.early_warning_states import ACTIONS, SCAN_ROLES, STATUSES

router = APIRouter(prefix="/api/v1/early-warnings", tags=["early warnings"])
WarningId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/scan", summary="Scan the recent reports now (shift leader, admin): the warnings found")
def scan(request: Request, at: dt.datetime | None = Query(None, description="scan time (default: now); an offset "
                                                                              "is needed, else UTC"),
         principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
         now: dt.datetime = Depends(request_time)):
    caller = principal.identity
    if SCAN_ROLES.isdisjoint(caller.roles):
        raise role_needed("scan", SCAN_ROLES, "a scan")
    at = now if at is None else (at if at.tzinfo else at.replace(tzinfo=dt.UTC))
    if at > now + dt.timedelta(minutes=5):
        raise Invalid("a scan time lies in the future", code="scan_in_future")
    outcome = early_warnings.scan(session, at, request.app.state.grid_index.get(session))
    found = [w for w in outcome.found if queries.sees(caller, w.area_path)]
    return {"at": outcome.at, "reports": outcome.reports, "seconds": outcome.seconds,
            "created": [w.id for w in outcome.created], "updated": [w.id for w in outcome.updated],
            "suppressed": outcome.suppressed, "items": present.items(session, found, caller),
            "baseline": outcome.baseline}


@router.get("", summary="Early warnings centred in the caller's jurisdiction, newest first")
def list_warnings(status: str | None = Query(None, max_length=12, description=" | ".join((*STATUSES, "open"))),
                  limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**7),
                  principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    rows, total = queries.page(session, principal.identity, status=status, limit=limit, offset=offset)
    return {"total": total, "items": present.items(session, rows, principal.identity)}


@router.get("/{warning_id}", summary="One early warning with its evidence: the cases and the area (GeoJSON)")
def get_warning(request: Request, warning_id: WarningId, principal: Principal = Depends(current_principal),
                session: Session = Depends(get_session)):
    warning = queries.get(session, warning_id, principal.identity)
    return present.detail(session, warning, principal.identity, request.app.state.grid_index.get(session))


@router.post("/{warning_id}/actions/{action}",
             summary="Watch, dismiss or promote (to an incident) an early warning; 409 names the allowed actions")
def act(request: Request, warning_id: WarningId,
        action: Annotated[str, Path(max_length=16, description=" | ".join(ACTIONS))],
        payload: dict | None = Body(default=None, description="`version`, `note`; promote: `title`, `category`, "
                                                              "`type`, `grade` of the incident"),
        principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
        now: dt.datetime = Depends(request_time)):
    index = request.app.state.grid_index.get(session)
    warning = actions.act(session, warning_id, action, principal.identity, payload or {}, now, index)
    return present.detail(session, warning, principal.identity, index)
