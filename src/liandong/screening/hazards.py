"""Safety hazards: opening one (the one way a report becomes a hazard row and its first event), reading them within
the caller's sight, and the log. The place, the number, sight and the log's numbering are shared with disputes
(``disputes.py``), which use the same helpers.

Sight follows the case rule's decision (``cases/visibility.rule``): everything, nothing, or a jurisdiction (the
hazard's grid under it) and a unit (the hazard's responsible unit is the caller's or one it heads).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from liandong import audit
from liandong.areas.index import GridIndex, place
from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.cases.visibility import Viewer, narrowed
from liandong.config import get_settings
from liandong.errors import Invalid, NotFound, role_needed
from liandong.screening import hazard_states as hs
from liandong.screening.hazard_models import Hazard, HazardEvent
from liandong.screening.hazard_payloads import HazardIn
from liandong.units.models import Unit

if TYPE_CHECKING:
    from liandong.screening.register_batch import Batch

# --- shared with disputes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Log:
    """A register: what its rows are called, their model, their log's model and the log's column naming the row,
    and the refusal for a row that is not there (or not in the caller's sight)."""

    what: str
    model: type
    events: type
    parent: str
    missing: Callable[[int], NotFound]


def number(session: Session, model, prefix: str, now: dt.datetime, taken: dict[str, int] | None = None) -> str:
    """``<prefix>-<local day>-<n>``: rows are never deleted, so the day's count gives the next number. ``taken``
    (a batch's) keeps each day's count once read, and counts the numbers it gave since."""
    day = now.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y%m%d")
    stem = f"{prefix}-{day}-"
    n = taken.get(stem) if taken is not None else None
    if n is None:
        n = session.scalar(select(func.count()).select_from(model).where(model.number.startswith(stem))) or 0
    if taken is not None:
        taken[stem] = n + 1
    return f"{stem}{n + 1:04d}"


def within(stmt, caller: Identity, model, unit_column=None):
    """``stmt`` (a select over ``model``, a register with ``area_path``) narrowed by the case rule; with
    ``unit_column``, also the rows that column gives to the caller's unit or one it heads."""
    return narrowed(stmt, caller, lambda path: model.area_path.startswith(path, autoescape=True),
                    (lambda units: unit_column.in_(units)) if unit_column is not None else None)


def seen(viewer: Viewer, area_path: str, unit_id: int | None = None) -> bool:
    """``within``'s twin for a row in hand (a batch reads its rows together): the same rule as a predicate."""
    return viewer.sees(area_path, () if unit_id is None else (unit_id,))


def entry(log: Log, parent, caller: Identity, action: str, from_state: str | None, payload: dict,
          now: dt.datetime, seq: int) -> dict:
    """The log's row for an action on ``parent`` (its state already the new one)."""
    return {log.parent: parent.id, "seq": seq, "at": now, "actor_id": caller.user_id, "actor": caller.name,
            "action": action, "from_state": from_state, "to_state": parent.state, "payload": payload}


def append(session: Session, log: Log, parent, caller: Identity, action: str, from_state: str | None,
           payload: dict, now: dt.datetime) -> None:
    """Append the next entry of a register's log, numbered under the parent row's lock (on SQLite any write holds
    the database lock; on PostgreSQL the row is locked), the (parent, seq) pair unique besides.

    Plain Core statements on the session's connection: the ORM's bulk-update and unit-of-work machinery cost
    several times what the database takes for these three statements. The parent's own changes are flushed
    first, so that the log follows what it records."""
    session.flush()
    conn, table, events = session.connection(), log.model.__table__, log.events.__table__
    if conn.dialect.name == "postgresql":
        conn.execute(select(table.c.id).where(table.c.id == parent.id).with_for_update())
    else:
        conn.execute(update(table).where(table.c.id == parent.id).values(id=table.c.id))
    column = events.c[log.parent]
    seq = (conn.scalar(select(func.max(events.c.seq)).where(column == parent.id)) or 0) + 1
    conn.execute(insert(events).values(entry(log, parent, caller, action, from_state, payload, now, seq)))


def opened(session: Session, log: Log, row, caller: Identity, facts: dict, now: dt.datetime,
           batch: Batch | None = None) -> None:
    """A new row and its ``report`` event: both written now, or the row now (its id) and the event at the batch's
    flush."""
    if batch is None:
        session.add(row)
        session.flush()
        append(session, log, row, caller, "report", None, facts, now)
    else:
        batch.add(log, row)
        batch.record(log, row, caller, "report", None, facts, now)


def needs(roles: frozenset[str], caller: Identity, action: str) -> None:
    if roles.isdisjoint(caller.roles):
        raise role_needed(action, roles)


# --- hazards ------------------------------------------------------------------------------------------------


def missing(hazard_id: int) -> NotFound:
    return NotFound(f"hazard {hazard_id} not found", code="hazard_not_found", params={"hazard_id": hazard_id})


LOG = Log("hazard", Hazard, HazardEvent, "hazard_id", missing)


def visible(stmt, caller: Identity):
    return within(stmt, caller, Hazard, Hazard.responsible_unit_id)


def sees(viewer: Viewer, hazard: Hazard) -> bool:
    return seen(viewer, hazard.area_path, hazard.responsible_unit_id)


def missing_five(values: dict) -> list[str]:
    """The 五落实 fields a major hazard still lacks."""
    return [f for f in hs.FIVE if values.get(f) in (None, "")]


def open_hazard(session: Session, index: GridIndex, caller: Identity, body: HazardIn, now: dt.datetime,
                batch: Batch | None = None) -> Hazard:
    """Register a hazard (state ``found``); the caller commits. A ``batch`` (``register_batch.py``) numbers it from
    the day's count it keeps and holds its event until its flush."""
    needs(hs.REPORT_ROLES, caller, "create")
    grid, lon, lat = place(index, body.lon, body.lat, body.crs, caller.scope)
    unit_id = check_unit(session, body.responsible_unit_id, caller)
    reporter = body.reporter
    staff = reporter is None or reporter.kind == "staff"
    taken = batch.numbers if batch is not None else None
    hazard = Hazard(number=number(session, Hazard, "YH", now, taken), title=body.title, sector=body.sector,
                    type=body.type, grade=body.grade, description=body.description, lon=lon, lat=lat, grid_id=grid.id,
                    area_path=grid.path, responsible_unit_id=unit_id, measures=body.measures,
                    responsibility=body.responsibility, funds=body.funds, contingency_plan=body.contingency_plan,
                    deadline=body.deadline, reporter_kind="staff" if staff else "public",
                    reporter_name=reporter.name if reporter else caller.name,
                    reporter_phone=reporter.phone if reporter else None,
                    reward_wanted=bool(reporter and reporter.reward), reward_paid=False, state="found",
                    created_at=now, created_by=caller.user_id, updated_at=now)
    facts = {"sector": body.sector, "grade": body.grade, "reporter_kind": hazard.reporter_kind,
             **({"reward_wanted": True} if hazard.reward_wanted else {}),
             **({"evidence": body.evidence} if body.evidence else {})}
    opened(session, LOG, hazard, caller, facts, now, batch)
    audit.record(session, "hazard_created", actor_id=caller.user_id, actor_name=caller.name,
                 target=f"hazard:{hazard.id}", detail={"number": hazard.number})
    return hazard


def check_unit(session: Session, unit_id: int | None, caller: Identity) -> int | None:
    """A responsible unit the caller may name: one whose area lies in the caller's jurisdiction (naming another
    town's unit would open the hazard, and its reporter, to that town)."""
    if unit_id is None:
        return None
    row = session.execute(select(Area.path).join(Unit, Unit.area_id == Area.id).where(Unit.id == unit_id)).first()
    if row is None:
        raise Invalid(f"unit {unit_id} does not exist", code="unknown_unit", params={"unit_id": unit_id})
    if not caller.scope.covers_path(row.path):
        raise Invalid(f"unit {unit_id} lies outside your jurisdiction", code="unit_outside_jurisdiction",
                      params={"unit_id": unit_id})
    return unit_id


def get(session: Session, hazard_id: int, caller: Identity) -> Hazard:
    """A hazard the caller may see; 404 otherwise."""
    hazard = session.scalar(visible(select(Hazard).where(Hazard.id == hazard_id), caller))
    if hazard is None:
        raise missing(hazard_id)
    return hazard


def page(session: Session, caller: Identity, *, state: str | None = None, grade: str | None = None,
         sector: str | None = None, open_only: bool = False, q: str | None = None, limit: int = 50,
         offset: int = 0) -> tuple[list[Hazard], int]:
    """The visible hazards matching the filters, newest first, and how many match in all."""
    stmt = visible(select(Hazard), caller)
    for name, value, allowed in (("state", state, hs.STATES), ("grade", grade, hs.GRADES),
                                 ("sector", sector, hs.SECTORS)):
        if value is not None:
            if value not in allowed:
                raise Invalid(f"{name} must be one of {', '.join(allowed)}", code=f"unknown_{name}",
                              params={name: value})
            stmt = stmt.where(getattr(Hazard, name) == value)
    if open_only:
        stmt = stmt.where(Hazard.state.not_in(hs.CLOSED_STATES))
    if q:
        stmt = stmt.where(or_(Hazard.title.contains(q.strip(), autoescape=True),
                              Hazard.number.contains(q.strip(), autoescape=True)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(Hazard.created_at.desc(), Hazard.id.desc()).limit(limit).offset(offset))
    return list(rows), int(total or 0)


def entries(session: Session, hazard_id: int) -> list[HazardEvent]:
    return list(session.scalars(select(HazardEvent).where(HazardEvent.hazard_id == hazard_id)
                                .order_by(HazardEvent.seq)))
