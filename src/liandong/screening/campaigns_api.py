"""Campaign endpoints (thin router): make, list, read, start/close, record a grid visit, list visits, coverage."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, get_session, request_time
from liandong.screening import campaign_present, campaigns
from liandong.screening import campaign_states as cs
from liandong.screening.campaign_payloads import CampaignIn, VisitIn

router = APIRouter(prefix="/api/v1/campaigns", tags=["screening"])
CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("", status_code=201, summary="Plan a screening campaign (排查行动): shift leaders, leaders, admins")
def create(body: CampaignIn, principal: Principal = Depends(current_principal),
           session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    campaign = campaigns.create(session, principal.identity, body, now)
    return JSONResponse(campaign_present.campaign_dict(session, campaign, principal.identity), status_code=201)


@router.get("", summary="Campaigns visible to the caller, latest first")
def list_campaigns(state: str | None = Query(None, max_length=12, description=" | ".join(cs.STATES)),
                   mine: bool = Query(False, description="only the campaigns whose visits the caller records (a team "
                                                         "of theirs, or one their unit heads, is assigned)"),
                   limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**7),
                   principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    rows, total = campaigns.page(session, principal.identity, state=state, mine=mine, limit=limit, offset=offset)
    return {"total": total, "items": campaign_present.briefs(session, rows)}


@router.get("/{campaign_id}", summary="One campaign: checklist, area, teams, the caller's allowed actions")
def get_campaign(campaign_id: CampaignId, principal: Principal = Depends(current_principal),
                 session: Session = Depends(get_session)):
    return campaign_present.campaign_dict(session, campaigns.get(session, campaign_id, principal.identity),
                                          principal.identity)


@router.post("/{campaign_id}/actions/{action}", summary="start | close a campaign (optional `version`, `note`)")
def act(campaign_id: CampaignId,
        action: Annotated[str, Path(max_length=16, description=" | ".join(cs.ACTIONS))],
        payload: dict | None = Body(default=None), principal: Principal = Depends(current_principal),
        session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    campaign = campaigns.act(session, campaign_id, action, principal.identity, payload or {}, now)
    return campaign_present.campaign_dict(session, campaign, principal.identity)


@router.post("/{campaign_id}/visits", status_code=201,
             summary="Record a grid visit (assigned teams); findings become hazards and disputes; a known "
                     "`visit_key` returns its visit with 200")
def record_visit(campaign_id: CampaignId, body: VisitIn, request: Request,
                 principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
                 now: dt.datetime = Depends(request_time)):
    visit, made = campaigns.record_visit(session, request.app.state.grid_index.get(session), principal.identity,
                                         campaign_id, body, now)
    return JSONResponse(campaign_present.visit_dicts(session, [visit])[0], status_code=201 if made else 200)


@router.get("/{campaign_id}/visits", summary="The campaign's visits, latest first, with their findings")
def list_visits(campaign_id: CampaignId, limit: int = Query(100, ge=1, le=1000),
                offset: int = Query(0, ge=0, le=10**7), principal: Principal = Depends(current_principal),
                session: Session = Depends(get_session)):
    campaign = campaigns.get(session, campaign_id, principal.identity)
    rows, total = campaigns.visits(session, campaign.id, limit=limit, offset=offset)
    return {"total": total, "items": campaign_present.visit_dicts(session, rows)}


@router.get("/{campaign_id}/coverage", summary="Grids visited against grids in the area, per grid, community or "
                                               "town, with totals")
def coverage(campaign_id: CampaignId, level: str = Query("community", max_length=12,
                                                         description=" | ".join(cs.LEVELS)),
             principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return campaigns.coverage(session, campaigns.get(session, campaign_id, principal.identity), level)
