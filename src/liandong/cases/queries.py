"""Reading cases within the caller's sight: one case, filtered lists, CSV export, duplicate candidates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, bindparam, false, func, or_, select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.cases import sla, states
from liandong.cases.calendar import WorkCalendar
from liandong.cases.models import Case, CaseEvent, CaseUnit, Extension
from liandong.cases.visibility import visible
from liandong.catalogue import snapshot
from liandong.catalogue.models import Matter
from liandong.config import get_settings
from liandong.db import UTCDateTime, utcnow
from liandong.errors import Invalid, NotFound
from liandong.privacy import mask_phone


def get(session: Session, case_id: int, actor: Identity) -> Case:
    """A case the actor may see (its jurisdiction, or assigned to its unit); 404 otherwise."""
    case = session.scalar(visible(select(Case).where(Case.id == case_id), actor))
    if case is None:
        raise NotFound(f"case {case_id} not found", code="case_not_found", params={"case_id": case_id})
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


def _filtered(session: Session, actor: Identity, query: CaseQuery, now: dt.datetime):
    stmt = visible(select(Case), actor)
    if query.state:
        if query.state not in states.STATES:
            raise Invalid(f"unknown state {query.state!r}", code="unknown_state", params={"state": query.state})
        stmt = stmt.where(Case.state == query.state)
    if query.channel:
        stmt = stmt.where(Case.channel == query.channel)
    if query.matter_code:
        stmt = stmt.where(Case.matter_id.in_(select(Matter.id).where(Matter.code == query.matter_code)))
    if query.area_code:
        area = session.scalar(select(Area).where(Area.code == query.area_code))
        if area is None or not actor.scope.covers_path(area.path):
            raise NotFound(f"area {query.area_code!r} not found", code="area_not_found",
                           params={"area": query.area_code})
        stmt = stmt.where(Case.area_path.startswith(area.path, autoescape=True))
    if query.unit_id:
        stmt = stmt.where(Case.id.in_(select(CaseUnit.case_id).where(CaseUnit.unit_id == query.unit_id)))
    if query.overdue is not None:
        late = sla.overdue_sql(now)  # bare when asked for: the deadline's index serves it
        stmt = stmt.where(late if query.overdue else ~func.coalesce(late, false(), type_=Boolean))
    if query.light:
        if query.light not in ("green", "yellow", "red"):
            raise Invalid("light must be green, yellow or red", code="bad_light")
        stmt = stmt.where(sla.stage_light_sql(now) == query.light)
    tz = ZoneInfo(get_settings().timezone)
    for day in (query.created_from, query.created_to):
        if day is not None and not 1970 <= day.year <= 2100:
            raise Invalid("dates must lie between 1970 and 2100", code="bad_date")
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
        raise Invalid(f"sort must be one of {', '.join(SORTS)}", code="bad_sort")
    return stmt.order_by(SORTS[query.sort], Case.id.desc())


def _waiting_for(actor: Identity):
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


def list_cases(session: Session, actor: Identity, query: CaseQuery | None = None, *, limit: int = 50, offset: int = 0,
               calendar: WorkCalendar | None = None, now: dt.datetime | None = None) -> tuple[list[Case], int]:
    """A page of the cases matching ``query`` that the actor may see, and how many match in all."""
    query, now = query or CaseQuery(), now or utcnow()
    stmt = _filtered(session, actor, query, now)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return list(session.scalars(stmt.limit(limit).offset(offset))), int(total or 0)


CSV_COLUMNS = ("number", "state", "matter_code", "matter_name", "line", "urgency", "channel", "grid_code",
               "description", "lon", "lat", "created_at", "closed_at", "stage", "stage_deadline", "light",
               "rework_count", "satisfaction", "reporter_phone")


def export_csv(session: Session, actor: Identity, query: CaseQuery, calendar: WorkCalendar,
               now: dt.datetime, batch: int = 1000) -> Iterator[str]:
    """The matching cases as CSV text, streamed in batches (UTF-8 with BOM so spreadsheet programs read
    Chinese); reporters masked. Every match is written: nothing is cut off at a row limit. The query is
    checked here, before the first chunk: a bad filter is refused while an error status can still be sent."""
    stmt = _filtered(session, actor, query, now).execution_options(yield_per=batch)
    return _csv_chunks(session, stmt, calendar, now)


def _csv_chunks(session: Session, stmt, calendar: WorkCalendar, now: dt.datetime) -> Iterator[str]:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    matters = snapshot.current(session).by_id
    for part in session.scalars(stmt).partitions():
        grids = dict(session.execute(select(Area.id, Area.code).where(Area.id.in_({c.grid_id for c in part}))).all())
        for c in part:
            m = matters[c.matter_id]
            st = sla.status(c, calendar, now)
            writer.writerow([c.number, c.state, m.code, m.name, m.line, c.urgency, c.channel, grids.get(c.grid_id),
                             _cell(c.description), c.lon, c.lat, c.created_at.isoformat(),
                             c.closed_at.isoformat() if c.closed_at else "", c.stage or "",
                             st["stage_deadline"] or "", st["light"] or "", c.rework_count, c.satisfaction or "",
                             mask_phone(c.reporter_phone) or ""])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    if buf.tell():
        yield buf.getvalue()


def _cell(text: str | None) -> str:
    """Citizens' text in a spreadsheet: a leading = + - @ would make Excel run it as a formula."""
    return "'" + text if text and text[0] in "=+-@\t\r" else (text or "")


def duplicates(session: Session, case: Case, actor: Identity, *, radius_m: float = 150.0, hours: float = 72.0,
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


def candidates(session: Session, case: Case, actor: Identity, *, radius_m: float, hours: float,
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


