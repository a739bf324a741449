"""Screening campaigns (排查行动): making one (a checklist, a town or the district, a period, the teams), starting
and closing it, grid visits by the assigned teams whose findings become hazards and disputes through the
registers' own services, and coverage as an aggregate over the visits (never a stored counter). The service never
commits: a visit and the hazards and disputes its findings became are one transaction, so a finding refused
refuses the whole visit.

Sight follows the case rule's decision (``cases/visibility.rule``): everything; or a jurisdiction overlapping the
campaign's area (the area under it, or it under the area: a district campaign is every town's); or a unit assigned
to it (the caller's unit or one it heads, ``units/heading``). Making, starting and closing need a managing role and
the campaign's area within the caller's jurisdiction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import Select, false, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from liandong import audit
from liandong.areas.index import GridIndex, place
from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.cases.payloads import parse
from liandong.cases.visibility import narrowed, overlapping
from liandong.config import get_settings
from liandong.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Stale, role_needed
from liandong.screening import campaign_states as cs
from liandong.screening import disputes, hazards
from liandong.screening.campaign_models import Campaign, CampaignTeam, CampaignVisit
from liandong.screening.campaign_payloads import Act, CampaignIn, HazardFinding, VisitIn
from liandong.units.heading import headed
from liandong.units.models import Unit


def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def visible(stmt, caller: Identity):
    """``stmt`` (a select over campaigns) narrowed to those the caller sees: a campaign over or inside the
    jurisdiction (a district campaign is every town's), or one the caller's unit (or a unit it heads) works in."""
    return narrowed(stmt, caller, lambda path: overlapping(Campaign.area_path, path),
                    lambda units: Campaign.id.in_(select(CampaignTeam.campaign_id)
                                                  .where(CampaignTeam.unit_id.in_(units))))


def _manage(caller: Identity, action: str, area_path: str) -> None:
    if cs.MANAGE_ROLES.isdisjoint(caller.roles):
        raise role_needed(action, cs.MANAGE_ROLES)
    if not caller.scope.covers_path(area_path):
        raise Forbidden("the campaign's area lies outside your jurisdiction", code="campaign_outside_jurisdiction",
                        params={"action": action})


def _code(session: Session, now: dt.datetime) -> str:
    stem = f"PC-{now.astimezone(_zone()):%Y%m%d}-"
    taken = session.scalar(select(func.count()).select_from(Campaign).where(Campaign.code.startswith(stem)))
    return f"{stem}{(taken or 0) + 1:04d}"


def create(session: Session, caller: Identity, body: CampaignIn, now: dt.datetime) -> Campaign:
    """A planned campaign over a town or the district, with its teams; audited."""
    area = session.scalar(select(Area).where(Area.code == body.area_code))
    if area is None or area.level not in cs.AREA_LEVELS:
        raise Invalid(f"area {body.area_code!r} is not a town or a district", code="bad_campaign_area",
                      params={"area_code": body.area_code})
    _manage(caller, "create", area.path)
    units = set(body.unit_ids)
    found = set(session.scalars(select(Unit.id).where(Unit.id.in_(units))))
    if missing := sorted(units - found):
        raise Invalid(f"unit {missing[0]} does not exist", code="unknown_unit", params={"unit_id": missing[0]})
    code = body.code or _code(session, now)
    if session.scalar(select(Campaign.id).where(Campaign.code == code)) is not None:
        raise Conflict(f"a campaign coded {code!r} exists already", code="campaign_code_taken",
                       params={"code": code})
    campaign = Campaign(code=code, name=body.name, theme=body.theme,
                        checklist=[item.model_dump() for item in body.checklist], area_id=area.id,
                        area_path=area.path, start=body.start, end=body.end, state="planned", created_at=now,
                        created_by=caller.user_id, updated_at=now)
    session.add(campaign)
    session.flush()
    session.add_all(CampaignTeam(campaign_id=campaign.id, unit_id=u) for u in sorted(units))
    session.flush()
    audit.record(session, "campaign_created", actor_id=caller.user_id, actor_name=caller.name,
                 target=f"campaign:{campaign.id}",
                 detail={"code": code, "area": area.code, "units": sorted(units), "theme": body.theme})
    return campaign


def get(session: Session, campaign_id: int, caller: Identity) -> Campaign:
    campaign = session.scalar(visible(select(Campaign).where(Campaign.id == campaign_id), caller))
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found", code="campaign_not_found",
                       params={"campaign_id": campaign_id})
    return campaign


def page(session: Session, caller: Identity, *, state: str | None = None, mine: bool = False, limit: int = 50,
         offset: int = 0) -> tuple[list[Campaign], int]:
    """A page of the campaigns the caller sees; ``mine``: only those they record visits for (the phone app's)."""
    stmt = visible(select(Campaign), caller)
    if mine:
        units = _visiting(caller)
        stmt = stmt.where(false() if units is None else Campaign.id.in_(
            select(CampaignTeam.campaign_id).where(CampaignTeam.unit_id.in_(units))))
    if state is not None:
        if state not in cs.STATES:
            raise Invalid(f"state must be one of {', '.join(cs.STATES)}", code="unknown_state",
                          params={"state": state})
        stmt = stmt.where(Campaign.state == state)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(Campaign.start.desc(), Campaign.id.desc()).limit(limit).offset(offset))
    return list(rows), int(total or 0)


def teams(session: Session, campaign_id: int) -> list[Unit]:
    return list(session.scalars(select(Unit).join(CampaignTeam, CampaignTeam.unit_id == Unit.id)
                                .where(CampaignTeam.campaign_id == campaign_id).order_by(Unit.code)))


def _visiting(caller: Identity) -> Select | None:
    """The units whose visits the caller records (their own and those it heads, a SQL set); None when the caller
    records none (not a visiting role, or no unit). One rule for recording a visit and for ``mine``."""
    if cs.VISIT_ROLES.isdisjoint(caller.roles) or caller.unit_id is None:
        return None
    return headed(caller.unit_id)


def team_unit(session: Session, campaign: Campaign, caller: Identity) -> int | None:
    """The assigned unit the caller visits for (their own, or one their unit heads), if they may visit."""
    units = _visiting(caller)
    if units is None:
        return None
    return session.scalar(select(CampaignTeam.unit_id).where(
        CampaignTeam.campaign_id == campaign.id, CampaignTeam.unit_id.in_(units))
        .order_by(CampaignTeam.unit_id).limit(1))


# --- start / close -------------------------------------------------------------------------------------------


def allowed_for(campaign: Campaign, caller: Identity) -> list[str]:
    if cs.MANAGE_ROLES.isdisjoint(caller.roles) or not caller.scope.covers_path(campaign.area_path):
        return []
    return [a for a in cs.ACTIONS if campaign.state in cs.MOVES[a]]


def act(session: Session, campaign_id: int, action: str, caller: Identity, data: dict,
        now: dt.datetime) -> Campaign:
    if action not in cs.MOVES:
        raise NotFound(f"unknown action {action!r}; actions are {', '.join(cs.ACTIONS)}", code="unknown_action",
                       params={"action": action})
    campaign = get(session, campaign_id, caller)
    try:
        return _act(session, campaign, action, caller, data, now)
    except StaleDataError:
        raise Stale("the campaign was changed by someone else meanwhile; reload it and try again") from None


def _act(session: Session, campaign: Campaign, action: str, caller: Identity, data: dict,
         now: dt.datetime) -> Campaign:
    expected = data.get("version")
    if type(expected) is int and expected != campaign.version:
        raise Stale("the campaign was changed by someone else meanwhile; reload it and try again",
                    extra={"state": campaign.state, "stale": True})
    _manage(caller, action, campaign.area_path)
    if campaign.state not in cs.MOVES[action]:
        raise Conflict(f"action {action!r} is not allowed in state {campaign.state!r}", code="not_allowed_in_state",
                       params={"action": action, "state": campaign.state},
                       extra={"allowed_actions": allowed_for(campaign, caller), "state": campaign.state})
    body = parse(action, Act, data)
    was = campaign.state
    campaign.state, campaign.updated_at = cs.MOVES[action][was], now
    if action == "start":
        campaign.started_at = now
    else:
        campaign.closed_at = now
    flag_modified(campaign, "updated_at")
    session.flush()
    audit.record(session, f"campaign_{'started' if action == 'start' else 'closed'}", actor_id=caller.user_id,
                 actor_name=caller.name, target=f"campaign:{campaign.id}",
                 detail={"code": campaign.code, "from": was, **({"note": body.note} if body.note else {})})
    return campaign


# --- visits --------------------------------------------------------------------------------------------------


def record_visit(session: Session, index: GridIndex, caller: Identity, campaign_id: int, body: VisitIn,
                 now: dt.datetime) -> tuple[CampaignVisit, bool]:
    """A grid visit and its findings (hazards, disputes) in the caller's transaction; ``(visit, made)``: a
    ``visit_key`` seen before returns that visit, ``made`` False."""
    campaign = get(session, campaign_id, caller)
    unit_id = team_unit(session, campaign, caller)
    if unit_id is None:
        raise Forbidden("only the staff (grid workers, inspectors, handlers) of a team assigned to this campaign "
                        "record its visits", code="not_campaign_team", params={"campaign_id": campaign.id})
    if body.visit_key is not None and (seen := _by_key(session, campaign.id, body.visit_key)) is not None:
        return _same(session, seen, body), False
    if campaign.state != "running":
        raise Conflict(f"the campaign is {campaign.state}: visits are recorded while it runs",
                       code="campaign_not_running", params={"state": campaign.state})
    grid = session.scalar(select(Area).where(Area.code == body.grid_code, Area.level == "grid"))
    if grid is None or not grid.path.startswith(campaign.area_path):
        raise Invalid(f"{body.grid_code!r} is not a unit grid of the campaign's area", code="grid_not_in_campaign",
                      params={"grid_code": body.grid_code})
    keys = [item["key"] for item in campaign.checklist]
    if unknown := [k for k in body.answers if k not in keys]:
        raise Invalid(f"{unknown[0]!r} is not on the campaign's checklist", code="unknown_checklist_key",
                      params={"key": unknown[0]})
    if missing := [k for k in keys if k not in body.answers]:
        raise Invalid(f"the checklist's {missing[0]!r} is unanswered", code="unanswered_checklist_key",
                      params={"key": missing[0]})
    visited = body.visited_at or now
    if visited.tzinfo is None:
        visited = visited.replace(tzinfo=_zone())
    day = visited.astimezone(_zone()).date()
    if not campaign.start <= day <= campaign.end or visited > now + dt.timedelta(minutes=5):
        raise Invalid(f"the visit on {day} lies outside the campaign's period {campaign.start}–{campaign.end} "
                      "or ahead of now", code="visit_outside_period",
                      params={"day": day.isoformat(), "start": campaign.start.isoformat(),
                              "end": campaign.end.isoformat()})
    visit = CampaignVisit(campaign_id=campaign.id, grid_id=grid.id, visit_key=body.visit_key, visited_at=visited,
                          recorded_at=now, actor_id=caller.user_id, actor=caller.name, unit_id=unit_id,
                          answers=dict(body.answers), note=body.note,
                          problems=sum(1 for a in body.answers.values() if a == "problem"), hazard_ids=[],
                          dispute_ids=[])
    if body.visit_key is not None:
        try:
            with session.begin_nested():  # a concurrent retry of the same key: the first one's visit stands
                session.add(visit)
                session.flush()
        except IntegrityError:
            seen = _by_key(session, campaign.id, body.visit_key)
            if seen is None:
                raise
            return _same(session, seen, body), False
    else:
        session.add(visit)
        session.flush()
    hazard_ids, dispute_ids = [], []
    for i, finding in enumerate(body.findings):
        try:
            at, _, _ = place(index, finding.lon, finding.lat, finding.crs, caller.scope)
            if not at.path.startswith(campaign.area_path):
                raise Invalid("the finding lies outside the campaign's area", code="finding_outside_campaign")
            if isinstance(finding, HazardFinding):
                hazard_ids.append(hazards.open_hazard(session, index, caller, finding, now).id)
            else:
                dispute_ids.append(disputes.open_dispute(session, index, caller, finding, now).id)
        except DomainError as exc:
            exc.params = {**(exc.params or {}), "finding": i}
            exc.message = f"finding {i + 1}: {exc.message}"
            raise
    visit.hazard_ids, visit.dispute_ids = hazard_ids, dispute_ids
    session.flush()
    return visit, True


def _by_key(session: Session, campaign_id: int, key: str) -> CampaignVisit | None:
    return session.scalar(select(CampaignVisit).where(CampaignVisit.campaign_id == campaign_id,
                                                      CampaignVisit.visit_key == key))


def _same(session: Session, visit: CampaignVisit, body: VisitIn) -> CampaignVisit:
    code = session.scalar(select(Area.code).where(Area.id == visit.grid_id))
    if code != body.grid_code:
        raise Conflict(f"visit key {visit.visit_key!r} was used for grid {code}", code="visit_key_reused",
                       params={"visit_key": visit.visit_key, "grid_code": code})
    return visit


def visits(session: Session, campaign_id: int, *, limit: int = 100, offset: int = 0) -> tuple[list, int]:
    stmt = select(CampaignVisit).where(CampaignVisit.campaign_id == campaign_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(CampaignVisit.visited_at.desc(), CampaignVisit.id.desc())
                           .limit(limit).offset(offset))
    return list(rows), int(total or 0)


# --- coverage ------------------------------------------------------------------------------------------------


def coverage(session: Session, campaign: Campaign, level: str) -> dict:
    """Per area at ``level`` (grid, community, town) inside the campaign's area: its unit grids, those visited,
    the share, the visits, the problems answered and the findings; plus totals. Read off the visits."""
    if level not in cs.LEVELS:
        raise Invalid(f"level must be one of {', '.join(cs.LEVELS)}", code="unknown_level", params={"level": level})
    under = Area.path.startswith(campaign.area_path, autoescape=True)
    areas = {row.id: row for row in session.execute(
        select(Area.id, Area.code, Area.name, Area.level, Area.parent_id)
        .where(under, Area.level.in_(("grid", "community", "town"))))}
    per_grid: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # visits, problems, findings
    for grid_id, problems, hazard_ids, dispute_ids in session.execute(
            select(CampaignVisit.grid_id, CampaignVisit.problems, CampaignVisit.hazard_ids,
                   CampaignVisit.dispute_ids).where(CampaignVisit.campaign_id == campaign.id)):
        tally = per_grid[grid_id]
        tally[0] += 1
        tally[1] += problems
        tally[2] += len(hazard_ids or []) + len(dispute_ids or [])

    def owner(grid) -> int | None:
        if level == "grid":
            return grid.id
        community = areas.get(grid.parent_id)
        if level == "community" or community is None:
            return community.id if community else None
        return community.parent_id if community.parent_id in areas else None

    groups: dict[int, dict] = {}
    for grid in (a for a in areas.values() if a.level == "grid"):
        key = owner(grid)
        if key is None:
            continue
        head = areas[key]
        g = groups.setdefault(key, {"code": head.code, "name": head.name, "grids": 0, "visited": 0, "visits": 0,
                                    "problems": 0, "findings": 0})
        visits_, problems, findings = per_grid.get(grid.id, (0, 0, 0))
        g["grids"] += 1
        g["visited"] += 1 if visits_ else 0
        g["visits"] += visits_
        g["problems"] += problems
        g["findings"] += findings
    items = sorted(groups.values(), key=lambda g: g["code"])
    totals = {k: sum(g[k] for g in items) for k in ("grids", "visited", "visits", "problems", "findings")}
    for g in (*items, totals):
        g["share"] = round(g["visited"] / g["grids"], 4) if g["grids"] else 0.0
    return {"campaign_id": campaign.id, "level": level, "items": items, "totals": totals}


def areas_for(session: Session, caller: Identity) -> list[tuple[str, str, str]]:
    """The areas the caller may plan a campaign over: the district and the towns in their jurisdiction."""
    stmt = select(Area.code, Area.name, Area.level).where(Area.level.in_(cs.AREA_LEVELS))
    if caller.scope.path is not None:
        stmt = stmt.where(Area.path.startswith(caller.scope.path, autoescape=True))
    return [tuple(r) for r in session.execute(stmt.order_by(Area.path, Area.code))]
