"""Command-centre figures (KPIs, breakdowns, map layers) and the live feed over real HTTP (SSE)."""

import contextlib
import datetime as dt
import json
import queue
import threading

import httpx
import pytest
from sqlalchemy import update

from liandong.app import create_app
from liandong.cases.models import Case
from liandong.config import Settings
from liandong.db import dispose_engine, unit_of_work
from tests.caseworld import EAST_POINT, WEST_POINT, do, new_case
from tests.conftest import login, make_client
from tests.factories import EAST, PASSWORD, WEST
from tests.server import serve

FULL = ["accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"]


@pytest.fixture(scope="module")
def world(case_world):
    """Four cases: one closed, one dispatched and overdue, one reported in the west; one filed in the east."""
    url = case_world
    closed, late, fresh = new_case(url), new_case(url), new_case(url, channel="grid_worker")
    east = new_case(url, point=EAST_POINT, matter="06010")
    for action in FULL:
        do(url, closed, action, **({"note": "ok"} if action == "report_done" else {}))
    for action in ("accept", "file", "dispatch"):
        do(url, late, action)
    do(url, east, "accept")
    do(url, east, "file")
    with unit_of_work(url) as s:  # as if the sign stage had run out a day ago
        s.execute(update(Case).where(Case.id == late).values(
            stage_deadline=dt.datetime.now(dt.UTC) - dt.timedelta(days=1)))
    return {"url": url, "closed": closed, "late": late, "fresh": fresh, "east": east}


def test_overview_counts_today_within_jurisdiction(world):
    client = make_client(world["url"])
    district = client.get("/api/v1/stats/overview", headers=login(client, "dispatcher", PASSWORD)).json()
    assert district["today"] == {"reported": 4, "accepted": 3, "filed": 3, "dispatched": 2, "closed": 1}
    assert district["open"] == 3 and district["overdue"] == 1
    assert district["green"] + district["yellow"] == 1  # the east case waits for dispatch, in time
    assert district["closure_rate_30d"] == pytest.approx(1 / 3, abs=1e-3)
    assert district["on_time_rate_30d"] == 1.0
    east = client.get("/api/v1/stats/overview", headers=login(client, "east_handler", PASSWORD)).json()
    assert east["today"]["reported"] == 1 and east["open"] == 1 and east["overdue"] == 0


def test_breakdowns_series_areas_and_points(world):
    client = make_client(world["url"])
    h = login(client, "dispatcher", PASSWORD)
    by_channel = client.get("/api/v1/stats/breakdown", params={"by": "channel"}, headers=h).json()
    assert {d["key"]: d["count"] for d in by_channel} == {"hotline": 3, "grid_worker": 1}
    by_category = {d["key"]: d["count"] for d in client.get("/api/v1/stats/breakdown", params={"by": "category"},
                                                            headers=h).json()}
    assert sum(by_category.values()) == 4 and len(by_category) >= 1
    by_town = {d["key"]: d["count"] for d in client.get("/api/v1/stats/breakdown", params={"by": "town"},
                                                        headers=h).json()}
    assert sorted(by_town.values()) == [1, 3]
    assert client.get("/api/v1/stats/breakdown", params={"by": "colour"}, headers=h).status_code == 422
    days = client.get("/api/v1/stats/series", params={"days": 7}, headers=h).json()
    assert len(days) == 7 and days[-1]["reported"] == 4 and days[-1]["closed"] == 1
    towns = {d["code"]: d for d in client.get("/api/v1/stats/areas", params={"level": "town"}, headers=h).json()}
    assert towns[WEST] == {"code": WEST, "open": 2, "overdue": 1} and towns[EAST]["open"] == 1
    grids = client.get("/api/v1/stats/areas", params={"level": "grid"}, headers=h).json()
    assert sum(g["open"] for g in grids) == 3 and all(len(g["code"]) > len(WEST) for g in grids)
    pts = client.get("/api/v1/stats/points", headers=h).json()
    assert {p["id"] for p in pts} == {world["late"], world["fresh"], world["east"]}
    assert next(p for p in pts if p["id"] == world["late"])["overdue"] is True
    west_only = client.get("/api/v1/stats/points", headers=login(client, "west_handler", PASSWORD)).json()
    assert {p["id"] for p in west_only} == {world["late"], world["fresh"]}


def _listen(base: str, token: str, out: queue.Queue, stop: threading.Event, last_id: str | None = None,
            query: str = "", path: str = "/api/v1/live/events") -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server shuts down under open streams at the end
        _read_stream(base, token, out, stop, last_id, query, path)


def _read_stream(base: str, token: str, out: queue.Queue, stop: threading.Event, last_id: str | None,
                 query: str = "", path: str = "/api/v1/live/events") -> None:
    headers = {"Authorization": f"Bearer {token}", **({"Last-Event-ID": last_id} if last_id else {})}
    with httpx.Client(timeout=httpx.Timeout(30, read=20)) as client, \
            client.stream("GET", f"{base}{path}{query}", headers=headers) as r:
        out.put(("status", r.status_code))
        event_id = None
        for line in r.iter_lines():
            if line == ": connected":
                out.put(("connected", None))
            if line.startswith("id: "):
                event_id = int(line[4:])
            if line.startswith("data: ") and event_id is not None:
                out.put(("event", json.loads(line[6:])))
            if stop.is_set():
                return


def _next_event(out: queue.Queue, timeout: float = 10.0) -> dict:
    while True:
        kind, value = out.get(timeout=timeout)
        if kind == "event":
            return value


def test_live_feed_pushes_new_events_within_jurisdiction(world):
    url = world["url"]
    app = create_app(Settings(database_url=url, live_poll_seconds=0.05, sweep_seconds=0))
    with serve(app) as base, httpx.Client(base_url=base) as c:
        def token(user):
            return c.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD}).json()[
                "access_token"]
        district, east, rec = token("dispatcher"), token("east_handler"), token("receptionist")
        assert c.get("/api/v1/live/events").status_code == 401
        streams = {}
        stop = threading.Event()
        for name, tok in (("district", district), ("east", east)):
            out: queue.Queue = queue.Queue()
            threading.Thread(target=_listen, args=(base, tok, out, stop), daemon=True).start()
            assert out.get(timeout=10) == ("status", 200)
            assert out.get(timeout=10) == ("connected", None)
            streams[name] = out
        auth = {"Authorization": f"Bearer {rec}"}
        body = {"matter_code": "06010", "description": "暴露垃圾", "channel": "hotline"}
        west_case = c.post("/api/v1/cases", json={**body, "lon": WEST_POINT[0], "lat": WEST_POINT[1]},
                           headers=auth).json()
        east_case = c.post("/api/v1/cases", json={**body, "lon": EAST_POINT[0], "lat": EAST_POINT[1]},
                           headers=auth).json()
        c.post(f"/api/v1/cases/{east_case['id']}/actions/accept", json={}, headers=auth)
        got = [_next_event(streams["district"]) for _ in range(3)]
        assert [(e["case_id"], e["action"]) for e in got] == [
            (west_case["id"], "report"), (east_case["id"], "report"), (east_case["id"], "accept")]
        assert got[2]["state"] == "accepted" and got[0]["matter_code"] == "06010"
        assert "reporter" not in got[0] and "description" not in got[0]  # no personal data on screens
        first_east = _next_event(streams["east"])  # the west case never reaches the east town
        assert (first_east["case_id"], first_east["action"]) == (east_case["id"], "report")
        # a screen that reconnects after the first event gets the rest, nothing twice
        again: queue.Queue = queue.Queue()
        threading.Thread(target=_listen, args=(base, district, again, stop, str(got[0]["id"])),
                         daemon=True).start()
        replayed = [_next_event(again)["id"] for _ in range(2)]
        assert replayed == [got[1]["id"], got[2]["id"]]
        # a screen just opened starts with the latest events it may see, not an empty feed
        fresh: queue.Queue = queue.Queue()
        threading.Thread(target=_listen, args=(base, east, fresh, stop, None, "?recent=5"), daemon=True).start()
        seen = [_next_event(fresh)]
        while seen[-1]["id"] != got[2]["id"]:
            seen.append(_next_event(fresh))
        assert len(seen) <= 5 and [e["id"] for e in seen[-2:]] == [first_east["id"], got[2]["id"]]
        assert west_case["id"] not in {e["case_id"] for e in seen}  # still only what the east town may see
        assert c.get("/api/v1/live/events", params={"recent": 500},
                     headers={"Authorization": f"Bearer {east}"}).status_code == 422
        stop.set()
        # wake the streams so their threads see the stop flag
        c.post(f"/api/v1/cases/{west_case['id']}/actions/accept", json={}, headers=auth)
    dispose_engine(url)


def test_demo_activity_goes_through_the_state_table(case_world):
    """The demo's month of cases is made by the case service itself: every case ends where its log ends."""
    from sqlalchemy import func, select

    from liandong.cases.models import CaseEvent
    from liandong.demo import activity

    # a fixed clock (a Wednesday morning in Shanghai): which cases are still open, and how late, depends on the
    # hour the month ends at — the same seed at 18:00 leaves more stages waiting over the evening
    now = dt.datetime(2026, 11, 25, 2, 10, tzinfo=dt.UTC)
    with unit_of_work(case_world) as s:
        before = s.scalar(select(func.count()).select_from(Case))
        made = activity.generate(s, 40, seed=3, now=now)["cases"]
    with unit_of_work(case_world) as s:
        cases = list(s.scalars(select(Case).order_by(Case.id).offset(before)))
        assert made == len(cases) > 10
        assert len({c.state for c in cases}) >= 4
        for c in cases:
            last = s.scalar(select(CaseEvent.to_state).where(CaseEvent.case_id == c.id)
                            .order_by(CaseEvent.seq.desc()).limit(1))
            assert last == c.state
            assert c.created_at <= now and (c.closed_at is None or c.closed_at >= c.created_at)
        # a centre that mostly keeps time: few of the open cases are past their deadline
        from liandong.cases import calendar, sla

        cal = calendar.calendar_for(s)
        open_ = [c for c in cases if c.closed_at is None and c.state not in ("rejected", "merged")]
        red = [c for c in open_ if sla.status(c, cal, now)["light"] == "red"]
        assert open_ and len(red) <= len(open_) / 4, (len(red), len(open_))


def test_live_feed_of_a_department_unit_carries_only_its_assigned_cases(world):
    """A department's squad sees on its screen the cases dispatched to it, from their first event; an account
    of the same unit with no staff role sees none at all."""
    from liandong.auth.service import create_user
    from tests.caseworld import unit_id

    url = world["url"]
    with unit_of_work(url) as s:
        create_user(s, username="squad_screen", password=PASSWORD, unit_code=f"B-cm-{WEST}", roles=["handler"])
        create_user(s, username="squad_resident", password=PASSWORD, unit_code=f"B-cm-{WEST}", roles=["citizen"])
    other = new_case(url, description="未派给中队的案件")
    mine = new_case(url, description="派给中队的案件")
    for case_id, actions in ((other, ("accept", "file")), (mine, ("accept", "file"))):
        for action in actions:
            do(url, case_id, action)
    do(url, mine, "dispatch", lead_unit_id=unit_id(url, f"B-cm-{WEST}"))
    app = create_app(Settings(database_url=url, live_poll_seconds=0.05, sweep_seconds=0))
    with serve(app) as base, httpx.Client(base_url=base) as c:
        def token(user):
            return c.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD}).json()["access_token"]
        stop = threading.Event()
        squad, resident = queue.Queue(), queue.Queue()
        threading.Thread(target=_listen, args=(base, token("squad_screen"), squad, stop, None, "?recent=100"),
                         daemon=True).start()
        threading.Thread(target=_listen, args=(base, token("squad_resident"), resident, stop, None, "?recent=100"),
                         daemon=True).start()
        seen = [_next_event(squad)]
        while (seen[-1]["case_id"], seen[-1]["action"]) != (mine, "dispatch"):
            seen.append(_next_event(squad))
        assert other not in {e["case_id"] for e in seen}  # in the squad's town, but not dispatched to it
        assert [e["action"] for e in seen if e["case_id"] == mine] == ["report", "accept", "file", "dispatch"]
        assert all(unit_id(url, f"B-cm-{WEST}") in e["unit_ids"] for e in seen)
        assert resident.get(timeout=10) == ("status", 200)
        assert resident.get(timeout=10) == ("connected", None)
        with pytest.raises(queue.Empty):  # the replay comes at once when there is one: here there is none
            _next_event(resident, timeout=2)
        stop.set()
        do(url, mine, "sign")  # wake the streams so their threads see the stop flag
