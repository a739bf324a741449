"""``/campaigns`` (the screening campaigns: a list with a state filter, a form to plan one for shift leaders,
leaders and administrators) and ``/campaigns/{id}`` (checklist, teams, start/close, a Leaflet coverage map colouring
communities or grids by visited share, and the visits with their findings linking to /hazards/{id} and
/disputes/{id}).

Shells, as the register pages: ``campaigns.js`` and ``campaign.js`` read and act through the JSON API. Open to the
staff (``common.EMERGENCY_ROLES``); anyone else signed in gets 403, nobody signed in the login page.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, get_session, optional_principal
from liandong.screening import campaign_states as cs
from liandong.screening import campaigns
from liandong.units import service as units
from liandong.web.common import EMERGENCY_ROLES, page, signed_in, to_login

router = APIRouter(include_in_schema=False)
CampaignId = Path(ge=1, le=2**31 - 1)
CAMPAIGN_ROLES = (*EMERGENCY_ROLES, "admin")
"""Who opens the campaign pages: the staff, and the administrators who may plan campaigns."""


def _shell(request: Request, principal: Principal | None, session: Session, template: str, context: dict):
    if principal is None:
        return to_login(request)
    me = signed_in(request, principal, session)
    if not principal.has(*CAMPAIGN_ROLES):
        return page(request, "forbidden.html", {**me, "needed": "pc.staff_only"}, status_code=403)
    return page(request, template, {**me, "tile_url": request.app.state.settings.tile_url, "states": cs.STATES,
                                    "themes": cs.THEMES, "answers": cs.ANSWERS, "levels": cs.LEVELS, **context})


@router.get("/campaigns")
def campaigns_page(request: Request, principal: Principal | None = Depends(optional_principal),
                   session: Session = Depends(get_session)):
    can_plan = principal is not None and principal.has(*cs.MANAGE_ROLES)
    context: dict = {"can_plan": can_plan, "areas": [], "units": []}
    if can_plan:
        context["areas"] = campaigns.areas_for(session, principal.identity)
        rows, _ = units.list_units(session, principal.scope, limit=2000)
        context["units"] = [(u.id, u.code, u.name) for u in rows]
    return _shell(request, principal, session, "campaigns.html", context)


@router.get("/campaigns/{campaign_id}")
def campaign_page(request: Request, campaign_id: int = CampaignId,
                  principal: Principal | None = Depends(optional_principal), session: Session = Depends(get_session)):
    return _shell(request, principal, session, "campaign.html", {"campaign_id": campaign_id})
