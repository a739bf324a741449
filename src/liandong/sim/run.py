"""Playing a scenario's year through the platform: every report through ``intake.open_case`` and every step through
``actions.act`` — the channels' and the API's own entry points, on the injectable clock (each step's moment) and the
year's working calendar — so the transition table, the roles, the guards, the deadlines, the event log and the stage
facts are the live ones. Nothing is written around them.

A simulated day is one transaction. The run's row (``sim_runs``) records how far the committed days reach; the plan
is drawn again from the seed, so a rerun with the same scenario, seed and scale continues at the first day not yet
committed and finds the cases already made by their Idempotency-Keys: nothing is done twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import resource
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.assessment import simulated
from liandong.cases import actions, intake
from liandong.cases.batch import Batch
from liandong.cases.calendar import WorkCalendar, calendar_for, seed_from_chinesecalendar
from liandong.catalogue import service as catalogue
from liandong.catalogue import snapshot
from liandong.config import get_settings
from liandong.db import unit_of_work, utcnow
from liandong.errors import DomainError, Invalid
from liandong.ops import vacuum
from liandong.screening import early_warnings
from liandong.screening.dispute_models import Dispute
from liandong.screening.hazard_models import Hazard
from liandong.screening.register_batch import Batch as RegisterBatch
from liandong.sim import disputes as dp
from liandong.sim import hazards as hz
from liandong.sim import incidents
from liandong.sim import plan as plans
from liandong.sim.clock import DAY, WorkClock
from liandong.sim.models import SimRun
from liandong.sim.places import Places
from liandong.sim.roster import Roster, enlist
from liandong.sim.scenario import Scenario

SCAN_WEEKDAY, SCAN_MINUTE = 6, 20 * 60
"""The early-warning scan runs over the last weeks' reports every Sunday at 20:00, and on the evening of each
incident's day (a live district scans hourly; this keeps the year fast and still finds the typhoon's burst)."""
TIDY_STEPS, TIDY_SHARE = 50_000, 0.2
"""On PostgreSQL the case tables are vacuumed and analysed again once the steps played since the last time reach
``TIDY_STEPS`` and ``TIDY_SHARE`` of all played (``ops/vacuum.py``: a year's writes outrun autovacuum, and plans
made on an empty table's statistics slow every step). Growing with the tables, as autovacuum's thresholds do: a
full year takes it about 15 times, a tenth of it 4."""
PAYLOADS = {"reject": {"reason": "不属于受理范围（模拟）"}, "void": {"reason": "重复或无效上报（模拟）"},
            "close_self_handled": {"note": "网格员现场处置（模拟）"}, "return": {"reason": "不属本单位职责（模拟）"},
            "report_done": {"note": "已处置（模拟）"}, "check_failed": {"note": "核查未通过，返工（模拟）"},
            "request_extension": {"amount": plans.EXTENSION_DAYS, "unit": "day", "reason": "需协调其他部门（模拟）"}}


@dataclasses.dataclass
class Progress:
    steps_done: int
    steps_total: int
    day: dt.date
    seconds: float


class Refused(RuntimeError):
    """A planned step the service refused: the plan broke a rule of the platform (a bug of the simulation)."""


def run_key(s: Scenario, seed: int, scale: float) -> str:
    body = json.dumps({"scenario": s.model_dump(mode="json"), "seed": seed, "scale": scale}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclasses.dataclass
class World:
    """What a run reads of the district before it starts: the grids, the working year, the catalogue's matters."""

    index: GridIndex
    clock: WorkClock
    places: Places
    matters: list[plans.Matter]


def world(session: Session, s: Scenario, limits_applied: bool = False) -> World:
    """The district as the plan reads it. The plan's delays are shares of the catalogue's limits as they were before
    a what-if on time limits changed them (``limits_applied``: the run changed them already)."""
    index = GridIndex.build(session)
    if not len(index):
        raise Invalid("the database has no unit grids: load the district first (`liandong demo --no-serve "
                      "--cases 0`)", code="no_district")
    seed_from_chinesecalendar(session)
    cal = calendar_for(session)
    if s.calendar_year not in cal.years:
        raise Invalid(f"the working calendar has no data for {s.calendar_year}", code="no_calendar")
    people = dict(session.execute(select(Area.id, Area.population).where(Area.level == "grid")).all())
    places = Places.by_population([h.id for h in index.hits], list(index.geoms),
                                  [people.get(h.id) or 0 for h in index.hits])
    matters = []
    for m in sorted(snapshot.current(session).by_code.values(), key=lambda m: m.code):
        if m.active and m.line in s.lines:
            limits = {stage: _base_limit(cal, m.limit(m.default_urgency, stage), s.time_limits.get(stage, 1.0)
                                         if limits_applied else 1.0) for stage in plans.STAGES}
            matters.append(plans.Matter(m.code, m.line, limits))
    return World(index, WorkClock(cal, s.year), places, matters)


@dataclasses.dataclass
class Prepared:
    """A run ready to play: its row, its world and people, the plans drawn from the seed, and what an earlier run
    of the same plan made already (report ordinal → case id, hazard ordinal → hazard id)."""

    run_id: int
    key: str
    done_until: float
    world: World
    roster: Roster
    plan: plans.Plan
    hazards: hz.HazardPlan
    disputes: dp.DisputePlan
    seed: int
    case_ids: dict[int, int]
    hazard_ids: dict[int, int]
    dispute_ids: dict[int, int]
    plan_seconds: float


def check_scale(scale: float) -> None:
    if not 0 < scale <= 1:
        raise Invalid("--scale must lie in (0, 1]", code="bad_scale", params={"scale": scale})


def prepare(url: str, s: Scenario, seed: int, scale: float) -> Prepared:
    """The run of this scenario, seed and scale, and its plans. The first time, the plans are drawn before anything
    is written (a scenario the district cannot play leaves nothing behind); then the run, its people and a
    what-if's limits are made in one transaction. A database holds one run a year: its hazards, disputes,
    incidents and limits are the run's."""
    check_scale(scale)
    key = run_key(s, seed, scale)
    with unit_of_work(url) as session:
        run = session.scalar(select(SimRun).where(SimRun.key == key))
        other = session.scalar(select(SimRun).where(SimRun.year == s.year, SimRun.key != key))
        if run is None and other is not None:
            raise Invalid(f"this database holds another simulated {s.year} ({other.scenario}, seed {other.seed}, "
                          f"scale {other.scale:g}): simulate into a database of its own", code="other_run",
                          params={"year": s.year})
        w = world(session, s, limits_applied=run is not None)
    t0 = time.perf_counter()
    p = plans.make(s, w.clock, w.places, w.matters, seed, scale)
    hp = hz.make(s, w.clock, w.places, seed, scale)
    dpl = dp.make(s, w.clock, w.places, seed, scale)
    plan_seconds = time.perf_counter() - t0
    with unit_of_work(url) as session:
        roster = enlist(session, s.staff, w.index)
        run = session.scalar(select(SimRun).where(SimRun.key == key))
        if run is None:
            run = SimRun(key=key, scenario=s.name, year=s.year, seed=seed, scale=scale, started_at=utcnow(),
                         done_until=0.0, steps_done=0)
            session.add(run)
            session.flush()
            simulated.mark(session, s.year, f"{s.name}, seed {seed}, scale {scale:g}")
            _change_limits(session, s)
        run_id, done_until = run.id, run.done_until
    ids = _known(url, p, roster, key, done_until)
    with unit_of_work(url) as session:
        hazard_ids = roster.made(session, Hazard, int(np.searchsorted(hp.reported, done_until)))
        dispute_ids = roster.made(session, Dispute, int(np.searchsorted(dpl.reported, done_until)))
    return Prepared(run_id, key, done_until, w, roster, p, hp, dpl, seed, ids, hazard_ids, dispute_ids, plan_seconds)


def _change_limits(session: Session, s: Scenario) -> None:
    """A what-if on time limits: the scenario's lines' matters get their stage limits × the factors, through the
    catalogue's own edit (audited, the snapshot moved on), so every deadline of the run is counted on them."""
    if not s.time_limits:
        return
    for m in snapshot.current(session).by_code.values():
        if m.active and m.line in s.lines:
            changed = [{"urgency": lim.urgency, "stage": lim.stage, "unit": lim.unit,
                        "amount": min(365.0, lim.amount * s.time_limits[lim.stage])}
                       for lim in m.limits if lim.stage in s.time_limits]
            if changed:
                catalogue.update(session, m.code, {"limits": changed})


def _base_limit(cal: WorkCalendar, limit: tuple[float, str] | None, factor: float) -> float:
    """A stage's limit in working minutes before a what-if's factor (one working day where the catalogue has none,
    as the deadlines take it)."""
    return cal.minutes(*limit) / factor if limit is not None else cal.minutes(1, "day")


def simulate(url: str, s: Scenario, *, seed: int = 1, scale: float = 1.0,
             on_progress: Callable[[Progress], None] | None = None) -> dict:
    """Play the year (or what a previous run of the same scenario, seed and scale left); returns what it did."""
    ready = prepare(url, s, seed, scale)
    w, roster, p, hp, ids = ready.world, ready.roster, ready.plan, ready.hazards, ready.case_ids
    run_id, done_until, plan_seconds = ready.run_id, ready.done_until, ready.plan_seconds
    end = w.clock.year_minutes
    days = int(end // DAY)
    cut = [int(x) for x in np.searchsorted(p.step_t, np.arange(days + 1) * DAY)]  # each day's first step
    player = _Player(w, roster, p, ready.key, ids)
    registers = [(hz.Player(w.index, w.clock, roster, hp, ready.hazard_ids), hp.step_t),
                 (dp.Player(w.index, w.clock, roster, ready.disputes, ready.dispute_ids), ready.disputes.step_t)]
    rcuts = [[int(x) for x in np.searchsorted(t, np.arange(days + 1) * DAY)] for _, t in registers]

    def done_by(day: int) -> int:  # steps before the day (cases and registers)
        return cut[day] + sum(c[day] for c in rcuts)

    with unit_of_work(url) as session:
        towns = list(session.scalars(select(Area.code).where(Area.level == "town").order_by(Area.code)))
    staged = incidents.make(s, ready.seed, towns)
    first_day = int(done_until // DAY)
    first, total = done_by(first_day), done_by(days)
    t0 = time.perf_counter()
    upkeep, tidied = 0.0, first
    viewers: dict = {}
    with unit_of_work(url) as session:
        cal = calendar_for(session)  # the year's days do not change while it plays
    for day in range(first_day, days):
        if done_by(day + 1) == done_by(day) and not _scan_day(w.clock, day, staged):
            continue
        k, stop = cut[day], cut[day + 1]
        with unit_of_work(url) as session:
            with Batch(session, viewers) as batch:
                batch.load(ids[i] for i in p.step_case[k:stop].tolist() if i in ids)
                keys = player.keys(k, stop)
                batch.look_up_keys(keys)
                batch.reserve(sum(batch.keys[key] is None for key in keys))  # the day's new cases' ids at once
                for j in range(k, stop):
                    player.step(session, cal, batch, j)
            with RegisterBatch(session, viewers) as rbatch:
                for (register, _), c in zip(registers, rcuts, strict=True):
                    rbatch.load(register.spec, register.known(c[day], c[day + 1]))
                    for j in range(c[day], c[day + 1]):
                        register.step(session, rbatch, j)
            for one in staged:
                if int(one.t // DAY) == day:
                    incidents.stage(session, w.index, w.clock, roster.commander, one)
            if _scan_day(w.clock, day, staged):  # the early-warning scan (早研判)
                early_warnings.scan(session, w.clock.moment(day * DAY + SCAN_MINUTE), w.index)
            run = session.get(SimRun, run_id)
            run.done_until, run.steps_done = float((day + 1) * DAY), done_by(day + 1)
        if done_by(day + 1) - tidied >= max(TIDY_STEPS, TIDY_SHARE * done_by(day + 1)):
            upkeep, tidied = upkeep + vacuum.tidy(url, vacuum=True), done_by(day + 1)
        if on_progress is not None:
            on_progress(Progress(done_by(day + 1) - first, total - first, w.clock.day_of(day * DAY),
                                 time.perf_counter() - t0))
    if total > first:  # what reads the year (its months, its figures) plans on what was written
        upkeep += vacuum.tidy(url, vacuum=True)
    seconds = time.perf_counter() - t0
    with unit_of_work(url) as session:
        run = session.get(SimRun, run_id)
        if run.finished_at is None:
            run.done_until, run.finished_at = float(end), utcnow()
    return {"run": run_id, "scenario": s.name, "seed": seed, "scale": scale, "cases_planned": p.n,
            "steps": total - first, "resumed_from": w.clock.day_of(done_until).isoformat() if done_until else None,
            "plan_seconds": round(plan_seconds, 1), "seconds": round(seconds, 1),
            "statistics_seconds": round(upkeep, 1),
            "steps_per_second": round((total - first) / seconds) if seconds and total > first else None,
            "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "stalled": p.stalled, "planned": p.expected(end), "hazards_planned": hz.counts(hp, end),
            "disputes_planned": dp.counts(ready.disputes, end)}


def _scan_day(clock: WorkClock, day: int, staged: list[incidents.Staged]) -> bool:
    return clock.day_of(day * DAY).weekday() == SCAN_WEEKDAY or any(int(one.t // DAY) == day for one in staged)


def year_end(s: Scenario) -> dt.datetime:
    """The first moment after the simulated year (its figures are read as of then)."""
    return dt.datetime(s.year + 1, 1, 1, tzinfo=ZoneInfo(get_settings().timezone)).astimezone(dt.UTC)


def finish(session: Session, run_id: int, figures: list[dict]) -> list[dict]:
    """Keep the figures the finished year reached with its run."""
    session.get(SimRun, run_id).reached = {"figures": figures}
    return figures


def _known(url: str, p: plans.Plan, roster: Roster, key: str, done_until: float) -> dict[int, int]:
    """The cases an earlier run of the same plan made (ordinal → case id), found by their Idempotency-Keys."""
    n = int(np.searchsorted(p.reported, done_until))
    if not n:
        return {}
    keys = {_stored_key(p, roster, key, i): i for i in range(n)}
    with unit_of_work(url) as session, Batch(session) as batch:
        batch.look_up_keys(keys)
        return {keys[k]: case_id for k, case_id in batch.keys.items() if case_id is not None}


def _stored_key(p: plans.Plan, roster: Roster, key: str, ordinal: int) -> str:
    """A report's Idempotency-Key as ``intake.report`` stores it (its reporter's)."""
    return intake.creator_key(roster.reporter(p.channel[ordinal], int(p.grid[ordinal]), ordinal), _key(key, ordinal))


def _key(key: str, ordinal: int) -> str:
    """A report's Idempotency-Key: the run's and the report's own."""
    return f"sim:{key[:16]}:{ordinal}"


class _Player:
    """Takes the plan's steps one after another, each through the service its live counterpart calls."""

    def __init__(self, w: World, roster: Roster, p: plans.Plan, key: str, ids: dict[int, int]):
        self.w, self.roster, self.p, self.key, self.ids = w, roster, p, key, ids

    def keys(self, first: int, stop: int) -> list[str]:
        """The Idempotency-Keys of the reports among steps ``first``…``stop`` (as ``intake.report`` keeps them)."""
        p, report = self.p, plans.A["report"]
        return [_stored_key(p, self.roster, self.key, i)
                for i in p.step_case[first:stop][p.step_action[first:stop] == report].tolist()]

    def step(self, session: Session, cal: WorkCalendar, batch: Batch, j: int) -> None:
        p, i = self.p, int(self.p.step_case[j])
        action = plans.ACTIONS[p.step_action[j]]
        at = self.w.clock.moment(float(p.step_t[j]))
        grid = int(p.grid[i])
        try:
            if action == "report":
                opened = intake.open_case(session, self.w.index, self.roster.reporter(p.channel[i], grid, i),
                                          matter_code=p.matter[i], description=f"模拟上报 {p.matter[i]}",
                                          lon=float(p.lon[i]), lat=float(p.lat[i]), channel=p.channel[i],
                                          idempotency_key=_key(self.key, i), now=at, calendar=cal, duplicates=False,
                                          batch=batch)
                self.ids[i] = opened.case.id
                return
            case_id = self.ids[i]
            role = plans.ROLE[action]
            if role == "handler":
                batch.load([case_id])
                who = self.roster.handler(batch.cases[case_id].lead_unit_id)
            elif role == "inspector":
                who = self.roster.inspector(grid, i)
            else:
                who = self.roster.desk(role, i * 7 + j)
            payload = dict(PAYLOADS.get(action, {}))
            if action == "merge":
                payload["master_id"] = self.ids[int(p.step_arg[j])]
            elif action == "rate":
                payload["satisfaction"] = plans.SATISFACTION[int(p.step_arg[j])][0]
            actions.act(session, self.w.index, case_id, action, who, payload, now=at, calendar=cal, batch=batch)
        except DomainError as exc:
            raise Refused(f"report {i} ({p.fate[i]}, {p.channel[i]}, {p.matter[i]}): {action} at {at.isoformat()} "
                          f"refused: {exc.message} [{exc.code}]") from exc
