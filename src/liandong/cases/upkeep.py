"""What the database derives from the event log and the clock rules, brought up to date after a migration.

Stage facts and the yellow moment beside each deadline are computed by the code of today, not frozen into
a migration: each has a rules version (``facts.RULES``, ``sla.LIGHT_RULES``) stored in ``meta`` when it was
last computed. ``liandong migrate`` (and ``serve`` and ``demo``, which migrate first) recompute whatever was
computed under other rules, or never — a database from before the facts existed, or after a rule changed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from liandong.areas.models import Meta
from liandong.cases import facts, sla
from liandong.cases.calendar import calendar_for
from liandong.cases.models import Case


def bring_up_to_date(session: Session, now: dt.datetime) -> dict[str, int]:
    """Recompute what is out of date; returns how many rows each part wrote (nothing: {}). The caller commits."""
    done: dict[str, int] = {}
    if _outdated(session, "stage_facts_rules", facts.RULES):
        done["stage_facts"] = facts.rebuild(session)
    if _outdated(session, "light_rules", sla.LIGHT_RULES):
        done["lights"] = _lights(session, now)
    return done


def _outdated(session: Session, key: str, rules: str) -> bool:
    """True when the stored rules differ (and records them as current: the caller recomputes, then commits)."""
    row = session.get(Meta, key)
    if row is not None and row.value == rules:
        return False
    if row is None:
        session.add(Meta(key=key, value=rules))
    else:
        row.value = rules
    return True


def _lights(session: Session, now: dt.datetime, batch: int = 2000) -> int:
    """The yellow moment of every open clock, by today's margin."""
    cal, n = calendar_for(session), 0
    for case in session.scalars(select(Case).where(
            Case.closed_at.is_(None), or_(Case.stage_deadline.is_not(None), Case.case_deadline.is_not(None)))
            .execution_options(yield_per=batch)):
        sla.refresh_lights(case, cal, now)
        n += 1
    session.flush()
    return n
