"""``/incidents`` (the list, filters, reporting one), ``/incidents/{id}`` (the board: map, levels and state, the
五早 timeline, plans and tasks, the command log, cases, warnings), ``/plans`` (the library, one plan, checking a
plan file) and ``/warnings`` (CAP warnings issued and received, on a map; importing a CAP document).

Shells, as the case pages: the scripts read and act through the JSON API, so the board offers exactly what the
action tables allow this user (``allowed_actions`` of the incident and of each task). Open to the staff who act on
incidents (``common.EMERGENCY_ROLES``); anyone else signed in gets 403, nobody signed in the login page.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, get_session, optional_principal
from liandong.emergency.actions import NEEDS
from liandong.emergency.cap.issued import STATES as ISSUED_STATES
from liandong.emergency.cap.receive import IMPORT_ROLES
from liandong.emergency.cap.receive import STATES as RECEIVED_STATES
from liandong.emergency.states import CATEGORIES, CREATE_ROLES, LOG_KINDS, LOG_ROLES, STATES
from liandong.web.common import EMERGENCY_ROLES, page, signed_in, to_login

router = APIRouter(include_in_schema=False)
COMMAND_ROLES = ("commander", "leader")
"""Who activates plans, acknowledges a task on a unit's behalf and issues warnings (the action tables decide)."""


def _shell(request: Request, principal: Principal | None, session: Session, template: str, context: dict):
    if principal is None:
        return to_login(request)
    me = signed_in(request, principal, session)
    if not principal.has(*EMERGENCY_ROLES):
        return page(request, "forbidden.html", {**me, "needed": "inc.citizen_forbidden"}, status_code=403)
    return page(request, template, {**me, "tile_url": request.app.state.settings.tile_url,
                                    "commands": principal.has(*COMMAND_ROLES), **context})


@router.get("/incidents")
def incidents_page(request: Request, principal: Principal | None = Depends(optional_principal),
                   session: Session = Depends(get_session)):
    can_report = principal is not None and principal.has(*CREATE_ROLES)
    return _shell(request, principal, session, "incidents.html",
                  {"states": STATES, "categories": CATEGORIES, "can_report": can_report, "levels": (1, 2, 3, 4)})


@router.get("/incidents/{incident_id}")
def incident_board(request: Request, incident_id: int = Path(ge=1, le=2**31 - 1),
                   principal: Principal | None = Depends(optional_principal), session: Session = Depends(get_session)):
    can_log = principal is not None and principal.has(*LOG_ROLES)
    return _shell(request, principal, session, "incident.html",
                  {"incident_id": incident_id, "needs": NEEDS, "log_kinds": LOG_KINDS, "can_log": can_log,
                   "levels": (1, 2, 3, 4)})


@router.get("/plans")
def plans_page(request: Request, code: str = Query("", max_length=40), version: str = Query("", max_length=32),
               principal: Principal | None = Depends(optional_principal), session: Session = Depends(get_session)):
    return _shell(request, principal, session, "plans.html", {"code": code, "version": version})


@router.get("/warnings")
def warnings_page(request: Request, tab: str = Query("issued", pattern="^(issued|received)$"),
                  selected: int = Query(0, alias="id", ge=0, le=2**31 - 1),
                  principal: Principal | None = Depends(optional_principal), session: Session = Depends(get_session)):
    can_import = principal is not None and principal.has(*IMPORT_ROLES)
    return _shell(request, principal, session, "warnings.html",
                  {"tab": tab, "selected": selected or "", "can_import": can_import,
                   "issued_states": ISSUED_STATES, "received_states": RECEIVED_STATES,
                   "cap_statuses": ("Actual", "Exercise", "System", "Test", "Draft")})
