"""District-wide plan activation (DESIGN §6: tasks created and notified ≤ 1 s): a typhoon affecting all 14
towns of the Minhang demo, the ``typhoon-flood`` plan activated at response level 1 — every task for every
sub-centre, workstation, department and town branch its selectors name, each owner notified, the log written —
timed from the call to the commit.

Two measurements, each on a fresh incident (the median of ``rounds``):

- ``service_s``: ``actions.activate`` in its own unit of work, committed (what the endpoint does, without HTTP);
- ``http_s``: ``POST /api/v1/incidents/{id}/plans/typhoon-flood/activate`` through the app in process
  (``TestClient``): the same plus the incident's answer.

``run(url, password)`` needs a database with the demo loaded (``bench/run.py`` makes one);
``python -m bench.plans [URL]`` loads the demo into a scratch SQLite file when no URL is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time

POINT = (121.3546, 31.1551)
"""A point in 七宝镇 (WGS84), the incident's own place."""


def _incident(url: str, lon: float, lat: float, towns: list[str]) -> int:
    from liandong.areas.index import GridIndex
    from liandong.auth.identity import Identity
    from liandong.db import unit_of_work
    from liandong.emergency import actions, intake
    from liandong.emergency.payloads import IncidentIn

    commander = Identity(roles=frozenset({"commander"}), username="bench")
    with unit_of_work(url) as s:
        incident = intake.open_incident(s, GridIndex.build(s), commander, IncidentIn(
            title="台风“烟花”正面袭击，全区受影响", category="natural", type="台风", grade=1, lon=lon, lat=lat,
            area_codes=towns), dt.datetime.now(dt.UTC))
        actions.act(s, incident.id, "verify", commander, {})
        return incident.id


def run(url: str, password: str, rounds: int = 3) -> dict:
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from liandong.app import create_app
    from liandong.areas.models import Area
    from liandong.auth.identity import Identity
    from liandong.cases.models import Notification
    from liandong.config import Settings
    from liandong.db import unit_of_work
    from liandong.emergency import actions
    from liandong.emergency.models import Task

    with unit_of_work(url) as s:
        towns = list(s.scalars(select(Area.code).where(Area.level == "town").order_by(Area.code)))
    commander = Identity(roles=frozenset({"commander"}), username="bench")
    lon, lat = POINT
    service, http, made, notified = [], [], [], []
    client = TestClient(create_app(Settings(database_url=url, sweep_seconds=0)))
    token = client.post("/api/v1/auth/token", data={"username": "commander", "password": password}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    for _ in range(rounds):
        iid = _incident(url, lon, lat, towns)
        with unit_of_work(url) as s:
            before = s.scalar(select(func.count()).select_from(Notification))
        t = time.perf_counter()
        with unit_of_work(url) as s:
            actions.activate(s, iid, "typhoon-flood", commander, {"response_level": 1})
        service.append(time.perf_counter() - t)
        with unit_of_work(url) as s:
            made.append(s.scalar(select(func.count()).select_from(Task).where(Task.incident_id == iid)))
            notified.append(s.scalar(select(func.count()).select_from(Notification)) - before)
        iid = _incident(url, lon, lat, towns)
        t = time.perf_counter()
        r = client.post(f"/api/v1/incidents/{iid}/plans/typhoon-flood/activate", json={"response_level": 1},
                        headers=headers)
        http.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
    return {"towns": len(towns), "tasks": made[-1], "notices": notified[-1], "rounds": rounds,
            "service_s": round(statistics.median(service), 4), "http_s": round(statistics.median(http), 4),
            "target_s": 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="a database with the demo loaded (default: a scratch SQLite one)")
    parser.add_argument("--password", default="bench-password-1")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = args.url
    if url is None:
        from liandong.db import migrate, unit_of_work
        from liandong.demo import loader

        url = f"sqlite:///{tempfile.mkdtemp()}/plans.db"
        migrate(url)
        with unit_of_work(url) as s:
            loader.load(s, args.password, check_passwords=False)
    print(json.dumps(run(url, args.password, args.rounds)))


if __name__ == "__main__":
    main()
