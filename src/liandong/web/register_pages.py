"""``/hazards`` and ``/disputes`` (the registers: filters, a map of the listed items, a form to report) and
``/hazards/{id}``, ``/disputes/{id}`` (facts, masked reporter or parties, history from the log, a form for each
action the action table allows this user).

Shells, as the incident pages: ``register-list.js`` and ``register-item.js`` read and act through the JSON API,
so a page offers exactly the ``allowed_actions`` of the item. Open to the staff (``common.EMERGENCY_ROLES``);
anyone else signed in gets 403, nobody signed in the login page.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, get_session, optional_principal
from liandong.screening import dispute_actions, hazard_actions
from liandong.screening import dispute_states as ds
from liandong.screening import hazard_states as hs
from liandong.web.common import EMERGENCY_ROLES, page, signed_in, to_login

router = APIRouter(include_in_schema=False)
ItemId = Path(ge=1, le=2**31 - 1)

KINDS = {
    "hazards": {"words": "hz", "item_page": "hazard",
                "filters": {"state": hs.STATES, "grade": hs.GRADES, "sector": hs.SECTORS},
                "report_roles": hs.REPORT_ROLES, "needs": hazard_actions.NEEDS,
                "options": {"grade": hs.GRADES, "sector": hs.SECTORS, "kind": hs.REPORTER_KINDS}},
    "disputes": {"words": "md", "item_page": "dispute",
                 "filters": {"list": tuple(ds.LISTS), "state": ds.STATES, "type": ds.TYPES, "risk": ds.RISKS,
                             "tier": ds.TIERS},
                 "report_roles": ds.REPORT_ROLES, "needs": dispute_actions.NEEDS,
                 "options": {"type": ds.TYPES, "risk": ds.RISKS, "tier": ds.TIERS, "outcome": ds.OUTCOMES}},
}


def _shell(request: Request, principal: Principal | None, session: Session, template: str, kind: str,
           context: dict):
    if principal is None:
        return to_login(request)
    me = signed_in(request, principal, session)
    if not principal.has(*EMERGENCY_ROLES):
        return page(request, "forbidden.html", {**me, "needed": "scr.staff_only"}, status_code=403)
    spec = KINDS[kind]
    return page(request, template, {**me, "tile_url": request.app.state.settings.tile_url, "kind": kind,
                                    "filters": spec["filters"], "options": spec["options"], "needs": spec["needs"],
                                    "words": spec["words"], "item_page": spec["item_page"],
                                    "can_report": principal.has(*spec["report_roles"]), **context})


@router.get("/hazards")
def hazards_page(request: Request, principal: Principal | None = Depends(optional_principal),
                 session: Session = Depends(get_session)):
    return _shell(request, principal, session, "hazards.html", "hazards", {})


@router.get("/hazards/{item_id}")
def hazard_page(request: Request, item_id: int = ItemId, principal: Principal | None = Depends(optional_principal),
                session: Session = Depends(get_session)):
    return _shell(request, principal, session, "register_item.html", "hazards", {"item_id": item_id})


@router.get("/disputes")
def disputes_page(request: Request, principal: Principal | None = Depends(optional_principal),
                  session: Session = Depends(get_session)):
    return _shell(request, principal, session, "disputes.html", "disputes", {})


@router.get("/disputes/{item_id}")
def dispute_page(request: Request, item_id: int = ItemId, principal: Principal | None = Depends(optional_principal),
                 session: Session = Depends(get_session)):
    return _shell(request, principal, session, "register_item.html", "disputes", {"item_id": item_id})
