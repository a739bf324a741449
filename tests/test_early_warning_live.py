"""Early warnings pushed live: a scan that finds a cluster, and each decision on it, reach the screens that may see
the warning over ``/api/v1/live/early-warnings`` (Server-Sent Events over real HTTP), and no other; the feed's
predicate decides as the SQL filter does for every caller; the command centre's panel shows a new warning without
a reload (its poll is minutes apart, so only the push can do it)."""

from __future__ import annotations

import datetime as dt
import queue
import threading

import httpx
import pytest
from sqlalchemy import select

from liandong.app import create_app
from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.auth.service import create_user, get_user, identity_for_token, issue_token
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.screening import early_warning_live, early_warning_queries, early_warnings
from liandong.screening.early_warning_models import EarlyWarning
from tests.browser import caseworld_site, chromium, expect, new_page
from tests.factories import EAST, PASSWORD
from tests.server import serve
from tests.test_browser_early_warnings import inject
from tests.test_browser_incidents import api, sign_in
from tests.test_dashboard import _listen, _next_event

NOW = dt.datetime(2026, 7, 20, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def world(case_world):
    with unit_of_work(case_world) as s:
        create_user(s, username="east_leader", password=PASSWORD, unit_code=f"S-{EAST}", roles=["shift_leader"])
        create_user(s, username="commander", password=PASSWORD, unit_code="C", roles=["commander"])
    return case_world


def test_a_scan_and_a_decision_reach_the_screens_that_see_the_warning(world):
    bursts = inject(world, NOW)  # one burst in the west town, one in the east
    app = create_app(Settings(database_url=world, live_poll_seconds=0.05, sweep_seconds=0,
                              early_warning_scan_minutes=0), clock=lambda: NOW)
    with serve(app) as base, httpx.Client(base_url=base) as c:
        def token(user):
            return c.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD}).json()["access_token"]

        assert c.get("/api/v1/live/early-warnings").status_code == 401
        stop, streams = threading.Event(), {}
        for user in ("shift_leader", "east_leader"):
            out: queue.Queue = queue.Queue()
            threading.Thread(target=_listen, args=(base, token(user), out, stop),
                             kwargs={"path": "/api/v1/live/early-warnings"}, daemon=True).start()
            assert out.get(timeout=10) == ("status", 200) and out.get(timeout=10) == ("connected", None)
            streams[user] = out
        auth = {"Authorization": f"Bearer {token('shift_leader')}"}
        found = c.post("/api/v1/early-warnings/scan", headers=auth).json()["items"]
        by_place = {lang: next(w for w in found if set(w["case_ids"]) & set(ids)) for lang, ids in bursts.items()}
        west, east = by_place["zh"], by_place["en"]  # the zh burst lies in the west town, the en one in the east
        seen = {_next_event(streams["shift_leader"])["warning_id"] for _ in found}
        assert seen == {w["id"] for w in found}
        got = _next_event(streams["east_leader"])  # the east sees its own warning, not the west's
        assert (got["warning_id"], got["kind"], got["status"]) == (east["id"], "found", "new")
        assert "actor" not in got and got["matter_codes"] == east["matter_codes"]
        r = c.post(f"/api/v1/early-warnings/{west['id']}/actions/watch", json={"note": "继续观察"}, headers=auth)
        assert r.status_code == 200, r.text
        got = _next_event(streams["shift_leader"])
        assert (got["warning_id"], got["kind"], got["status"]) == (west["id"], "watch", "watching")
        c.post(f"/api/v1/early-warnings/{east['id']}/actions/dismiss", json={"note": "已核实为同一事件"},
               headers=auth)
        got = _next_event(streams["east_leader"])  # the west's decision never reached the east
        assert (got["warning_id"], got["kind"], got["status"]) == (east["id"], "dismiss", "dismissed")
        stop.set()


def test_the_live_predicate_agrees_with_the_sql_rule(world):
    """One visibility rule: for every kind of caller, the live predicate over the feed's items keeps exactly the
    warnings the SQL filter lets them read."""
    with unit_of_work(world) as s:
        if not s.scalar(select(EarlyWarning.id).limit(1)):  # run alone: make the warnings here
            inject(world, NOW)
            early_warnings.scan(s, NOW, GridIndex.build(s))
    with unit_of_work(world) as s:
        items = early_warning_live.read(s, 0, limit=10**6)
        assert items
        callers = {name: identity_for_token(s, issue_token(s, get_user(s, name)))  # as a signed-in user is seen
                   for name in ("shift_leader", "east_leader", "commander", "dispatcher", "receptionist", "cm_west")}
        callers["nobody"] = Identity(roles=frozenset({"citizen"}))
        for name, caller in callers.items():
            sql = set(s.scalars(early_warning_queries.visible(select(EarlyWarning.id), caller)))
            sees = early_warning_live.predicate(caller)
            assert {i["warning_id"] for i in items if sees(i)} == sql, name
        assert early_warning_live.last(s) == max(i["id"] for i in items)


@pytest.mark.browser
def test_the_command_centre_panel_shows_a_new_warning_without_a_reload(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ew-live")
    url = f"sqlite:///{folder / 'site.db'}"
    with caseworld_site(folder, live_poll_seconds=0.1, sweep_seconds=0, early_warning_scan_minutes=0) as base, \
            chromium() as browser:
        problems: list[str] = []
        pg = new_page(browser, problems)
        sign_in(pg, base, "shift_leader")
        panel = pg.locator("#early-warnings-open")
        expect(panel).to_have_attribute("data-live", "1")
        expect(pg.locator("#early-warnings-count")).to_have_text("0")
        loaded = panel.get_attribute("data-loaded")
        inject(url, dt.datetime.now(dt.UTC))
        with api(base, "shift_leader") as c:
            found = c.post("/api/v1/early-warnings/scan").json()["items"]
        assert found
        expect(pg.locator("#early-warnings-count")).to_have_text(str(len(found)), timeout=10_000)
        for w in found:
            expect(panel.locator(f'li[data-warning-id="{w["id"]}"]')).to_be_visible()
        assert panel.get_attribute("data-loaded") != loaded and pg.url.endswith("/")
        assert not problems, problems
