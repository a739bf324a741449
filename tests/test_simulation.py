"""The simulated year (``liandong simulate``), small-scale, on both backends: the Minhang district loaded without
demo activity, a seeded year at 0.4 % of Minhang's volume played through the services by two processes sharing the
towns, interrupted in April and continued by a second run in one process.

What it proves: the log is exactly the plan (nothing done twice across the interruption, nothing skipped); every
case's events are a legal walk of the transition table and the stored stage facts are those the log gives; the
annual report's figures are the log's own counts and land on the scenario's proportions; the year is marked as
simulated on the report and the pages; the command line continues a finished run without writing anything.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import func, select, text

from liandong.areas.index import GridIndex
from liandong.assessment import annual
from liandong.auth.identity import Identity
from liandong.cases import facts, history, intake
from liandong.cases.models import Case, CaseEvent
from liandong.db import unit_of_work
from liandong.demo import loader
from liandong.errors import Invalid
from liandong.screening.hazard_models import HazardEvent
from liandong.sim import calibration, run, scenario
from liandong.sim import disputes as dp
from liandong.sim import hazards as hz
from liandong.sim import plan as plans
from tests.conftest import BACKENDS, fresh_database, login, make_client

SCALE, SEED = 0.004, 5
CLI = [str(Path(sys.executable).with_name("liandong"))]
STOP = dt.date(2012, 4, 1)


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module", params=BACKENDS)
def year(request, tmp_path_factory):
    for url in fresh_database(request.param, tmp_path_factory):
        with unit_of_work(url) as s:
            loaded = loader.load(s, None, cases=0)
        sc = scenario.load("minhang-2012")

        def stop(p: run.Progress) -> None:
            if p.day >= STOP:
                raise Interrupted

        helpers = tmp_path_factory.mktemp("helpers") / "pids"
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(run, "TIDY_STEPS", 1_000)  # the tables tidied during the year too, not only at its end
            patch.setattr(run, "SCAN_STEPS", 0)  # at this scale the first process would play no town's cases
            patch.setattr(run, "_help", _noted(run._help, helpers))
            with pytest.raises(Interrupted):
                run.simulate(url, sc, seed=SEED, scale=SCALE, on_progress=stop, workers=2)
            assert len(set(helpers.read_text().split())) == 1  # a helper played a share
            second = run.simulate(url, sc, seed=SEED, scale=SCALE, workers=1)
        yield url, sc, second, loaded


def _noted(real, file: Path):
    """``run._help`` noting the helper's process id first."""

    def help_(*args) -> None:
        with open(file, "a") as out:
            out.write(f"{os.getpid()}\n")
        real(*args)
    return help_


@pytest.fixture(scope="module")
def played(year):
    url, sc, _, _ = year
    return run.prepare(url, sc, SEED, SCALE)


def test_the_second_run_continued_the_first(year, played):
    url, sc, second, _ = year
    assert second["resumed_from"] == (STOP + dt.timedelta(days=1)).isoformat()
    assert 0 < second["steps"] < len(played.plan.step_t)
    assert played.done_until == played.world.clock.year_minutes
    assert len(played.case_ids) == played.plan.n and len(played.hazard_ids) == played.hazards.n
    assert len(played.dispute_ids) == played.disputes.n
    again = run.simulate(url, sc, seed=SEED, scale=SCALE)  # a finished year: nothing left to do
    assert again["steps"] == 0


def test_each_report_has_the_id_its_ordinal_gives_it_and_one_process_writes_the_same_year(year, played,
                                                                                       tmp_path_factory):
    """Whichever process played a report, its case has the id its ordinal in the plan gives it, after a block the
    run took; on PostgreSQL the id sequence stands past the block, so a case reported afterwards takes an id of its
    own. The same year played in one process from start to end (SQLite) writes the very same rows: the cases, the
    log, the stage facts, the early warnings."""
    url = year[0]
    first = played.first_case_id
    assert played.case_ids == {i: first + i for i in range(played.plan.n)}
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
        p, desk = played.plan, Identity(roles=frozenset({"receptionist"}))
        case, _ = intake.report(s, index, desk, matter_code=p.matter[0], description="模拟之后的上报",
                                lon=float(p.lon[0]), lat=float(p.lat[0]), channel="hotline")
        assert case.id > first + played.plan.n - 1
        s.rollback()
    if not url.startswith("sqlite"):
        return  # one backend is enough for the comparison
    rows = {"cases": "SELECT * FROM cases ORDER BY id",
            "events": "SELECT case_id, seq, at, actor, action, from_state, to_state, payload FROM case_events "
                      "ORDER BY case_id, seq",
            "facts": "SELECT case_id, seq, stage, started_at, ended_at, used_minutes, on_time, outcome, lead_unit_id "
                     "FROM case_stage_facts ORDER BY case_id, seq",
            "warnings": "SELECT detector, window_start, window_end, centre_grid_id, observed, p_value, status, "
                        "case_ids FROM early_warnings ORDER BY id"}

    def written(at: str) -> dict[str, list]:
        with unit_of_work(at) as s:
            return {name: [tuple(r) for r in s.execute(text(sql))] for name, sql in rows.items()}

    with unit_of_work(url) as s, pytest.raises(Invalid) as taken:  # a case not the run's in its block
        run._check_block(s, first, played.plan.n, dict(list(played.case_ids.items())[1:]))
    assert taken.value.code == "run_ids_taken"
    for alone in fresh_database("sqlite", tmp_path_factory):
        with unit_of_work(alone) as s:
            loader.load(s, None, cases=0)
        run.simulate(alone, year[1], seed=SEED, scale=SCALE, workers=1)
        assert written(alone) == written(url)


def test_a_helpers_error_stops_the_year_and_a_rerun_finishes_it(tmp_path_factory, monkeypatch):
    """A step a helper process is refused stops the run with the helper's own message, whatever the first process
    was doing; what was committed stays, and the same command then finishes the year, the log exactly the plan."""
    sc, parent = scenario.load("minhang-2012"), os.getpid()
    real = run._Player.step

    def refused_in_a_helper(self, session, cal, batch, j) -> None:
        if os.getpid() != parent and self.p.step_t[j] > 40 * 1440:
            raise run.Refused("a refusal made by the test")
        real(self, session, cal, batch, j)

    for url in fresh_database("sqlite", tmp_path_factory):
        with unit_of_work(url) as s:
            loader.load(s, None, cases=0)
        monkeypatch.setattr(run, "SCAN_STEPS", 0)
        monkeypatch.setattr(run._Player, "step", refused_in_a_helper)
        with pytest.raises(RuntimeError, match="a refusal made by the test"):
            run.simulate(url, sc, seed=SEED, scale=0.002, workers=2)
        monkeypatch.setattr(run._Player, "step", real)
        with unit_of_work(url) as s:
            assert s.scalar(select(func.count()).select_from(Case)) > 0
        done = run.simulate(url, sc, seed=SEED, scale=0.002, workers=2)
        ready = run.prepare(url, sc, SEED, 0.002)
        assert done["workers"] == 2 and ready.done_until == ready.world.clock.year_minutes
        with unit_of_work(url) as s:
            assert s.scalar(select(func.count()).select_from(CaseEvent)) == int(
                (ready.plan.step_t < ready.world.clock.year_minutes).sum())


def test_the_year_leaves_the_planner_statistics_of_what_it_wrote(year):
    """On PostgreSQL the play analyses the case tables as it goes (``TIDY_STEPS`` made small here) and at its end
    (``ops/vacuum.py``): the planner knows the year's cases; on SQLite there is nothing to do."""
    url, _, second, _ = year
    if not url.startswith("postgresql"):
        assert second["statistics_seconds"] == 0
        return
    with unit_of_work(url) as s:
        known = s.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'cases'"))
        assert known == s.scalar(select(func.count()).select_from(Case)) > 0
        assert s.scalar(text("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'cases'")) >= 2


def test_the_log_is_exactly_the_plan(year, played):
    """Every planned step before the year's end is in the log once, at its planned second, and nothing else: the
    interruption neither repeated nor skipped a step."""
    url = year[0]
    p, end = played.plan, played.world.clock.year_minutes
    planned: dict[int, list[tuple[str, dt.datetime]]] = {}
    for t, i, a in zip(p.step_t, p.step_case, p.step_action, strict=True):
        if t < end:
            planned.setdefault(played.case_ids[int(i)], []).append((plans.ACTIONS[a], played.world.clock.moment(t)))
    with unit_of_work(url) as s:
        logged: dict[int, list[tuple[str, dt.datetime]]] = {}
        for case_id, action, at in s.execute(select(CaseEvent.case_id, CaseEvent.action, CaseEvent.at)
                                             .order_by(CaseEvent.case_id, CaseEvent.seq)):
            logged.setdefault(case_id, []).append((action, at))
        assert s.scalar(select(func.count()).select_from(Case)) == p.n
    assert logged == planned
    hp = played.hazards
    with unit_of_work(url) as s:
        got = dict(s.execute(select(HazardEvent.action, func.count()).group_by(HazardEvent.action)).all())
    assert got == {k: v for k, v in hz.counts(hp, end).items() if v}


def test_every_case_walks_the_transition_table(year):
    url = year[0]
    with unit_of_work(url) as s:
        rows = s.execute(select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.action, CaseEvent.from_state,
                                CaseEvent.to_state).order_by(CaseEvent.case_id, CaseEvent.seq)).all()
        states = dict(s.execute(select(Case.id, Case.state)).all())
    walks: dict[int, list] = {}
    for row in rows:
        walks.setdefault(row.case_id, []).append(row)
    assert walks.keys() == states.keys()
    for case_id, events in walks.items():
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[0].action == "report" and events[0].to_state == "reported"
        for before, after in zip(events, events[1:], strict=False):
            assert after.from_state == before.to_state, (case_id, after.action)
        assert history.check([e.action for e in events[1:]]) == states[case_id] == events[-1].to_state
    with unit_of_work(url) as s:
        s.rollback()  # facts.check reads in a snapshot of its own
    with unit_of_work(url) as s:
        checked = facts.check(s)
    assert checked["differing"] == 0 and checked["stored"] == checked["derived"] > 0


def test_the_annual_report_is_the_logs_own_counts_and_meets_the_proportions(year, played):
    url, sc, _, _ = year
    end = played.world.clock.year_minutes
    with unit_of_work(url) as s:
        report = annual.report(s, calibration.DISTRICT, 2012, run.year_end(sc))
        counted = dict(s.execute(select(CaseEvent.action, func.count()).group_by(CaseEvent.action)).all())
        figures = calibration.reached(s, sc, SCALE, run.year_end(sc))
    expected = played.plan.expected(end)
    for name, action in (("reported", "report"), ("accepted", "accept"), ("filed", "file"), ("closed", "close"),
                         ("self_handled", "close_self_handled")):
        assert report["cases"][name] == counted[action] == expected[action]
    hazards = hz.counts(played.hazards, end)
    for name, action in (("collected", "report"), ("filed", "file"), ("closed", "close"), ("rewarded", "reward")):
        assert report["hazards"][name] == hazards[action]
    disputes = dp.counts(played.disputes, end)
    for name, action in (("collected", "report"), ("mediated", "mediate"), ("resolved", "resolve"),
                         ("callbacks", "callback")):
        assert report["disputes"][name] == disputes[action] > 0
    for row in figures:
        if row["target"] and row["figure"] != "cases.closure_rate":
            # within the scenario's tolerance, or two items (rounding at 0.4 % of a year)
            assert abs(row["reached"] - row["target"]) <= max(sc.tolerance * row["target"], 2), row
    assert report["simulated"] is True and "minhang-2012" in report["simulation"]
    assert 0.93 < report["cases"]["closure_rate"] < 0.97
    assert sum(t["filed"] for t in report["towns"]) == report["cases"]["filed"]


def test_the_people_are_ranked_and_departments_slow_down_in_the_busy_month(year, played):
    """The simulated staff act and are assessed; disposal slows as a line's load grows (August's peak)."""
    url, sc, _, _ = year
    load = played.plan.load["city_management"]
    assert load[7] > load[1]  # August busier than February
    with unit_of_work(url) as s:
        report = annual.report(s, calibration.DISTRICT, 2012, run.year_end(sc))
        actors = set(s.scalars(select(CaseEvent.actor).where(CaseEvent.action == "file")))
    assert actors and all(a.startswith("sim.shift_leader.") for a in actors)
    assert report["departments"] and all(0 <= (d["dispose_in_time_rate"] or 0) <= 1 for d in report["departments"])


def test_the_pages_say_the_year_is_simulated(year):
    url, _, _, loaded = year
    client = make_client(url)
    auth = login(client, "leader", loaded["password"])
    page = client.get("/reports/annual", headers=auth)
    assert page.status_code == 200 and 'data-testid="simulated"' in page.text and "minhang-2012" in page.text
    body = client.get("/api/v1/reports/annual?year=2012", headers=auth).json()
    assert body["simulated"] is True


def test_the_command_continues_a_finished_year_and_refuses_bad_input(year):
    url = year[0]
    env = {**os.environ, "LIANDONG_DATABASE_URL": url}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, "simulate", *args], env=env, capture_output=True, text=True, timeout=300)

    done = cli("--scale", str(SCALE), "--seed", str(SEED), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["steps"] == 0 and {r["figure"] for r in result["figures"]} >= {"cases.filed", "hazards.closed"}
    bad = cli("--scale", "0")
    assert bad.returncode == 2 and "--scale" in bad.stderr
    no_one = cli("--workers", "0")
    assert no_one.returncode == 2 and "--workers" in no_one.stderr
    unknown = cli("--scenario", "nowhere-1999")
    assert unknown.returncode == 2 and "no such scenario" in unknown.stderr


def test_the_plan_meets_the_open_share_exactly(played):
    """Of the cases filed within the year and meant to be closed, the scenario's share of the filed is still open
    on 31 December: those whose work runs past the year, and enough drawn others stalled at a stage."""
    p, end = played.plan, played.world.clock.year_minutes
    inside = p.step_t < end
    filed = set(p.step_case[inside & (p.step_action == plans.A["file"])].tolist())
    ended = set(p.step_case[inside & np.isin(p.step_action, [plans.A["close"], plans.A["void"]])].tolist())
    meant_to_close = {i for i in filed if p.fate[i] == "closed"}
    assert len(meant_to_close - ended) == round(0.044 * len(filed))
    assert played.plan.stalled > 0


def test_a_what_if_varies_its_base_and_moves_only_what_it_changes():
    base, fewer = scenario.load("minhang-2012"), scenario.load("minhang-2012-fewer-city-handlers")
    assert fewer.base == "minhang-2012" and fewer.targets == base.targets
    assert fewer.lines["city_management"].handlers == 416 and fewer.lines["greening"] == base.lines["greening"]
    longer = scenario.load("minhang-2012-longer-limits")
    assert longer.time_limits == {"dispose": 1.5} and longer.volume == base.volume


def test_fewer_handlers_slow_the_line_and_the_comparison_shows_it(year, tmp_path_factory):
    """The what-if run into a database of its own (SQLite), compared with the base year by the command."""
    url = year[0]
    if not url.startswith("sqlite"):
        pytest.skip("one backend is enough for the comparison; the runs themselves are tested on both")
    for other in fresh_database("sqlite", tmp_path_factory):
        with unit_of_work(other) as s:
            loader.load(s, None, cases=0)
        run.simulate(other, scenario.load("minhang-2012-fewer-city-handlers"), seed=SEED, scale=SCALE)
        env = {**os.environ, "LIANDONG_DATABASE_URL": url}
        out = subprocess.run([*CLI, "simulate-compare", url, other, "--json"], env=env, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        city = got["lines"]["city_management"]
        assert city["dispose_in_time_rate"]["b"] < city["dispose_in_time_rate"]["a"]
        assert got["district"]["cases.accepted"]["change"] == 0  # the same reports, handled slower
        assert "fewer-city-handlers" in got["b"] and "minhang-2012," in got["a"]


def test_a_what_if_on_time_limits_moves_the_deadlines_not_the_work(year):
    """Longer disposal limits go into the run's catalogue through its own edit; the plan still draws the work on
    the limits as they were (so the two years differ only in their deadlines)."""
    from liandong.catalogue import snapshot

    url = year[0]
    longer = scenario.load("minhang-2012-longer-limits")

    def dispose_limit(s, code):
        matter = snapshot.current(s).by_code[code]
        return matter.limit(matter.default_urgency, "dispose")

    with unit_of_work(url) as s:
        before = run.world(s, longer)
        code = before.matters[0].code
        old = dispose_limit(s, code)
        run._change_limits(s, longer)
        s.flush()
        assert dispose_limit(s, code) == (old[0] * 1.5, old[1])
        after = run.world(s, longer, limits_applied=True)
        for a, b in zip(after.matters, before.matters, strict=True):
            assert a.limits == pytest.approx(b.limits), a.code
        s.rollback()  # the base year's catalogue stays as it was
    with unit_of_work(url) as s:
        assert dispose_limit(s, code) == old


def test_the_incidents_ran_their_course_and_the_scans_ran_weekly(year):
    """The typhoon struck on the scenario's typhoon day with its plan executed, the gas leak in December; both closed
    with their 五早 intervals in the annual report; the early-warning scan ran every Sunday and on the incidents'
    evenings, and found the typhoon's burst of blocked storm drains in one grid that afternoon."""
    from liandong.emergency.models import Incident, Task
    from liandong.screening.early_warning_models import EarlyWarning, EarlyWarningScan

    url, sc = year[0], year[1]
    with unit_of_work(url) as s:
        incidents = s.execute(select(Incident.category, Incident.grade, Incident.state, Incident.occurred_at,
                                     Incident.id).order_by(Incident.occurred_at)).all()
        tasks = s.execute(select(Task.state, func.count()).where(Task.incident_id == incidents[0].id)
                          .group_by(Task.state)).all()
        scans = s.scalar(select(func.count()).select_from(EarlyWarningScan))
        report = annual.report(s, calibration.DISTRICT, 2012, run.year_end(sc))
        warnings = s.execute(select(EarlyWarning.matter_codes, EarlyWarning.window_start, EarlyWarning.observed)).all()
    assert [(i.category, i.grade, i.state) for i in incidents] == [("natural", 3, "closed"), ("accident", 4, "closed")]
    assert incidents[0].occurred_at.astimezone(ZoneInfo("Asia/Shanghai")).date() == dt.date(2012, 8, 8)
    assert incidents[1].occurred_at.month in (12, 1) and tasks and {state for state, _ in tasks} == {"done"}
    assert report["incidents"]["total"] == 2
    shanghai = ZoneInfo("Asia/Shanghai")
    days = {dt.date(2012, 1, 1) + dt.timedelta(days=d) for d in range(366)}
    evenings = {d for d in days if d.weekday() == 6} | {i.occurred_at.astimezone(shanghai).date() for i in incidents}
    assert scans == len(evenings)
    burst = [w for w in warnings if w.matter_codes == ["01004"]
             and w.window_start.astimezone(shanghai).date() == dt.date(2012, 8, 8)]
    assert burst and burst[0].observed >= 6


def test_a_database_holds_one_simulated_run_a_year(year):
    """Another seed into the same database is refused before anything is written (its hazards, disputes, incidents
    and limits would be mixed with the first run's)."""
    from liandong.errors import Invalid
    from liandong.sim.models import SimRun

    url, sc = year[0], year[1]
    with pytest.raises(Invalid) as refused:
        run.prepare(url, sc, SEED + 1, SCALE)
    assert refused.value.code == "other_run" and "database of its own" in refused.value.message
    with unit_of_work(url) as s:
        assert s.scalar(select(func.count()).select_from(SimRun)) == 1
