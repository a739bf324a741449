"""The figures about the case work that ``/metrics`` exposes (``ops/metrics.py``), read from the event log and the
case rows at scrape time — never counters kept on the side."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.cases import actions, sla, stats
from liandong.cases.models import Case, CaseEvent

OTHER_EVENTS = ("report", "escalate", "case_overdue")
"""Events that are not actions of the table but are counted beside them."""


def read(session: Session, now: dt.datetime) -> dict:
    """Case events by action since the start of the district's day (every action named, zeros too), open cases whose
    running stage is overdue (the dashboard's red lights), and the moment the oldest stage the sweep would raise
    became due (None when the sweep is up to date)."""
    day = stats.local_day_start(now)
    counted = dict(session.execute(
        select(CaseEvent.action, func.count()).where(CaseEvent.at >= day).group_by(CaseEvent.action)).all())
    transitions = {a: counted.get(a, 0) for a in sorted({*actions.NAMES, *OTHER_EVENTS, *counted})}
    overdue = session.scalar(select(func.count()).select_from(Case).where(sla.overdue_sql(now), stats.open_sql())) or 0
    due_since = session.scalar(select(func.min(func.coalesce(Case.next_escalation_at, Case.stage_deadline)))
                               .where(sla.due_sql(now)))
    if due_since is not None and due_since.tzinfo is None:
        due_since = due_since.replace(tzinfo=dt.UTC)
    return {"day_start": day, "transitions": transitions, "overdue": int(overdue), "due_since": due_since}
