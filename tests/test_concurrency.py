"""A report storm on a real server: more reports at once than the pool has connections, the same problem
reported again and again (the merge path), while the catalogue and the grid index are rebuilt.

Every report must be answered 201 and no request may wait for a pool connection: the server's pool times
out after a second, so such a wait would show as a 500 and a logged pool timeout, not as a stall.
"""

import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from liandong.app import create_app
from liandong.areas.service import bump_revision
from liandong.cases.models import Case
from liandong.catalogue import snapshot
from liandong.config import Settings
from liandong.db import POOL_SIZE, dispose_engine, get_engine, unit_of_work
from tests.caseworld import WEST_POINT
from tests.conftest import login
from tests.factories import PASSWORD
from tests.server import serve

CONCURRENT = max(64, POOL_SIZE + 8)
"""64 reports at once, and always more than the pool's connections (which grow with the cores)."""
MATTER = "06010"  # 暴露垃圾: line greening until the admin's edit in the middle of the storm
X, Y = WEST_POINT
DEPLOYED = Settings.model_construct()
"""The defaults a server runs with (tests otherwise check the grid index on every use: conftest.py). With
them most requests skip the check, and a due check meets requests that already hold connections."""


class Records(logging.Handler):
    """What the server logged at WARNING and above (uvicorn's loggers do not reach the root logger)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def report(client: httpx.Client, headers: dict, i: int) -> httpx.Response:
    """The same problem a few metres apart: each report after the first is merged into an earlier one."""
    return client.post("/api/v1/cases", headers=headers, json={
        "matter_code": MATTER, "description": "小区门口垃圾堆积", "lon": X + (i % 8) * 2e-5,
        "lat": Y + (i // 8 % 8) * 2e-5, "channel": "hotline"})


def bump_geo_revision_elsewhere(url: str) -> int:
    """As another process would: straight into the database, not through this server's engine."""
    engine = create_engine(url)
    try:
        with Session(engine) as s:
            revision = bump_revision(s)
            s.commit()
        return revision
    finally:
        engine.dispose()


@pytest.fixture
def server(case_world):
    """The app on a real port, its engine made first with a one-second pool timeout."""
    dispose_engine(case_world)
    engine = get_engine(case_world, pool_timeout=1.0)
    app = create_app(Settings(database_url=case_world, sweep_seconds=0, dedupe_auto=0.85, dedupe_review=0.6,
                              index_check_seconds=DEPLOYED.index_check_seconds))
    log = Records()
    errors = logging.getLogger("uvicorn.error")  # where a request's exception is logged, traceback and all
    errors.addHandler(log)
    try:
        with serve(app) as url:
            yield app, engine, url, log
    finally:
        errors.removeHandler(log)
        dispose_engine(case_world)


def test_a_report_storm_while_the_caches_are_rebuilt(case_world, server, monkeypatch):
    # the catalogue is checked on every use rather than every 2 s: each check (its revision read, a rebuild)
    # then meets requests that already hold connections, as a check in a long storm does sooner or later
    monkeypatch.setattr(snapshot, "CHECK_SECONDS", 0.0)
    app, engine, base, log = server
    assert engine.pool.size() < CONCURRENT
    with httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(max_connections=CONCURRENT + 4)) as client:
        rec = login(client, "receptionist", PASSWORD)
        admin = login(client, "admin", PASSWORD)
        assert client.get("/api/v1/me", headers=admin).status_code == 200  # both tokens remembered
        first = report(client, rec, 0)
        assert first.status_code == 201 and first.json()["line"] == "greening", first.text

        halfway, changed = threading.Event(), threading.Event()  # (waits bounded only so a hang fails)
        answered, lock = [], threading.Lock()

        def reporter(worker: int) -> list[tuple[int, httpx.Response]]:
            """Three reports in a row. The caches change once 64 answers are in, with about as many reports in
            flight; every third report is sent after the change, so the rebuilds happen amid the others."""
            out = []
            for rnd in range(3):
                if rnd == 2:
                    assert changed.wait(60)
                out.append((rnd, report(client, rec, rnd * CONCURRENT + worker)))
                with lock:
                    answered.append(worker)
                    if len(answered) == CONCURRENT:
                        halfway.set()
            return out

        with ThreadPoolExecutor(CONCURRENT) as pool:
            futures = [pool.submit(reporter, w) for w in range(CONCURRENT)]
            assert halfway.wait(60)
            edit = client.patch(f"/api/v1/catalogue/matters/{MATTER}", json={"line": "housing"}, headers=admin)
            geo_revision = bump_geo_revision_elsewhere(case_world)
            app.state.grid_index.forget()  # make the check that would see it due now, not within 2 s
            changed.set()
            results = [r for f in futures for r in f.result()]
        assert edit.status_code == 200, edit.text

        bad = [(r.status_code, r.text[:200]) for _, r in results if r.status_code != 201]
        assert not bad, bad
        assert len(results) == 3 * CONCURRENT
        assert not [line for line in log.lines if "QueuePool" in line or "TimeoutError" in line], log.lines
        # the rebuilds happened during the storm: reports sent after the edit follow it, the index is the new one
        assert any(r.json()["line"] == "housing" for rnd, r in results if rnd == 2)
        with app.state.sessionmaker() as s:
            assert app.state.grid_index.get(s, check_seconds=math.inf).revision == geo_revision
        last = report(client, rec, 1)
        assert last.status_code == 201 and last.json()["line"] == "housing", last.text
    with unit_of_work(case_world) as s:  # the storm took the merge path: every report after the first round
        merged = s.scalar(select(func.count()).select_from(Case).where(Case.master_id.is_not(None)))
        assert merged >= CONCURRENT
