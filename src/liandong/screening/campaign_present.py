"""Campaigns as the API shows them: the campaign with its area, checklist, teams, visit count, the caller's
allowed actions and whether they may record a visit; a visit with its grid, answers and the hazards and disputes
its findings became (number, title, state, for links to their pages)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.screening import campaigns
from liandong.screening.campaign_models import Campaign, CampaignVisit
from liandong.screening.dispute_models import Dispute
from liandong.screening.hazard_models import Hazard
from liandong.units.models import Unit


def _at(t) -> str | None:
    return t.isoformat() if t else None


def brief(c: Campaign) -> dict:
    return {"id": c.id, "code": c.code, "name": c.name, "theme": c.theme, "state": c.state, "version": c.version,
            "start": c.start.isoformat(), "end": c.end.isoformat(), "created_at": _at(c.created_at),
            "started_at": _at(c.started_at), "closed_at": _at(c.closed_at)}


def briefs(session: Session, rows: list[Campaign]) -> list[dict]:
    names = dict(session.execute(select(Area.id, Area.name).where(Area.id.in_({c.area_id for c in rows}))).all()) \
        if rows else {}
    return [{**brief(c), "area_name": names.get(c.area_id)} for c in rows]


def campaign_dict(session: Session, c: Campaign, caller: Identity) -> dict:
    area = session.get(Area, c.area_id)
    count = session.scalar(select(func.count()).select_from(CampaignVisit).where(CampaignVisit.campaign_id == c.id))
    return {**brief(c), "checklist": c.checklist,
            "area": {"code": area.code, "name": area.name, "level": area.level,
                     "bbox": [area.min_lon, area.min_lat, area.max_lon, area.max_lat]} if area else None,
            "teams": [{"id": u.id, "code": u.code, "name": u.name} for u in campaigns.teams(session, c.id)],
            "visits": int(count or 0), "updated_at": _at(c.updated_at),
            "allowed_actions": campaigns.allowed_for(c, caller),
            "can_visit": c.state == "running" and campaigns.team_unit(session, c, caller) is not None}


def visit_dicts(session: Session, rows: list[CampaignVisit]) -> list[dict]:
    grids = {r.id: r for r in session.execute(select(Area.id, Area.code, Area.name)
                                              .where(Area.id.in_({v.grid_id for v in rows})))} if rows else {}
    units = dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_({v.unit_id for v in rows}))).all()) \
        if rows else {}
    hazard_ids = {i for v in rows for i in v.hazard_ids or []}
    dispute_ids = {i for v in rows for i in v.dispute_ids or []}
    found = {("hazard", r.id): r for r in session.execute(
        select(Hazard.id, Hazard.number, Hazard.title, Hazard.state).where(Hazard.id.in_(hazard_ids)))} \
        if hazard_ids else {}
    found |= {("dispute", r.id): r for r in session.execute(
        select(Dispute.id, Dispute.number, Dispute.title, Dispute.state).where(Dispute.id.in_(dispute_ids)))} \
        if dispute_ids else {}

    def finding(kind: str, i: int) -> dict:
        r = found.get((kind, i))
        return {"kind": kind, "id": i, "number": r.number if r else None, "title": r.title if r else None,
                "state": r.state if r else None}

    out = []
    for v in rows:
        grid = grids.get(v.grid_id)
        out.append({"id": v.id, "grid_code": grid.code if grid else None, "grid_name": grid.name if grid else None,
                    "visit_key": v.visit_key, "visited_at": _at(v.visited_at), "recorded_at": _at(v.recorded_at),
                    "actor": v.actor, "unit": units.get(v.unit_id), "answers": v.answers, "note": v.note,
                    "problems": v.problems,
                    "findings": [finding("hazard", i) for i in v.hazard_ids or []]
                    + [finding("dispute", i) for i in v.dispute_ids or []]})
    return out
