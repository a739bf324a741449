"""The screening figures of a period in the seed's form, counted from the hazards' and disputes' event logs within
the caller's sight (never from counters kept on the side): an action counts when its event falls in the period.

Hazards: ``collected`` (reported), ``filed``, ``closed`` (验收销号), ``rewarded`` (reward decisions). Disputes:
``collected``, ``mediated`` (disputes with a mediation record in the period), ``succeeded`` (resolved 调解成功 or
司法确认), ``escalated`` (disputes moved up a tier), ``resolved`` (any outcome), ``callbacks``, ``incidents``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.config import get_settings
from liandong.errors import Invalid
from liandong.screening import dispute_states as ds
from liandong.screening import disputes, hazards
from liandong.screening.dispute_models import Dispute, DisputeEvent
from liandong.screening.hazard_models import Hazard, HazardEvent


def period(date_from: dt.date | None, date_to: dt.date | None, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[from's local midnight, the day after to's): default the last 30 local days up to today."""
    zone = ZoneInfo(get_settings().timezone)
    today = now.astimezone(zone).date()
    date_to = date_to or today
    date_from = date_from or date_to - dt.timedelta(days=29)
    if date_from.year < 1970 or date_to.year > 2100:  # (year 9999 + 1 day would overflow, year 1 in UTC too)
        raise Invalid("the period must lie between 1970 and 2100", code="bad_period")
    if date_from > date_to:
        raise Invalid("from lies after to", code="bad_period")
    if (date_to - date_from).days > 3660:
        raise Invalid("a period of at most ten years", code="bad_period")
    start = dt.datetime.combine(date_from, dt.time(), zone)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), zone)
    return start, end


def figures(session: Session, caller: Identity, date_from: dt.date | None, date_to: dt.date | None,
            now: dt.datetime) -> dict:
    start, end = period(date_from, date_to, now)

    def hazard_count(action: str) -> int:
        ids = hazards.visible(select(Hazard.id), caller)
        return int(session.scalar(select(func.count()).select_from(HazardEvent).where(
            HazardEvent.action == action, HazardEvent.at >= start, HazardEvent.at < end,
            HazardEvent.hazard_id.in_(ids))) or 0)

    def dispute_count(action: str, outcomes: frozenset[str] | None = None) -> int:
        """Disputes with such an event in the period (a dispute is resolved once: ``outcomes`` filters those)."""
        where = (DisputeEvent.action == action, DisputeEvent.at >= start, DisputeEvent.at < end,
                 DisputeEvent.dispute_id.in_(disputes.visible(select(Dispute.id), caller)))
        if outcomes is not None:
            return sum(1 for p in session.scalars(select(DisputeEvent.payload).where(*where))
                       if p.get("outcome") in outcomes)
        return int(session.scalar(select(func.count(distinct(DisputeEvent.dispute_id))).where(*where)) or 0)

    return {"from": start.date().isoformat(), "to": (end - dt.timedelta(days=1)).date().isoformat(),
            "hazards": {"collected": hazard_count("report"), "filed": hazard_count("file"),
                        "closed": hazard_count("close"), "rewarded": hazard_count("reward"),
                        "to_case": hazard_count("to_case")},
            "disputes": {"collected": dispute_count("report"), "mediated": dispute_count("mediate"),
                         "succeeded": dispute_count("resolve", ds.SUCCEEDED),
                         "resolved": dispute_count("resolve"), "escalated": dispute_count("escalate"),
                         "callbacks": dispute_count("callback"), "incidents": dispute_count("raise_incident")}}
