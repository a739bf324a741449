"""Two simulated years side by side (a what-if against its base): the district's figures from each database's annual
report, and each department line's disposal and closure — the assessment's own counts of the line's units summed,
and its own rates (``indicators.OBJECTS``) taken over the sums."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from liandong.assessment import annual, service
from liandong.assessment import period as periods
from liandong.assessment.indicators import OBJECTS
from liandong.config import get_settings
from liandong.db import unit_of_work
from liandong.sim.calibration import DISTRICT
from liandong.units.models import Unit

DISTRICT_FIGURES = (("cases", "accepted"), ("cases", "filed"), ("cases", "closed"), ("cases", "closure_rate"),
                    ("hazards", "collected"), ("hazards", "closed"))
LINE_RATES = ("dispose_in_time_rate", "dispose_rate", "rework_rate", "extension_rate", "closed_in_time_rate")


def figures(url: str, year: int) -> dict:
    """One database's year: the district's figures and each line's counts and rates."""
    now = dt.datetime(year + 1, 1, 1, tzinfo=ZoneInfo(get_settings().timezone)).astimezone(dt.UTC)
    department = OBJECTS["department"]
    with unit_of_work(url) as session:
        report = annual.report(session, DISTRICT, year, now)
        rows = service.assess(session, DISTRICT, "department", periods.year(year), now)["rows"]
        line_of = dict(session.execute(select(Unit.id, Unit.line).where(Unit.id.in_([r["id"] for r in rows]))).all())
    lines: dict[str, dict] = {}
    for r in rows:
        sums = lines.setdefault(line_of.get(r["id"]) or "-", dict.fromkeys(department.counts, 0))
        for name in department.counts:
            sums[name] += r["indicators"].get(name) or 0
    for sums in lines.values():
        for name in LINE_RATES:
            rate = department.rates.get(name)
            if rate is not None:
                den = sums[rate.denominator]
                sums[name] = round(sums[rate.numerator] / den, 4) if den else None
    return {"simulation": report.get("simulation"),
            "district": {f"{part}.{name}": report[part][name] for part, name in DISTRICT_FIGURES},
            "lines": lines}


def compare(url_a: str, url_b: str, year: int) -> dict:
    """Both years' figures, and for each the change from the first to the second."""
    a, b = figures(url_a, year), figures(url_b, year)

    def pair(x, y) -> dict:
        change = round(y - x, 4) if isinstance(x, int | float) and isinstance(y, int | float) else None
        return {"a": x, "b": y, "change": change}

    return {"a": a["simulation"], "b": b["simulation"], "year": year,
            "district": {k: pair(v, b["district"].get(k)) for k, v in a["district"].items()},
            "lines": {line: {k: pair(v, b["lines"].get(line, {}).get(k)) for k, v in figs.items()
                             if k in LINE_RATES or k in ("assigned", "disposed", "overdue")}
                      for line, figs in sorted(a["lines"].items())}}
