"""What the screening registers (hazards, disputes) share: a register's ``Spec``, its day numbers, sight (the case
rule's decision as a SQL filter and as a predicate on a row in hand), the log's numbering and appending, and the
opening of a row with its ``report`` event — alone or in a batch (``register_batch.py``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.cases.visibility import Viewer, narrowed
from liandong.config import get_settings
from liandong.errors import NotFound, role_needed

if TYPE_CHECKING:
    from liandong.screening.register_batch import Batch


@dataclass(frozen=True)
class Spec:
    """What the helpers here need to know of a register: what its rows are called, their model, their log's model
    and the log's column naming the row, and the refusal for a row that is not there (or not in the caller's
    sight)."""

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


def entry(spec: Spec, parent, caller: Identity, action: str, from_state: str | None, payload: dict,
          now: dt.datetime, seq: int) -> dict:
    """The log's row for an action on ``parent`` (its state already the new one)."""
    return {spec.parent: parent.id, "seq": seq, "at": now, "actor_id": caller.user_id, "actor": caller.name,
            "action": action, "from_state": from_state, "to_state": parent.state, "payload": payload}


def append(session: Session, spec: Spec, parent, caller: Identity, action: str, from_state: str | None,
           payload: dict, now: dt.datetime) -> None:
    """Append the next entry of a register's log, numbered under the parent row's lock (on SQLite any write holds
    the database lock; on PostgreSQL the row is locked), the (parent, seq) pair unique besides.

    Plain Core statements on the session's connection: the ORM's bulk-update and unit-of-work machinery cost
    several times what the database takes for these three statements. The parent's own changes are flushed
    first, so that the log follows what it records."""
    session.flush()
    conn, table, events = session.connection(), spec.model.__table__, spec.events.__table__
    if conn.dialect.name == "postgresql":
        conn.execute(select(table.c.id).where(table.c.id == parent.id).with_for_update())
    else:
        conn.execute(update(table).where(table.c.id == parent.id).values(id=table.c.id))
    column = events.c[spec.parent]
    seq = (conn.scalar(select(func.max(events.c.seq)).where(column == parent.id)) or 0) + 1
    conn.execute(insert(events).values(entry(spec, parent, caller, action, from_state, payload, now, seq)))


def opened(session: Session, spec: Spec, row, caller: Identity, facts: dict, now: dt.datetime,
           batch: Batch | None = None) -> None:
    """A new row and its ``report`` event: both written now, or the row now (its id) and the event at the batch's
    flush."""
    if batch is None:
        session.add(row)
        session.flush()
        append(session, spec, row, caller, "report", None, facts, now)
    else:
        batch.add(spec, row)
        batch.record(spec, row, caller, "report", None, facts, now)


def needs(roles: frozenset[str], caller: Identity, action: str) -> None:
    if roles.isdisjoint(caller.roles):
        raise role_needed(action, roles)
