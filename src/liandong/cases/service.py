"""Case rules: reporting, every action through the transition table, routing, reading within scope.

The service changes a case and appends its event in the caller's transaction and never commits; the
case row carries an optimistic version, so of two concurrent actions on one case exactly one wins and
the other gets a Conflict (HTTP 409).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, event, func, or_, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError

from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.areas.scope import EVERYTHING, NOTHING, Scope
from liandong.cases import log, sla, states
from liandong.cases.calendar import WorkCalendar
from liandong.cases.models import Case, CaseEvent, CaseUnit, Extension
from liandong.catalogue import snapshot
from liandong.catalogue.models import URGENCIES, Matter
from liandong.config import get_settings
from liandong.db import UTCDateTime, utcnow
from liandong.errors import Conflict, Forbidden, Invalid, NotFound
from liandong.privacy import id_number_problem, mask_id_number, mask_name, mask_phone
from liandong.units.models import Unit

UNMASKED_ROLES = frozenset({"receptionist", "shift_leader"})
"""Roles that call reporters back and so see their phone numbers (each read is audited)."""


@dataclass
class Actor:
    """Who acts: a user (with roles, unit and jurisdiction), or a system channel without a user."""

    roles: frozenset[str]
    unit_id: int | None
    scope: Scope = EVERYTHING
    user_id: int | None = None
    username: str | None = None
    assigned_only: bool = False
    """A department's unit: it sees only the cases assigned to it (or to the units it heads)."""

    @property
    def name(self) -> str:
        return self.username or "system"


class StaleCase(Conflict):
    pass


def _hash(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def report(session: Session, index: GridIndex, actor: Actor, *, matter_code: str, description: str, lon: float,
           lat: float, crs: str = "wgs84", channel: str, urgency: str | None = None, reporter: dict | None = None,
           idempotency_key: str | None = None, component_code: str | None = None,
           now: dt.datetime | None = None) -> tuple[Case, bool]:
    """Create a case in state ``reported``; returns (case, created). A repeated Idempotency-Key with the
    same request returns the first case; with a different request it is a Conflict."""
    from liandong.areas.index import locate

    now = now or utcnow()
    body = {"matter_code": matter_code, "description": description, "lon": lon, "lat": lat, "crs": crs,
            "channel": channel, "urgency": urgency, "reporter": reporter, "component_code": component_code}
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 100:
            raise Invalid("Idempotency-Key must have 1–100 characters")
        idempotency_key = _creator_key(actor, idempotency_key)
        existing = session.scalar(select(Case).where(Case.idempotency_key == idempotency_key))
        if existing is not None:
            if existing.request_hash != _hash(body):
                raise Conflict("this Idempotency-Key was used for a different request")
            return existing, False
    if channel not in states.CHANNELS:
        raise Invalid(f"unknown channel {channel!r}; use one of {', '.join(states.CHANNELS)}")
    matter = snapshot.current(session).by_code.get(matter_code)
    if matter is None or not matter.active:
        raise Invalid(f"unknown matter {matter_code!r}")
    component = None
    if component_code is not None:
        from liandong.components.models import Component

        component = session.scalar(select(Component).where(Component.code == component_code))
        if component is None or not actor.scope.covers_path(component.area_path):
            raise Invalid(f"unknown component {component_code!r}")
        if matter.component_code != component.type_code:
            raise Invalid(f"component {component_code} is a {component.name}; matter {matter_code} is about "
                          f"{matter.name}")
    urgency = urgency or matter.default_urgency
    if urgency not in URGENCIES:
        raise Invalid(f"urgency must be one of {', '.join(URGENCIES)}")
    description = (description or "").strip()
    if not 1 <= len(description) <= 2000:
        raise Invalid("description must have 1–2000 characters")
    reporter = reporter or {}
    name, phone, id_number = reporter.get("name"), reporter.get("phone"), reporter.get("id_number")
    if (name is not None and (not isinstance(name, str) or len(name) > 100)) or (
            phone is not None and (not isinstance(phone, str) or len(phone) > 32)):
        raise Invalid("reporter name must be text of at most 100 characters, phone at most 32")
    if id_number is not None:
        id_number = str(id_number).strip().upper()
        problem = id_number_problem(id_number)
        if problem:
            raise Invalid(f"reporter id_number: {problem}")
    try:
        found = locate(index, lon, lat, crs)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    if found is None:
        raise Invalid("no unit grid at this point: it lies outside the district")
    grid = index.by_id[found["grid"]["id"]]
    if not actor.scope.covers_path(grid.path):
        raise Invalid("this point lies outside your jurisdiction")
    values = dict(
        _NEW_CASE, state="reported", version=1, matter_id=matter.id, urgency=urgency, channel=channel,
        component_id=component.id if component else None,
        description=description, lon=found["point"]["lon"], lat=found["point"]["lat"], grid_id=grid.id,
        area_path=grid.path, reporter_name=name, reporter_phone=phone, reporter_id_number=id_number,
        idempotency_key=idempotency_key, request_hash=_hash(body) if idempotency_key else None,
        created_by=actor.user_id, created_at=now, updated_at=now, number=f"T{uuid.uuid4().hex[:24]}",
    )
    # Core statements, then the row handed to the session as already stored: the intake path is the busiest
    # write there is, and a unit-of-work flush of a 40-column row costs several times the INSERT itself
    conn = session.connection()
    case_id = conn.execute(_INSERT_CASE, values).scalar_one()
    values.update(id=case_id, number=f"{grid.code[:6]}-{now:%Y%m%d}-{case_id:07d}")
    conn.execute(_NUMBER_CASE, {"case_id": case_id, "new_number": values["number"]})
    case = Case(**values)
    make_transient_to_detached(case)
    session.add(case)
    session.info.setdefault("core_rows", []).append((session.get_nested_transaction() or session.get_transaction(),
                                                     case))
    _event(session, case, actor, "report", None, "reported", {"channel": channel, "matter": matter_code}, now, seq=1)
    return case, True


_CASES = Case.__table__
_NEW_CASE = {c.key: None for c in _CASES.c if c.key != "id"} | {
    "out_of_area": False, "rework_count": 0, "escalation_count": 0, "escalation_level": 0}
_INSERT_CASE = _CASES.insert().returning(_CASES.c.id)
_NUMBER_CASE = _CASES.update().where(_CASES.c.id == bindparam("case_id")).values(number=bindparam("new_number"))


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back_rows(session: Session, previous_transaction) -> None:
    """A case inserted with Core is not one the unit of work knows it added, so a rollback (of a savepoint
    too) would leave it in the session although its row is gone: take it out here."""
    kept = []
    for tx, obj in session.info.get("core_rows", ()):
        inner = tx
        while inner is not None and inner is not previous_transaction:
            inner = inner.parent
        if inner is None:
            kept.append((tx, obj))
        elif obj in session:
            session.expunge(obj)
    session.info["core_rows"] = kept


@event.listens_for(Session, "after_commit")
def _committed_rows(session: Session) -> None:
    session.info.pop("core_rows", None)


def _creator_key(actor: Actor, key: str) -> str:
    """Idempotency-Keys belong to whoever sent them: a user's key is stored under their id (hashed to fit),
    so two users' keys never collide; system channels already namespace theirs ("hotline:…")."""
    if actor.user_id is None:
        return key
    return f"u{actor.user_id}:{hashlib.sha256(key.encode()).hexdigest()[:48]}"


def _event(session: Session, case: Case, actor: Actor, action: str, from_state: str | None, to_state: str,
           payload: dict, now: dt.datetime, seq: int | None = None) -> CaseEvent:
    return log.append(session, case.id, action, from_state, to_state, payload, now, actor=actor.name,
                      actor_id=actor.user_id, unit_id=actor.unit_id, seq=seq)


# --- reading ----------------------------------------------------------------------------------

def visible(stmt, actor: Actor):
    """Cases in the actor's jurisdiction, and those assigned to its unit or the units it heads (not
    withdrawn); a department's unit sees only the latter."""
    if actor.scope.unrestricted and not actor.assigned_only:
        return stmt
    if actor.scope == NOTHING:  # no staff role: no case at all, whatever its unit holds
        return stmt.where(Case.id.is_(None))
    conditions = [] if actor.assigned_only else [Case.area_path.startswith(actor.scope.path, autoescape=True)]
    if actor.unit_id is not None:
        units = select(Unit.id).where(or_(Unit.id == actor.unit_id, Unit.parent_id == actor.unit_id))
        assigned = select(CaseUnit.case_id).where(CaseUnit.unit_id.in_(units), CaseUnit.status != "withdrawn")
        conditions.append(Case.id.in_(assigned))
    return stmt.where(or_(*conditions)) if conditions else stmt.where(Case.id.is_(None))


def get(session: Session, case_id: int, actor: Actor) -> Case:
    """A case the actor may see (its jurisdiction, or assigned to its unit); 404 otherwise."""
    case = session.scalar(visible(select(Case).where(Case.id == case_id), actor))
    if case is None:
        raise NotFound(f"case {case_id} not found")
    return case


@dataclass
class CaseQuery:
    """Filters for case lists and exports; every field optional."""

    state: str | None = None
    channel: str | None = None
    matter_code: str | None = None
    area_code: str | None = None
    unit_id: int | None = None
    overdue: bool | None = None
    light: str | None = None
    created_from: dt.date | None = None
    created_to: dt.date | None = None
    q: str | None = None
    mine: bool = False
    """Only the cases waiting for one of the actor's roles (a handler: its unit's open assignments)."""
    sort: str = "-created_at"


SORTS = {"created_at": Case.created_at.asc(), "-created_at": Case.created_at.desc(),
         "updated_at": Case.updated_at.asc(), "-updated_at": Case.updated_at.desc(),
         "stage_deadline": Case.stage_deadline.asc(), "-stage_deadline": Case.stage_deadline.desc()}
LIGHT_SCAN_LIMIT = 5000


def _filtered(session: Session, actor: Actor, query: CaseQuery, now: dt.datetime):
    stmt = visible(select(Case), actor)
    if query.state:
        if query.state not in states.STATES:
            raise Invalid(f"unknown state {query.state!r}")
        stmt = stmt.where(Case.state == query.state)
    if query.channel:
        stmt = stmt.where(Case.channel == query.channel)
    if query.matter_code:
        stmt = stmt.where(Case.matter_id.in_(select(Matter.id).where(Matter.code == query.matter_code)))
    if query.area_code:
        area = session.scalar(select(Area).where(Area.code == query.area_code))
        if area is None or not actor.scope.covers_path(area.path):
            raise NotFound(f"area {query.area_code!r} not found")
        stmt = stmt.where(Case.area_path.startswith(area.path, autoescape=True))
    if query.unit_id:
        stmt = stmt.where(Case.id.in_(select(CaseUnit.case_id).where(CaseUnit.unit_id == query.unit_id)))
    if query.overdue is not None:
        late = (Case.stage_deadline < now) & Case.paused_remaining_minutes.is_(None)
        stmt = stmt.where(late if query.overdue else ~late | Case.stage_deadline.is_(None))
    tz = ZoneInfo(get_settings().timezone)
    for day in (query.created_from, query.created_to):
        if day is not None and not 1970 <= day.year <= 2100:
            raise Invalid("dates must lie between 1970 and 2100")
    if query.created_from:
        stmt = stmt.where(Case.created_at >= dt.datetime.combine(query.created_from, dt.time(), tzinfo=tz))
    if query.created_to:
        end = dt.datetime.combine(query.created_to + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        stmt = stmt.where(Case.created_at < end)
    if query.q:
        stmt = stmt.where(Case.description.icontains(query.q, autoescape=True)
                          | Case.number.icontains(query.q, autoescape=True))  # any part of the number
    if query.mine:
        stmt = stmt.where(_waiting_for(actor))
    if query.sort not in SORTS:
        raise Invalid(f"sort must be one of {', '.join(SORTS)}")
    return stmt.order_by(SORTS[query.sort], Case.id.desc())


def _waiting_for(actor: Actor):
    """Cases whose next move is the actor's (states.WAITING_FOR), extension requests waiting for a
    dispatcher, and, for handlers, their unit's own open parts (lead or assisting)."""
    centre = sorted(s for s, role in states.WAITING_FOR.items() if role in actor.roles and role != "handler")
    conditions = [Case.state.in_(centre)] if centre else []
    if "dispatcher" in actor.roles:
        conditions.append(Case.id.in_(select(Extension.case_id).where(Extension.status == "pending")))
    if "handler" in actor.roles and actor.unit_id is not None:
        mine = select(CaseUnit.case_id).where(CaseUnit.unit_id == actor.unit_id,
                                              CaseUnit.status.in_(("dispatched", "signed")))
        conditions.append(Case.id.in_(mine) & Case.state.in_(sorted(states.HANDLING_STATES)))
    return or_(*conditions) if conditions else Case.id.is_(None)


def list_cases(session: Session, actor: Actor, query: CaseQuery | None = None, *, limit: int = 50, offset: int = 0,
               calendar: WorkCalendar | None = None, now: dt.datetime | None = None) -> tuple[list[Case], int]:
    """A page of the cases matching ``query`` that the actor may see, and how many match in all.

    The light is computed in working time, so a light filter scans at most LIGHT_SCAN_LIMIT matches.
    """
    query, now = query or CaseQuery(), now or utcnow()
    stmt = _filtered(session, actor, query, now)
    if query.light:
        if query.light not in ("green", "yellow", "red"):
            raise Invalid("light must be green, yellow or red")
        cal = calendar or calendar_for(session)
        hits = [c for c in session.scalars(stmt.where(Case.stage.is_not(None)).limit(LIGHT_SCAN_LIMIT))
                if sla.status(c, cal, now)["light"] == query.light]
        return hits[offset: offset + limit], len(hits)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return list(session.scalars(stmt.limit(limit).offset(offset))), int(total or 0)


CSV_COLUMNS = ("number", "state", "matter_code", "matter_name", "line", "urgency", "channel", "grid_code",
               "description", "lon", "lat", "created_at", "closed_at", "stage", "stage_deadline", "light",
               "rework_count", "satisfaction", "reporter_phone")


def export_csv(session: Session, actor: Actor, query: CaseQuery, calendar: WorkCalendar, now: dt.datetime,
               max_rows: int = 100_000) -> str:
    """The matching cases as CSV (UTF-8 with BOM so spreadsheet programs read Chinese); reporters masked."""
    import csv
    import io

    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    rows, _ = list_cases(session, actor, query, limit=max_rows, calendar=calendar, now=now)
    matters = snapshot.current(session).by_id
    grids = dict(session.execute(select(Area.id, Area.code).where(Area.id.in_({c.grid_id for c in rows}))).all())
    for c in rows:
        m = matters[c.matter_id]
        st = sla.status(c, calendar, now)
        writer.writerow([c.number, c.state, m.code, m.name, m.line, c.urgency, c.channel, grids.get(c.grid_id),
                         _cell(c.description), c.lon, c.lat, c.created_at.isoformat(),
                         c.closed_at.isoformat() if c.closed_at else "", c.stage or "", st["stage_deadline"] or "",
                         st["light"] or "", c.rework_count, c.satisfaction or "", mask_phone(c.reporter_phone) or ""])
    return buf.getvalue()


def _cell(text: str | None) -> str:
    """Citizens' text in a spreadsheet: a leading = + - @ would make Excel run it as a formula."""
    return "'" + text if text and text[0] in "=+-@\t\r" else (text or "")


def duplicates(session: Session, case: Case, actor: Actor, *, radius_m: float = 150.0, hours: float = 72.0,
               limit: int = 20) -> list[dict]:
    """Open cases that may report the same problem: same matter family (major category) nearby and recent.

    Nearest first; ``same_matter`` marks an exact matter match. Candidates are only suggested: a
    receptionist merges them into a master with the ``merge`` action.
    """
    return [{"id": r.id, "number": r.number, "state": r.state, "distance_m": metres, "same_matter": same,
             "channel": r.channel, "created_at": r.created_at.isoformat()}
            for r, metres, same in candidates(session, case, actor, radius_m=radius_m, hours=hours, limit=limit)]


_CANDIDATE_COLUMNS = (Case.id, Case.number, Case.state, Case.lon, Case.lat, Case.matter_id, Case.channel,
                      Case.created_at, Case.description)


# Built once with parameters (this runs on every intake): "+ 0" and coalesce keep the planner off the broad
# matter and master indexes, the latitude band being the narrow one (SQLite would otherwise scan every case of
# the matter family)
_CANDIDATES = select(*_CANDIDATE_COLUMNS).where(
    Case.id != bindparam("case_id"), func.coalesce(Case.master_id, 0) == 0, Case.state.not_in(states.CLOSED_STATES),
    (Case.matter_id + 0).in_(bindparam("family", expanding=True)),
    Case.lon.between(bindparam("lon_lo"), bindparam("lon_hi")),
    Case.lat.between(bindparam("lat_lo"), bindparam("lat_hi")),
    Case.created_at.between(bindparam("from_t", type_=UTCDateTime), bindparam("to_t", type_=UTCDateTime)),
).limit(500)


def candidates(session: Session, case: Case, actor: Actor, *, radius_m: float, hours: float,
               limit: int) -> list[tuple]:
    """(row, metres, same matter) of the duplicate candidates, nearest first; rows carry the columns
    the duplicate score reads, not whole cases (this runs on every intake)."""
    import math

    cat = snapshot.current(session)
    matter = cat.by_id[case.matter_id]
    dlat = radius_m / 111_195.0
    dlon = dlat / max(0.01, math.cos(math.radians(case.lat)))
    window = dt.timedelta(hours=hours)
    stmt = visible(_CANDIDATES, actor)
    params = {"case_id": case.id or 0, "family": cat.family(matter.major_code), "lon_lo": case.lon - dlon,
              "lon_hi": case.lon + dlon, "lat_lo": case.lat - dlat, "lat_hi": case.lat + dlat,
              "from_t": case.created_at - window, "to_t": case.created_at + window}
    out = []
    for other in session.execute(stmt, params):
        x = math.radians(other.lon - case.lon) * math.cos(math.radians((other.lat + case.lat) / 2))
        y = math.radians(other.lat - case.lat)
        metres = round(6_371_008.8 * math.hypot(x, y), 1)
        if metres <= radius_m:
            out.append((other, metres, other.matter_id == case.matter_id))
    out.sort(key=lambda t: (not t[2], t[1]))
    return out[:limit]


def merged_into(session: Session, case: Case) -> list[Case]:
    """Cases merged into ``case`` (their reporters are kept on them and shown with the master)."""
    return list(session.scalars(select(Case).where(Case.master_id == case.id).order_by(Case.id)))


def events(session: Session, case: Case) -> list[CaseEvent]:
    return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)))


def units_of(session: Session, case: Case) -> list[CaseUnit]:
    return list(session.scalars(select(CaseUnit).where(CaseUnit.case_id == case.id)
                                .order_by(CaseUnit.role.desc(), CaseUnit.unit_id)))


def routing(session: Session, index: GridIndex, case: Case) -> dict:
    """Proposed lead (the matter's line × the grid's responsible unit, 多网合一) and territorial unit (块)."""
    matter = snapshot.current(session).by_id[case.matter_id]
    hit = index.by_id.get(case.grid_id)
    units = list(hit.responsible_units) if hit else []
    line_unit = next((u for u in units if u["role"] == "line" and u["line"] == matter.line), None)
    territorial = [u for u in units if u["role"] == "territorial"]
    town = next((u for u in territorial if u["kind"] == "sub_centre"), None)
    return {
        "line": matter.line,
        "proposed_lead": line_unit or town,
        "territorial": town,
        "candidates": units,
    }


# --- acting -------------------------------------------------------------------------------------

def calendar_for(session: Session) -> WorkCalendar:
    s = get_settings()
    return WorkCalendar.load(session, s.work_hours, s.timezone)


def act(session: Session, index: GridIndex, case_id: int, action: str, actor: Actor, payload: dict | None = None,
        now: dt.datetime | None = None, calendar: WorkCalendar | None = None) -> Case:
    """Apply ``action`` through the transition table, append its event, keep the version honest."""
    try:
        return _act(session, index, case_id, action, actor, payload, now or utcnow(),
                    calendar or calendar_for(session))
    except StaleDataError:  # another transaction moved the version on; the caller rolls back
        raise _stale_for(session, case_id) from None


def _stale_for(session: Session, case_id: int) -> Conflict:
    err = StaleCase("the case was changed by someone else meanwhile; reload it and try again")
    session.rollback()
    state = session.scalar(select(Case.state).where(Case.id == case_id))
    err.extra = {"allowed_actions": states.allowed_actions(state) if state else [], "state": state, "stale": True}
    return err


def _act(session: Session, index: GridIndex, case_id: int, action: str, actor: Actor, payload: dict | None,
         now: dt.datetime, calendar: WorkCalendar) -> Case:
    payload = dict(payload or {})
    case = get(session, case_id, actor)
    expected = payload.pop("version", None)
    allowed = states.allowed_actions(case.state, set(actor.roles))
    if expected is not None and expected != case.version:
        raise _stale(case, _feasible(session, case, actor, allowed))
    mine = _unit_part(session, case, action, actor)
    if mine is not None and mine.role == "assist":  # an assisting unit's own part; the case state stays
        _require(action, payload)
        mine.status, mine.updated_at = states.UNIT_STEPS[(mine.status, action)], now
        case.updated_at = now  # bumps the version: the part takes part in optimistic concurrency
        _event(session, case, actor, action, case.state, case.state,
               {"as": "assist", "unit_status": mine.status, **_notes(payload)}, now)
        session.flush()
        return case
    t = states.transition(case.state, action) or (
        states.STAGE_ACTIONS.get(action) if action in states.allowed_actions(case.state) else None)
    if t is None:
        err = Conflict(f"action {action!r} is not allowed in state {case.state!r}")
        err.extra = {"allowed_actions": _feasible(session, case, actor, allowed), "state": case.state}
        raise err
    if not (t.roles & actor.roles):
        raise Forbidden(f"{action!r} needs one of the roles: {', '.join(sorted(t.roles))}")
    _require(action, payload)
    if action in states.STAGE_ACTIONS:
        _stage_event(session, case, action, actor, payload, now, calendar)
        session.flush()
        return case
    from_state, to_state = case.state, t.to
    record = {k: v for k, v in payload.items() if k in ("note", "reason", "satisfaction", "master_id",
                                                          "lead_unit_id", "assisting_unit_ids")}
    if mine is not None:  # the lead's step moves the case
        if action == "report_done":
            busy = _busy_assistants(session, case)
            if busy:
                raise Conflict(f"assisting units {busy} have not finished their part; the lead reports the "
                               "case done after them")
        mine.status, mine.updated_at = states.UNIT_STEPS[(mine.status, action)], now
    if action == "resume":
        lead = next((cu for cu in units_of(session, case) if cu.role == "lead" and cu.status != "withdrawn"), None)
        to_state = states.resume_to(lead.status if lead else None)
    if action in ("dispatch", "redispatch"):
        record.update(_dispatch(session, index, case, payload, now))
    elif action == "check_failed":
        case.rework_count += 1
        for cu in units_of(session, case):
            if cu.status not in ("withdrawn", "returned"):  # a part handed back stays handed back
                cu.status, cu.updated_at = "dispatched", now
    elif action == "rate":
        if payload["satisfaction"] not in states.SATISFACTION:
            raise Invalid(f"satisfaction must be one of {', '.join(states.SATISFACTION)}")
        case.satisfaction = payload["satisfaction"]
    elif action == "merge":
        master = _master(session, case, payload["master_id"], actor)
        case.master_id = master.id
        # cases merged into this one follow the new master too: every reporter keeps a live case to follow
        moved = session.execute(update(Case).where(Case.master_id == case.id)
                                .values(master_id=master.id, version=Case.version + 1)
                                .execution_options(synchronize_session="fetch")).rowcount
        if moved:
            record["followers_moved"] = moved
    if to_state == "closed" and from_state != "closed":
        case.closed_at = now
    case.state = to_state
    case.updated_at = now
    if to_state != from_state and action not in ("suspend", "resume"):
        # the stage an extension was asked for is over: the request lapses rather than freezing the next one
        session.execute(update(Extension).where(Extension.case_id == case.id, Extension.status == "pending")
                        .values(status="lapsed", decided_by=actor.name, decided_at=now))
    held = action == "resume" and get_settings().pause_on_extension and session.scalar(
        select(Extension.id).where(Extension.case_id == case.id, Extension.status == "pending")) is not None
    # (resuming while an extension request waits: the clocks stay paused until it is decided)
    if not held and (to_state != from_state or action in ("check_failed", "redispatch")):
        sla.on_transition(case, snapshot.current(session).by_id[case.matter_id], action, calendar, now)
        if case.stage_deadline is not None and to_state != from_state:
            record["stage_deadline"] = case.stage_deadline.isoformat()
    _event(session, case, actor, action, from_state, to_state, record, now)
    session.flush()
    return case


def _busy_assistants(session: Session, case: Case) -> list[int]:
    """Assisting units still working on their part (the lead's report waits for them)."""
    return [cu.unit_id for cu in units_of(session, case)
            if cu.role == "assist" and cu.status in ("dispatched", "signed")]


def _require(action: str, payload: dict) -> None:
    for key in states.NEEDS.get(action, ()):
        if payload.get(key) in (None, ""):
            raise Invalid(f"{action!r} needs '{key}'")
    _notes(payload)


def _notes(payload: dict) -> dict:
    """The free-text note or reason of an action, checked (every action may carry one)."""
    note = payload.get("note") or payload.get("reason")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        raise Invalid("note and reason must be text of at most 2000 characters")
    return {k: payload[k] for k in ("note", "reason") if payload.get(k)}


def _unit_part(session: Session, case: Case, action: str, actor: Actor) -> CaseUnit | None:
    """The actor's unit's assignment when ``action`` is a step of its own part of a case being handled
    (sign, return, report done); None for every other action. Refuses a step the part cannot take."""
    if action not in {a for _, a in states.UNIT_STEPS} or case.state not in states.HANDLING_STATES:
        return None
    if "handler" not in actor.roles:
        raise Forbidden(f"{action!r} needs one of the roles: handler")
    mine = _assignment(session, case, actor)
    steps = states.unit_actions(mine.status, case.state)
    if action not in steps:
        err = Conflict(f"your unit's part of this case is {mine.status!r}: {action!r} is not possible now")
        err.extra = {"allowed_actions": steps, "state": case.state, "unit_status": mine.status}
        raise err
    return mine


def _stage_event(session: Session, case: Case, action: str, actor: Actor, payload: dict, now: dt.datetime,
                 calendar: WorkCalendar) -> None:
    """Extension requests and decisions, and urging (督办): events on the running stage."""
    pending = session.scalar(select(Extension).where(Extension.case_id == case.id, Extension.status == "pending"))
    record: dict = {"stage": case.stage}
    if action == "request_extension":
        if _assignment(session, case, actor).role != "lead":
            raise Forbidden("only the lead unit asks for more time on the case's stage")
        amount, unit, reason = payload["amount"], payload["unit"], payload["reason"]
        if not isinstance(amount, int | float) or isinstance(amount, bool) or not 0 < amount <= 365:
            raise Invalid("amount must be a number above 0 and at most 365")
        if unit not in ("hour", "day") or not isinstance(reason, str) or len(reason) > 2000:
            raise Invalid("unit must be 'hour' or 'day', and reason text of at most 2000 characters")
        if pending is not None:
            raise Conflict("an extension request is already waiting for a decision")
        session.add(Extension(case_id=case.id, stage=case.stage, amount=amount, unit=unit, reason=reason,
                              requested_by=actor.name, requested_at=now))
        if get_settings().pause_on_extension and case.stage_deadline:
            sla.pause(case, calendar, now)
        record.update(amount=amount, unit=unit, reason=reason)
    elif action in ("approve_extension", "reject_extension"):
        if pending is None:
            raise Conflict("no extension request is waiting for a decision")
        pending.status = "approved" if action == "approve_extension" else "rejected"
        pending.decided_by, pending.decided_at = actor.name, now
        extra = calendar.minutes(pending.amount, pending.unit) if pending.status == "approved" else 0.0
        if case.paused_remaining_minutes is not None and case.state != "suspended":
            sla.unpause(case, calendar, now, extra)  # the request paused the clocks; the decision starts them
        elif extra:
            if case.paused_remaining_minutes is not None:  # suspended meanwhile: the stage resumes with more
                case.paused_remaining_minutes += extra
            sla.extend(case, calendar, extra, now)
        record.update(amount=pending.amount, unit=pending.unit, note=payload.get("note"))
    else:  # urge
        from liandong.cases.models import Notification

        record["note"] = payload.get("note")
        for unit_id in sla.recipients(session, case):
            session.add(Notification(unit_id=unit_id, case_id=case.id, kind="urge", created_at=now,
                                     details={"note": (payload.get("note") or "")[:300] or None},
                                     message=f"案件 {case.number} 被督办 (case {case.number} urged): "
                                             f"{payload.get('note') or ''}"[:500]))
    if case.stage_deadline is not None:
        record["stage_deadline"] = case.stage_deadline.isoformat()
    case.updated_at = now  # bumps the version: stage events take part in optimistic concurrency
    _event(session, case, actor, action, case.state, case.state, record, now)


def _stale(case: Case, allowed: list[str]) -> Conflict:
    err = StaleCase("the case was changed by someone else meanwhile; reload it and try again")
    err.extra = {"allowed_actions": allowed, "state": case.state, "stale": True}
    return err


def _assignment(session: Session, case: Case, actor: Actor) -> CaseUnit:
    """The actor's unit's assignment on this case (or that of a unit it directly heads)."""
    rows = units_of(session, case)
    parents = dict(session.execute(select(Unit.id, Unit.parent_id).where(
        Unit.id.in_([r.unit_id for r in rows]))).all()) if rows else {}
    live = [r for r in rows if r.status != "withdrawn"]
    # the unit's own part first: a sub-centre assisting its own workstation acts on its part, not the lead's
    own = [r for r in live if r.unit_id == actor.unit_id]
    headed = [r for r in live if parents.get(r.unit_id) == actor.unit_id]
    if own or headed:
        return (own or headed)[0]
    raise Forbidden("the case is not assigned to your unit")


def _dispatch(session: Session, index: GridIndex, case: Case, payload: dict, now: dt.datetime) -> dict:
    proposal = routing(session, index, case)
    lead_id = payload.get("lead_unit_id") or (proposal["proposed_lead"] or {}).get("id")
    assist_ids = payload.get("assisting_unit_ids") or []
    if not isinstance(assist_ids, list) or not all(isinstance(x, int) for x in assist_ids):
        raise Invalid("assisting_unit_ids must be a list of unit ids")
    if not isinstance(lead_id, int):
        raise Invalid("lead_unit_id must be a unit id (no proposal could be made for this case)")
    wanted = [lead_id, *[x for x in dict.fromkeys(assist_ids) if x != lead_id]]
    found = set(session.scalars(select(Unit.id).where(Unit.id.in_(wanted))))
    missing = [x for x in wanted if x not in found]
    if missing:
        raise Invalid(f"unknown units: {missing}")
    for cu in units_of(session, case):  # a redispatch withdraws the previous assignment
        cu.status, cu.updated_at = "withdrawn", now
    session.flush()
    for uid in wanted:
        existing = session.get(CaseUnit, (case.id, uid))
        role = "lead" if uid == lead_id else "assist"
        if existing is None:
            session.add(CaseUnit(case_id=case.id, unit_id=uid, role=role, status="dispatched", updated_at=now))
        else:
            existing.role, existing.status, existing.updated_at = role, "dispatched", now
    case.lead_unit_id = lead_id
    return {"lead_unit_id": lead_id, "assisting_unit_ids": wanted[1:],
            "proposed": (proposal["proposed_lead"] or {}).get("id")}


def _master(session: Session, case: Case, master_id, actor: Actor) -> Case:
    if not isinstance(master_id, int) or master_id == case.id:
        raise Invalid("master_id must be the id of another case")
    master = get(session, master_id, actor)
    if master.state in states.CLOSED_STATES and master.state != "closed":
        raise Invalid(f"case {master_id} is {master.state}; merge into an open or closed case")
    if master.master_id is not None:
        raise Invalid(f"case {master_id} was itself merged; merge into its master {master.master_id}")
    return master


# --- output -------------------------------------------------------------------------------------

def case_dict(session: Session, case: Case, actor: Actor, calendar: WorkCalendar | None = None,
              now: dt.datetime | None = None, *, fresh: bool = False) -> dict:
    """The case as the API shows it. ``fresh``: reported in this request, so no unit is assigned and no
    case is merged into it yet (two queries saved on the intake path)."""
    from liandong.auth import audit

    matter = snapshot.current(session).by_id[case.matter_id]
    grid = session.execute(select(Area.code, Area.name).where(Area.id == case.grid_id)).first()
    unmasked = bool(UNMASKED_ROLES & actor.roles)
    merged = [] if fresh else merged_into(session, case)
    if unmasked and any(c.reporter_phone or c.reporter_name or c.reporter_id_number for c in (case, *merged)):
        audit.record(session, "personal_data_read", actor_id=actor.user_id, actor_name=actor.name,
                     target=f"case:{case.id}",
                     detail={"fields": ["reporter_name", "reporter_phone", "reporter_id_number"]})
    assigned = [] if fresh else units_of(session, case)
    unit_names = dict(session.execute(select(Unit.id, Unit.name).where(
        Unit.id.in_([a.unit_id for a in assigned]))).all()) if assigned else {}
    return {
        "id": case.id, "number": case.number, "state": case.state, "version": case.version,
        "matter_code": matter.code, "matter_name": matter.name, "line": matter.line, "urgency": case.urgency,
        "component_code": _component_code(session, case.component_id),
        "channel": case.channel, "description": case.description, "lon": case.lon, "lat": case.lat,
        "grid_code": grid.code if grid else None, "grid_name": grid.name if grid else None,
        "out_of_area": case.out_of_area, "media_url": case.media_url, "lead_unit_id": case.lead_unit_id,
        "units": [{"unit_id": a.unit_id, "name": unit_names.get(a.unit_id), "role": a.role, "status": a.status}
                  for a in assigned],
        "reporter": _reporter(case, unmasked),
        "rework_count": case.rework_count, "master_id": case.master_id, "satisfaction": case.satisfaction,
        "created_at": case.created_at.isoformat(), "updated_at": case.updated_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "allowed_actions": _feasible(session, case, actor, states.allowed_actions(case.state, set(actor.roles))),
        "master": _brief(session.get(Case, case.master_id)) if case.master_id else None,
        "merged": [dict(_brief(c), channel=c.channel,
                        reporter=_reporter(c, unmasked))
                   for c in merged],
        "limits": {lim.stage: {"amount": lim.amount, "unit": lim.unit}
                   for lim in matter.limits if lim.urgency == case.urgency},
        "criteria": {"filing": matter.filing_criteria, "closing": matter.closing_criteria},
        "deadlines": sla.status(case, calendar or calendar_for(session), now or utcnow()),
    }


def _reporter(case: Case, unmasked: bool) -> dict:
    if unmasked:
        return {"name": case.reporter_name, "phone": case.reporter_phone, "id_number": case.reporter_id_number}
    return {"name": mask_name(case.reporter_name), "phone": mask_phone(case.reporter_phone),
            "id_number": mask_id_number(case.reporter_id_number)}


def _feasible(session: Session, case: Case, actor: Actor, actions: list[str]) -> list[str]:
    """The table's actions for these roles, less those the service would refuse right now: a unit's steps
    follow its own part (an assisting unit signs and reports its part whatever the lead did), only the lead
    asks for more time, and deciding an extension needs a request waiting."""
    def unit_action(a: str) -> bool:
        t = states.transition(case.state, a)
        return a == "request_extension" or bool(t and t.handler_action)

    out = [a for a in actions if not unit_action(a)]
    if "handler" in actor.roles and (any(unit_action(a) for a in actions) or case.state in states.HANDLING_STATES):
        try:
            mine = _assignment(session, case, actor)
        except Forbidden:
            mine = None
        if mine is not None:
            steps = states.unit_actions(mine.status, case.state)
            if mine.role == "lead":
                steps = [a for a in actions if unit_action(a) and (a in steps or a == "request_extension")]
                if "report_done" in steps and _busy_assistants(session, case):
                    steps.remove("report_done")  # the lead reports done after its assisting units
            out += steps
    if {"approve_extension", "reject_extension", "request_extension"} & set(out):
        waiting = session.scalar(select(Extension.id).where(Extension.case_id == case.id,
                                                            Extension.status == "pending")) is not None
        # one request at a time: asking waits for the decision, deciding waits for a request
        drop = {"request_extension"} if waiting else {"approve_extension", "reject_extension"}
        out = [a for a in out if a not in drop]
    return sorted(set(out))


def _component_code(session: Session, component_id: int | None) -> str | None:
    if component_id is None:
        return None
    from liandong.components.models import Component

    return session.scalar(select(Component.code).where(Component.id == component_id))


def _brief(c: Case) -> dict:
    """A merged case follows its master: show the master's number and live state."""
    return {"id": c.id, "number": c.number, "state": c.state}


def event_dict(e: CaseEvent, names: dict | None = None) -> dict:
    """An event; with ``names`` (from ``actor_names``), who acted as people read it, not a login name."""
    person, unit = (names or {}).get("users", {}).get(e.actor_id), (names or {}).get("units", {}).get(e.unit_id)
    return {"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "actor_name": person, "unit_id": e.unit_id,
            "unit_name": unit, "action": e.action, "from": e.from_state, "to": e.to_state, "payload": e.payload}


def actor_names(session: Session, events: list[CaseEvent]) -> dict:
    """Display names of the users and units in ``events`` (two queries for a whole timeline)."""
    from liandong.auth.models import User

    user_ids = {e.actor_id for e in events if e.actor_id}
    unit_ids = {e.unit_id for e in events if e.unit_id}
    users = dict(session.execute(select(User.id, func.coalesce(User.display_name, User.username))
                                 .where(User.id.in_(user_ids))).all()) if user_ids else {}
    units = dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))).all()) if unit_ids else {}
    return {"users": users, "units": units}
