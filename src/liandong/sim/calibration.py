"""The figures a simulated year reached, read back from its own records by the annual report (the assessment
module, over the event logs), beside the scenario's targets scaled to the run: what ``liandong simulate`` prints
and keeps with the run."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from liandong.assessment import annual
from liandong.auth.identity import Identity
from liandong.sim.scenario import Scenario

DISTRICT = Identity(roles=frozenset({"leader"}), username="simulation")
"""The district's view (a leader sees everything) the figures are read with."""
FIGURES = (("cases", "accepted"), ("cases", "filed"), ("cases", "closed"),
           ("hazards", "collected"), ("hazards", "filed"), ("hazards", "closed"), ("hazards", "rewarded"))


def reached(session: Session, s: Scenario, scale: float, now: dt.datetime) -> list[dict]:
    """Each target figure: the target × scale, what the year's records give, and how far off (a fraction)."""
    report = annual.report(session, DISTRICT, s.year, now)
    targets = {"cases": s.targets.cases.model_dump(), "hazards": s.targets.hazards.model_dump()}
    rows = []
    for part, name in FIGURES:
        target = targets[part][name] * scale
        got = report[part][name]
        rows.append({"figure": f"{part}.{name}", "target": round(target), "reached": got,
                     "off": round(got / target - 1, 4) if target else None,
                     "within": _within(got, target, s.tolerance)})
    registered = s.screening.disputes.registered * scale
    for name, target in (("collected", registered), ("resolved", registered * s.screening.disputes.resolved)):
        got = report["disputes"][name]
        rows.append({"figure": f"disputes.{name}", "target": round(target), "reached": got,
                     "off": round(got / target - 1, 4) if target else None,
                     "within": _within(got, target, s.tolerance)})
    filed, closed = report["cases"]["filed"], report["cases"]["closed"]
    rows.append({"figure": "cases.closure_rate", "target": round(s.targets.cases.closed / s.targets.cases.filed, 4),
                 "reached": round(closed / filed, 4) if filed else None, "off": None, "within": None})
    return rows


def _within(got: int, target: float, tolerance: float) -> bool:
    """Within the scenario's tolerance, or one item of it (a figure of a small scale is a rounded count)."""
    return bool(target) and abs(got - target) <= max(tolerance * target, 1.0)
