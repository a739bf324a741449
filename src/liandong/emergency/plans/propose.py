"""Plans proposed for an incident: never activated unasked, only listed (``proposed_plans`` on the incident).

Once an incident is assessed (verified, and again whenever it is regraded), each current plan of its category
whose types name its type (either contains the other: 台风 — 台风“梅花”, 城市内涝 — 内涝) is proposed at the
highest response level whose conditions the incident meets, unless that plan already runs at that level or a
higher one. Computed when asked, from the incident as it is, so a proposal never goes stale.

Conditions (``document.Conditions``) all hold when the grade is at least ``min_grade`` (numerically no more), a
warning of at least ``min_warning_level`` is out, at least ``min_towns`` towns are affected and, when ``areas``
are named, the incident lies in or affects one of them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.emergency.models import Incident
from liandong.emergency.plans import activation, library
from liandong.emergency.plans.document import Conditions, PlanDocument
from liandong.emergency.plans.selectors import Affected, affected
from liandong.emergency.states import OPEN_STATES

ASSESSED = frozenset(OPEN_STATES) - {"reported"}


def type_matches(doc: PlanDocument, incident_type: str) -> bool:
    return any(t in incident_type or incident_type in t for t in doc.types)


def proposed(session: Session, incident: Incident) -> list[dict]:
    """The plans proposed for the incident now, by code."""
    if incident.state not in ASSESSED:
        return []
    candidates = [(p, library.document(p)) for p in library.current(session)]
    candidates = [(p, d) for p, d in candidates if d.category == incident.category and type_matches(d, incident.type)]
    if not candidates:
        return []
    running = activation.active(session, incident.id)
    where = affected(session, incident)
    out = []
    for plan, doc in candidates:
        best = next((lv for lv in sorted(doc.levels, key=lambda lv: lv.level)
                     if holds(session, lv.conditions, incident, where)), None)
        if best is None or (plan.code in running and running[plan.code][1] <= best.level):
            continue
        out.append({"code": plan.code, "name": doc.name, "version": plan.version, "response_level": best.level,
                    "level_name": best.name})
    return out


def holds(session: Session, c: Conditions, incident: Incident, where: Affected) -> bool:
    if incident.grade > c.min_grade:
        return False
    if c.min_warning_level is not None and (incident.warning_level is None
                                             or incident.warning_level > c.min_warning_level):
        return False
    if c.min_towns is not None and len(where.towns) < c.min_towns:
        return False
    if c.areas:
        named = list(session.scalars(select(Area.path).where(Area.code.in_(c.areas))))
        return any(p.startswith(n) or n.startswith(p) for p in where.paths for n in named)
    return True
