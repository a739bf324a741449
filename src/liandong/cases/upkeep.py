"""What the database derives from the event log and the clock rules, brought up to date after a migration.

Stage facts and the yellow moment beside each deadline are computed by the code of today, not frozen into a
migration. Each part has a rules version (``facts.rules()``, ``sla.light_rules()``: the code's version with the
settings it depends on) stored in ``meta`` when the part was last computed. ``liandong migrate`` recomputes
each part computed under other rules, or never, one transaction per part; ``serve`` and ``demo`` only record
the rules of a database without cases and warn about an outdated one (a rebuild makes event writers wait).
Two processes recomputing at once take turns on a lock, and the second finds nothing left to do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import bindparam, or_, select, text, update
from sqlalchemy.orm import Session

from liandong.areas.models import Meta
from liandong.cases import facts, sla
from liandong.cases.calendar import calendar_for
from liandong.cases.models import Case
from liandong.db import is_postgres


def _facts(session: Session, now: dt.datetime) -> int:
    return facts.rebuild(session)


def _lights(session: Session, now: dt.datetime, batch: int = 2000) -> int:
    """The yellow moment of every open clock by today's rules, written only where it changes and without
    touching the case's version (nobody changed the case: an open page must not turn stale)."""
    cal, changed = calendar_for(session), 0
    rows = session.execute(select(Case.id, Case.stage_deadline, Case.stage_limit_minutes, Case.case_deadline,
                                  Case.case_limit_minutes, Case.paused_at, Case.stage_yellow_at, Case.case_yellow_at)
                           .where(Case.closed_at.is_(None),
                                  or_(Case.stage_deadline.is_not(None), Case.case_deadline.is_not(None)))).all()
    updates = []
    for row in rows:
        stage_yellow, case_yellow = sla.yellow_moments(row.stage_deadline, row.stage_limit_minutes,
                                                       row.case_deadline, row.case_limit_minutes, row.paused_at,
                                                       cal, now)
        if (stage_yellow, case_yellow) != (row.stage_yellow_at, row.case_yellow_at):
            updates.append({"case": row.id, "stage_yellow": stage_yellow, "case_yellow": case_yellow})
    for i in range(0, len(updates), batch):
        session.connection().execute(_SET_YELLOW, updates[i:i + batch])
        changed += len(updates[i:i + batch])
    return changed


_SET_YELLOW = (update(Case.__table__).where(Case.__table__.c.id == bindparam("case"))
               .values(stage_yellow_at=bindparam("stage_yellow"), case_yellow_at=bindparam("case_yellow")))

PARTS: dict[str, tuple[Callable[[], str], Callable[[Session, dt.datetime], int]]] = {
    "stage_facts": (facts.rules, _facts),
    "lights": (sla.light_rules, _lights),
}
"""Each derived part: the rules it is computed under, and how to recompute it (returns rows written)."""


def outdated(session: Session) -> list[str]:
    """The parts whose stored rules are not today's."""
    stored = dict(session.execute(select(Meta.key, Meta.value).where(Meta.key.in_([_key(p) for p in PARTS]))).all())
    return [part for part, (rules, _) in PARTS.items() if stored.get(_key(part)) != rules()]


def recompute(session: Session, part: str, now: dt.datetime) -> int | None:
    """Recompute ``part`` if it is still outdated once this transaction holds the upkeep lock; returns the
    rows written, or None when another process had done it meanwhile. The caller commits."""
    _lock(session)
    rules, compute = PARTS[part]
    if part not in outdated(session):
        return None
    written = compute(session, now)
    record(session, part)
    return written


def record(session: Session, part: str) -> None:
    """Say that ``part`` is as today's rules make it (a fresh database, or just recomputed)."""
    value = PARTS[part][0]()
    row = session.get(Meta, _key(part))
    if row is None:
        session.add(Meta(key=_key(part), value=value))
    else:
        row.value = value
    session.flush()


def fresh(session: Session) -> bool:
    """A database without cases derives nothing: its rules are simply today's."""
    return session.scalar(select(Case.id).limit(1)) is None


def _key(part: str) -> str:
    return f"{part}_rules"


def _lock(session: Session) -> None:
    """One upkeep at a time across processes: an advisory lock on PostgreSQL; on SQLite a write (the one
    writer's lock, held to the end of the transaction)."""
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('liandong.upkeep'))"))
    else:
        session.execute(text("UPDATE meta SET value = value WHERE key = 'upkeep'"))
