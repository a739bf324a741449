"""Prometheus metrics at /metrics and JSON logs with a request id (issue 15 point 6).

The per-process metrics live in the process's registry, shared by every app a test makes: the tests read
differences, or labels only they produce. The database figures are compared with the event log and the cases.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from liandong.app import create_app
from liandong.areas.index import GridIndex
from liandong.cases import actions, intake, sla
from liandong.cases.models import Case, CaseEvent
from liandong.config import Settings
from liandong.db import migrate, unit_of_work
from liandong.ops import logs, metrics
from tests.caseworld import WEST_POINT, boss, fill
from tests.conftest import login
from tests.factories import PASSWORD
from tests.server import serve

TOKEN = "scrape-secret-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
THEN = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # Monday 09:00 in Shanghai, a working day
WAIT = 20.0
"""Longest wait for a background effect (a sweep, a closed stream); the tests poll, they never time anything."""


@pytest.fixture
def fresh_world(db_url):
    """A fresh small district with the catalogue and a user per role, for figures that must start from nothing."""
    fill(db_url)
    return db_url


@pytest.fixture(scope="module")
def world(case_world):
    """The small district shared by this module's tests on each backend: each test reads differences, or a day
    of case time only it uses."""
    return case_world


@pytest.fixture(scope="module")
def log_world(tmp_path_factory):
    """The logs do not depend on the backend: one SQLite district for them."""
    url = f"sqlite:///{tmp_path_factory.mktemp('logs') / 'liandong.db'}"
    migrate(url)
    fill(url)
    return url


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition: (name, sorted labels) → value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, default: float | None = None, **labels) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))), default)


def scrape(client: TestClient) -> dict:
    r = client.get("/metrics", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


def scrape_url(base: str) -> dict:
    r = httpx.get(f"{base}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    return samples(r.text)


def case_at(url: str, when: dt.datetime, *steps: str) -> int:
    """A case reported at ``when`` and moved through ``steps`` at the same moment, through the case service."""
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
        case, _ = intake.report(s, index, boss(url), matter_code="06010", description="暴露垃圾",
                                lon=WEST_POINT[0], lat=WEST_POINT[1], channel="hotline", now=when)
        for step in steps:
            actions.act(s, index, case.id, step, boss(url), {}, now=when)
        return case.id


def wait_for(check, what: str):
    deadline = time.monotonic() + WAIT
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {WAIT} s")
        time.sleep(0.05)


HISTOGRAM = "liandong_http_request_duration_seconds"


def test_latency_histogram_is_labelled_by_route_template(world):
    """Two cases read, one unknown path: one series for the case route's template (never the raw paths), and the
    unknown path under the fixed label."""
    client = TestClient(create_app(Settings(database_url=world, metrics_token=TOKEN), clock=lambda: THEN))
    first, second = case_at(world, THEN), case_at(world, THEN)
    h = login(client, "dispatcher", PASSWORD)
    before = scrape(client)
    route = {"route": "/api/v1/cases/{case_id}", "method": "GET"}
    for cid in (first, second):
        assert client.get(f"/api/v1/cases/{cid}", headers=h).status_code == 200
    assert client.get("/api/v1/cases/999999", headers=h).status_code == 404
    assert client.get("/no/such/page/4711").status_code == 404
    after = scrape(client)
    grew = {status: value(after, f"{HISTOGRAM}_count", 0, status=status, **route)
            - value(before, f"{HISTOGRAM}_count", 0, status=status, **route) for status in ("2xx", "4xx")}
    assert grew == {"2xx": 2, "4xx": 1}
    assert value(after, f"{HISTOGRAM}_bucket", status="2xx", le="+Inf", **route) == value(
        after, f"{HISTOGRAM}_count", status="2xx", **route)
    unmatched = {"route": metrics.UNMATCHED, "method": "GET", "status": "4xx"}
    assert value(after, f"{HISTOGRAM}_count", 0, **unmatched) - value(before, f"{HISTOGRAM}_count", 0, **unmatched) == 1
    routes = {dict(labels).get("route") for name, labels in after if name.startswith(HISTOGRAM)}
    assert f"/api/v1/cases/{first}" not in routes and "/no/such/page/4711" not in routes, routes
    assert value(after, "liandong_http_requests_in_flight") >= 1  # the scrape itself is in flight


def test_transitions_by_action_are_the_event_log_of_the_day(world):
    """The counter of transitions by action is a count over the event log since the district's day began:
    yesterday's events are not in it, and every action taken today is, once."""
    day = dt.datetime(2026, 4, 13, 1, 0, tzinfo=dt.UTC)  # a Monday no other test of this module acts on
    case_at(world, day - dt.timedelta(days=1), "accept", "file")  # the day before
    case_at(world, day, "accept", "file")
    case_at(world, day + dt.timedelta(minutes=5), "accept")
    case_at(world, day + dt.timedelta(minutes=9))
    client = TestClient(create_app(Settings(database_url=world, metrics_token=TOKEN),
                                   clock=lambda: day + dt.timedelta(hours=1)))
    found = scrape(client)
    day_start = dt.datetime(2026, 4, 12, 16, 0, tzinfo=dt.UTC)  # midnight in Shanghai
    with unit_of_work(world) as s:
        log = Counter(e.action for e in s.scalars(select(CaseEvent)) if day_start <= e.at < day_start + dt.timedelta(1))
    assert log == {"report": 3, "accept": 2, "file": 1}
    exposed = {dict(labels)["action"]: v for (name, labels), v in found.items()
               if name == "liandong_case_transitions_total"}
    assert {a: n for a, n in exposed.items() if n} == log
    assert exposed["dispatch"] == 0  # every action of the table has its series, at 0 until it happens
    assert value(found, "liandong_case_transitions_created", action="report") == day_start.timestamp()
    assert value(found, "liandong_metrics_database_up") == 1


def test_overdue_count_and_sweep_lag_follow_the_deadline(fresh_world):
    """A filed case's stage (one working hour) passes its deadline: it is counted overdue, and the sweep's lag is
    the time since the deadline, until the sweep raises the stage."""
    world = fresh_world
    clock = {"now": THEN}
    client = TestClient(create_app(Settings(database_url=world, metrics_token=TOKEN), clock=lambda: clock["now"]))
    cid = case_at(world, THEN, "accept", "file")
    with unit_of_work(world) as s:
        deadline = s.get(Case, cid).stage_deadline
    assert deadline == THEN + dt.timedelta(hours=1)
    found = scrape(client)
    assert (value(found, "liandong_cases_overdue"), value(found, "liandong_sweep_lag_seconds")) == (0, 0)

    clock["now"] = THEN + dt.timedelta(hours=2)
    found = scrape(client)
    assert value(found, "liandong_cases_overdue") == 1
    assert value(found, "liandong_sweep_lag_seconds") == pytest.approx(3600)

    with unit_of_work(world) as s:
        assert sla.sweep(s, clock["now"]) == [cid]
    found = scrape(client)
    assert value(found, "liandong_cases_overdue") == 1  # still red: raised, not done
    assert value(found, "liandong_sweep_lag_seconds") == 0  # the next level waits a whole stage limit
    assert value(found, "liandong_case_transitions_total", action="escalate") == 1


def test_database_figures_fail_alone(tmp_path):
    """A database that cannot be read leaves the runtime figures served and says so in one gauge."""
    client = TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path}/missing/dir/x.db",
                                            metrics_token=TOKEN, sweep_seconds=0)))
    found = scrape(client)
    assert value(found, "liandong_metrics_database_up") == 0
    assert value(found, "liandong_cases_overdue") is None
    assert value(found, "liandong_job_runs_total", job="sweep") is not None


def test_sse_clients_gauge_counts_open_streams(world):
    """An open live stream counts one client of its feed for as long as it stays open."""
    app = create_app(Settings(database_url=world, sweep_seconds=0, early_warning_scan_minutes=0))
    with serve(app) as base:
        token = httpx.post(f"{base}/api/v1/auth/token", data={"username": "dispatcher", "password": PASSWORD},
                           timeout=10).json()["access_token"]
        before = value(scrape_url(base), "liandong_sse_clients", feed="cases")
        with httpx.stream("GET", f"{base}/api/v1/live/events", headers={"Authorization": f"Bearer {token}"},
                          timeout=10) as stream:
            assert stream.status_code == 200
            chunks = stream.iter_text()  # kept alive: leaving the loop of an iterator over it would close the stream
            while "connected" not in next(chunks):
                pass
            found = scrape_url(base)
            assert value(found, "liandong_sse_clients", feed="cases") == before + 1
            assert value(found, "liandong_sse_clients", feed="incidents") == 0  # the other feeds are exposed too
            assert value(found, "liandong_sse_clients", feed="early_warnings") == 0
            opened = value(found, f"{HISTOGRAM}_count", route="/api/v1/live/events", method="GET", status="2xx")
            assert opened >= 1  # the open stream is already measured (until it opened)
        wait_for(lambda: value(scrape_url(base), "liandong_sse_clients", feed="cases") == before,
                 "the closed stream leaving the gauge")


def test_job_runs_count_the_background_sweep(world):
    """The app's own sweep loop counts its runs (and their successes) per job."""
    before = samples(_exposition())
    app = create_app(Settings(database_url=world, sweep_seconds=0.05, early_warning_scan_minutes=0))
    with serve(app) as base:
        def swept():
            found = scrape_url(base)
            return found if all(value(found, "liandong_job_runs_total", job=j) > value(
                before, "liandong_job_runs_total", job=j) for j in ("sweep", "task_sweep")) else None

        found = wait_for(swept, "a sweep")
    for job in ("sweep", "task_sweep"):
        assert value(found, "liandong_job_failures_total", job=job) == value(before, "liandong_job_failures_total",
                                                                             job=job)
        assert value(found, "liandong_job_last_success_timestamp_seconds", job=job) > 0
        assert value(found, "liandong_job_duration_seconds_count", job=job) >= 1


def _exposition() -> str:
    from prometheus_client import REGISTRY, generate_latest

    return generate_latest(REGISTRY).decode()


def test_job_run_counts_a_failure_and_lets_it_through():
    before = samples(_exposition())
    with pytest.raises(RuntimeError, match="broken"), metrics.job_run("cap_poll"):
        raise RuntimeError("broken")
    after = samples(_exposition())
    for name in ("liandong_job_runs_total", "liandong_job_failures_total"):
        assert value(after, name, job="cap_poll") == value(before, name, job="cap_poll") + 1


def test_metrics_are_refused_to_callers_not_allowed(world, tmp_path):
    """No token: only a direct loopback caller reads the metrics (not one through a proxy, not another host).
    A token: every caller must present it."""
    open_app = create_app(Settings(database_url=world, sweep_seconds=0, early_warning_scan_minutes=0))
    far = TestClient(open_app)  # its client address is "testclient": not loopback
    r = far.get("/metrics")
    assert r.status_code == 403 and "LIANDONG_METRICS_TOKEN" in r.json()["detail"]
    with serve(open_app) as base:
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 200
        proxied = httpx.get(f"{base}/metrics", headers={"X-Forwarded-For": "203.0.113.7"}, timeout=10)
        assert proxied.status_code == 403
        assert httpx.get(f"{base}/metrics", headers={"Forwarded": "for=203.0.113.7"}, timeout=10).status_code == 403
    locked = create_app(Settings(database_url=world, metrics_token=TOKEN, sweep_seconds=0,
                                 early_warning_scan_minutes=0))
    with serve(locked) as base:
        bare = httpx.get(f"{base}/metrics", timeout=10)
        assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        assert httpx.get(f"{base}/metrics", headers={"Authorization": TOKEN}, timeout=10).status_code == 401
        assert httpx.get(f"{base}/metrics", headers=AUTH, timeout=10).status_code == 200
    assert TestClient(locked).get("/metrics", headers=AUTH).status_code == 200
    assert "/metrics" not in far.get("/openapi.json").json()["paths"]


# --- logs -----------------------------------------------------------------------------------------------------

def _lines(text: str) -> list[dict]:
    """The JSON lines of captured stderr (each must be valid JSON)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _logging_app(world: str):
    app = create_app(Settings(database_url=world, metrics_token=TOKEN, sweep_seconds=0, log_level="info"))

    def noisy() -> dict:
        """Writes a line of its own (in the worker thread a sync endpoint runs in) and names its caller."""
        logs.note_user(42)
        logging.getLogger("liandong.test").warning("inside the handler")
        return {"ok": True}

    app.add_api_route("/test/noisy", noisy, methods=["GET"])
    return app


def test_log_lines_are_json_with_the_request_id(log_world, capsys):
    client = TestClient(_logging_app(log_world))
    capsys.readouterr()
    r = client.get("/test/noisy", headers={"X-Request-ID": "edge-7f3a.01_b"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "edge-7f3a.01_b"
    lines = _lines(capsys.readouterr().err)
    mine = [line for line in lines if line.get("request_id") == "edge-7f3a.01_b"]
    inside = next(line for line in mine if line["logger"] == "liandong.test")
    assert inside["message"] == "inside the handler" and inside["level"] == "warning" and inside["user_id"] == 42
    done = next(line for line in mine if line["logger"] == "liandong.request")
    assert {k: done[k] for k in ("method", "route", "status", "user_id")} == {
        "method": "GET", "route": "/test/noisy", "status": 200, "user_id": 42}
    assert done["duration_ms"] >= 0 and dt.datetime.fromisoformat(done["time"]).tzinfo is not None
    assert {"time", "level", "logger", "message", "request_id"} <= set(done)

    fresh = client.get("/test/noisy")  # none given: one is made, sent back and logged
    made = fresh.headers["x-request-id"]
    assert len(made) == 32
    assert any(line.get("request_id") == made and line["logger"] == "liandong.request"
               for line in _lines(capsys.readouterr().err))


def test_an_unfit_request_id_is_replaced(log_world, capsys):
    """Too long, empty, or with characters a log reader or a header could trip on: a new id is made instead."""
    client = TestClient(_logging_app(log_world))
    for given in ("has space", "x" * 65, "semi;colon", "ünïcode", "", "a\tb", "<script>", "a\\nb"):
        capsys.readouterr()
        r = client.get("/test/noisy", headers={"X-Request-ID": given.encode("utf-8")})
        made = r.headers["x-request-id"]
        assert made != given and logs.VALID_ID.fullmatch(made), given
        ids = {line.get("request_id") for line in _lines(capsys.readouterr().err)
               if line["logger"].startswith("liandong")}
        assert ids == {made}, given
    assert client.get("/test/noisy", headers={"X-Request-ID": "x" * 64}).headers["x-request-id"] == "x" * 64


def test_request_logs_carry_no_personal_data(log_world, capsys):
    """A citizen's report and a look at a case: the logs name the route template, never the path, the query,
    names or phone numbers."""
    client = TestClient(_logging_app(log_world))
    h = login(client, "receptionist", PASSWORD)
    capsys.readouterr()
    form = {"matter_code": "06010", "description": "垃圾没人收", "lon": str(WEST_POINT[0]),
            "lat": str(WEST_POINT[1]), "name": "王小明", "phone": "13912345678"}
    made = client.post("/api/v1/public/reports", data=form)
    assert made.status_code in (200, 201), made.text
    number = made.json()["number"]
    assert client.get("/api/v1/cases", params={"q": number}, headers=h).status_code == 200
    err = capsys.readouterr().err
    lines = [line for line in _lines(err) if line["logger"].startswith("liandong")]
    assert {line["route"] for line in lines if line["logger"] == "liandong.request"} == {
        "/api/v1/public/reports", "/api/v1/cases"}
    own = json.dumps(lines, ensure_ascii=False)
    for secret in ("13912345678", "王小明", number):
        assert secret not in own


def test_text_format_and_refused_settings(capsys):
    try:
        logs.configure("text", "info")
        logging.getLogger("liandong.test").info("plain %s", "words")
        err = capsys.readouterr().err
        assert "INFO liandong.test plain words" in err
        with pytest.raises(ValueError, match="LIANDONG_LOG_FORMAT must be one of json, text, not 'xml'"):
            logs.configure("xml", "info")
        with pytest.raises(ValueError, match="LIANDONG_LOG_LEVEL"):
            logs.configure("json", "loud")
    finally:
        logs.configure("json", "info")


# --- several processes -------------------------------------------------------------------------------------------

WORKER = textwrap.dedent("""
    import os
    import sys
    import time
    from pathlib import Path
    from fastapi.testclient import TestClient
    from liandong.app import create_app
    app = create_app()
    app.add_api_route("/crash", lambda: os._exit(9))  # dies in the middle of a request, as under kill -9
    client = TestClient(app)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    if sys.argv[1] == "crash":
        client.get("/crash")
    go, deadline = Path(sys.argv[1]), time.monotonic() + 120  # the scraper: waits for the other process's end
    while not go.exists():
        assert time.monotonic() < deadline, "never told to scrape"
        time.sleep(0.05)
    r = client.get("/metrics", headers={"Authorization": "Bearer " + os.environ["LIANDONG_METRICS_TOKEN"]})
    assert r.status_code == 200, r.text
    sys.stdout.write(r.text)
""")


def test_multiprocess_mode_sums_the_processes(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, /metrics in one process sums what every process counted (two processes, as
    ``--workers 2`` makes). A process that dies mid-request (as under kill -9) keeps its finished requests in the
    sums but no longer counts its request in flight; one that ends cleanly leaves no live gauges behind."""
    url = f"sqlite:///{tmp_path}/liandong.db"
    migrate(url)
    shared, go = tmp_path / "prometheus", tmp_path / "go"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "LIANDONG_DATABASE_URL": url,
           "LIANDONG_METRICS_TOKEN": TOKEN, "LIANDONG_SWEEP_SECONDS": "0", "LIANDONG_LOG_LEVEL": "info"}
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "env": env}
    with subprocess.Popen([sys.executable, "-c", WORKER, "crash"], **pipes) as first, \
            subprocess.Popen([sys.executable, "-c", WORKER, str(go)], **pipes) as second:
        try:
            _, err = first.communicate(timeout=120)
            assert first.returncode == 9, err
            assert (shared / f"gauge_livesum_{first.pid}.db").exists()  # left behind: it could not clean up
            go.touch()
            out, err = second.communicate(timeout=120)
            assert second.returncode == 0, err
        finally:
            for process in (first, second):
                if process.poll() is None:
                    process.kill()
    found = samples(out)
    assert value(found, f"{HISTOGRAM}_count", route="/healthz", method="GET", status="2xx") == 6
    assert value(found, "liandong_http_requests_in_flight") == 1  # the scrape itself; not the dead one's request
    assert value(found, "liandong_metrics_database_up") == 1
    assert not list(shared.glob("gauge_livesum_*.db"))  # the dead one's dropped at the scrape, the other's at exit
    assert [json.loads(line) for line in err.splitlines() if line.strip()]  # the workers log JSON lines
