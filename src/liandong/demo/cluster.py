"""The demo's early-warning cluster: a burst of similar reports the detector finds in the demo month.

Ten reports of one matter (暴露垃圾, 06010) within about 250 m and 4 hours, three days ago, in one grid of 七宝镇's
area (or the grid in the middle of the index when that point is not loaded), reported through the same case service
as the month's activity; then the scan runs at the burst's end, so the demo has a warning (status new) with its
evidence."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import intake
from liandong.cases.calendar import WorkCalendar
from liandong.config import get_settings
from liandong.screening import early_warnings

POINT = (121.352, 31.160)
"""Near 七宝老街 (WGS 84)."""
MATTER = "06010"
REPORTS = 10
SPREAD_DEG = 0.0012  # ≈ ±120 m: the reports lie within about 250 m
HOURS = 4.0
DAYS_AGO = 3.0


def seed(session: Session, *, now: dt.datetime | None = None, seed: int = 12) -> dict:
    """Report the burst and scan at its end; returns the cases and the warnings the scan stored."""
    rng = random.Random(seed)
    now = now or dt.datetime.now(dt.UTC)
    index = GridIndex.build(session)
    grid = index.locate(*POINT) or index.hits[len(index.hits) // 2]
    centre = index.geoms[index.hits.index(grid)].representative_point()
    settings = get_settings()
    cal = WorkCalendar.load(session, settings.work_hours, settings.timezone)
    actor = Identity(roles=frozenset({"receptionist", "shift_leader", "dispatcher", "inspector"}), username="demo")
    end = now - dt.timedelta(days=DAYS_AGO)
    channels = ("grid_worker", "hotline", "citizen_web")
    cases = []
    for i in range(REPORTS):
        at = end - dt.timedelta(hours=HOURS * (REPORTS - 1 - i) / (REPORTS - 1))
        lon = centre.x + rng.uniform(-SPREAD_DEG, SPREAD_DEG) / 2
        lat = centre.y + rng.uniform(-SPREAD_DEG, SPREAD_DEG) / 2
        case = intake.open_case(session, index, actor, matter_code=MATTER, description="路边垃圾堆积（演示：聚集）",
                                lon=lon, lat=lat, channel=channels[i % len(channels)], now=at, calendar=cal,
                                duplicates=False).case  # each a report of its own, as the detector should see them
        cases.append(case.id)
    session.flush()
    outcome = early_warnings.scan(session, end + dt.timedelta(minutes=30), index)
    session.flush()
    return {"cases": cases, "warnings": [w.id for w in outcome.found]}
