"""Playing a scenario's year through the platform: every report through ``intake.open_case`` and every step through
``actions.act`` — the channels' and the API's own entry points, on the injectable clock (each step's moment) and the
year's working calendar — so the transition table, the roles, the guards, the deadlines, the event log and the stage
facts are the live ones. Nothing is written around them.

A simulated day is a transaction for each share of the towns' cases, then one for the rest of the day (the hazard and
dispute registers, the incidents, the early-warning scan). The shares are played by as many processes side by side
(``workers``; on SQLite they take turns only for their writes: ``Batch`` writes nothing before its flush), each at its
own pace between the scans, which read every share's cases as their day left them. Each report's case takes the id its
ordinal in the plan gives it, so the year's cases, events, stage facts and warnings are the same however many processes
played it (the row ids of the events and facts aside, which follow the order of the writes). Each town
(``sim_run_parts``) and the rest (``sim_runs``) record how far their committed days reach; the plan is drawn again from
the seed, so a rerun with the same scenario, seed and scale — with as many processes or not — continues each where it
stopped and finds the cases already made by their Idempotency-Keys: nothing is done twice.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.assessment import simulated
from liandong.cases import actions, intake
from liandong.cases.batch import Batch, reserve_block
from liandong.cases.calendar import WorkCalendar, calendar_for, seed_from_chinesecalendar
from liandong.cases.models import Case
from liandong.catalogue import service as catalogue
from liandong.catalogue import snapshot
from liandong.config import get_settings
from liandong.db import get_engine, is_postgres, share_writer_lock, unit_of_work, utcnow, writing
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
from liandong.sim.models import SimRun, SimRunPart
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
SCAN_STEPS = 800
"""What an early-warning scan costs, in case steps (its Monte Carlo takes about as long as 800 steps of a whole year's
play, and does not shrink with the volume): the first process, which plays the rest of each day, gets fewer towns by
its scans and register steps (``_divide``) — at a small scale none."""
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
    first_case_id: int
    parts_done: dict[int, float]
    """Each town's committed progress (``SimRunPart``)."""


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
    with unit_of_work(url) as session:
        done = dict(session.execute(select(SimRunPart.part, SimRunPart.done_until)
                                    .where(SimRunPart.run_id == run_id)).all())
    ids = _known(url, p, roster, key, max([done_until, *done.values()]))
    with unit_of_work(url) as session:
        run = session.get(SimRun, run_id)
        if run.first_case_id is None:
            run.first_case_id = _first_case_id(session, p.n, ids)
        _check_block(session, run.first_case_id, p.n, ids)
        for part in sorted(set(roster.town_of_grid.values()) - set(done)):  # a run begun before: its own progress
            session.add(SimRunPart(run_id=run_id, part=part, done_until=done_until))
            done[part] = done_until
        first_case_id = run.first_case_id
        hazard_ids = roster.made(session, Hazard, int(np.searchsorted(hp.reported, done_until)))
        dispute_ids = roster.made(session, Dispute, int(np.searchsorted(dpl.reported, done_until)))
    return Prepared(run_id, key, done_until, w, roster, p, hp, dpl, seed, ids, hazard_ids, dispute_ids, plan_seconds,
                    first_case_id, done)


def _first_case_id(session: Session, n: int, known: dict[int, int]) -> int:
    """The id of the plan's first report's case: a block of the plan's ``n`` ids taken (``batch.reserve_block``), or,
    for a run begun by a version that took ids as it went, what its cases' ids give where they follow their
    ordinals (the id sequence then moved past the block on PostgreSQL)."""
    if not known:
        return reserve_block(session, n)
    first = {case_id - i for i, case_id in known.items()}
    if len(first) != 1:
        raise Invalid("this run was begun by an earlier version that numbered its cases otherwise: simulate the year "
                      "into a new database", code="run_ids_differ")
    start = first.pop()
    if is_postgres(session):
        session.execute(text("SELECT setval(s, GREATEST(nextval(s), :top)) FROM pg_get_serial_sequence('cases', 'id') "
                             "AS s"), {"top": start + n - 1})
    return start


def _check_block(session: Session, first: int, n: int, known: dict[int, int]) -> None:
    """No case but the run's own in the run's block of ids (on SQLite a case written meanwhile by anyone else takes
    the next id after the last, one the run's reports are to have: the run could never finish)."""
    there = session.scalar(select(func.count()).select_from(Case).where(Case.id >= first, Case.id < first + n))
    if there != len(known):
        raise Invalid(f"{there - len(known)} case(s) written by someone else hold ids of this simulated year's reports "
                      f"({first}–{first + n - 1}): simulate it into a database of its own", code="run_ids_taken")


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
             on_progress: Callable[[Progress], None] | None = None, workers: int = 1) -> dict:
    """Play the year (or what a previous run of the same scenario, seed and scale left) with ``workers`` processes;
    returns what it did."""
    ready = prepare(url, s, seed, scale)
    w, p, hp = ready.world, ready.plan, ready.hazards
    run_id, done_until, plan_seconds = ready.run_id, ready.done_until, ready.plan_seconds
    end = w.clock.year_minutes
    days = int(end // DAY)
    cut = [int(x) for x in np.searchsorted(p.step_t, np.arange(days + 1) * DAY)]  # each day's first step
    registers = [(hz.Player(w.index, w.clock, ready.roster, hp, ready.hazard_ids), hp.step_t),
                 (dp.Player(w.index, w.clock, ready.roster, ready.disputes, ready.dispute_ids), ready.disputes.step_t)]
    rcuts = [[int(x) for x in np.searchsorted(t, np.arange(days + 1) * DAY)] for _, t in registers]

    def done_by(day: int) -> int:  # steps before the day (cases and registers)
        return cut[day] + sum(c[day] for c in rcuts)

    with unit_of_work(url) as session:
        towns = list(session.scalars(select(Area.code).where(Area.level == "town").order_by(Area.code)))
        cal = calendar_for(session)  # the year's days do not change while it plays
    staged = incidents.make(s, ready.seed, towns)
    first_day = int(min([done_until, *ready.parts_done.values()]) // DAY)
    first, total = done_by(first_day), done_by(days)
    workers = max(1, min(workers, len(ready.parts_done)))
    of_case = _towns_of_cases(ready)
    rest = sum(len(t) for _, t in registers) + SCAN_STEPS * sum(_scan_day(w.clock, d, staged) for d in range(days))
    shares = [_Share(url, ready, cal, parts, steps, of_case, days) for parts, steps in _divide(ready, of_case, workers,
                                                                                                rest)]
    t0 = time.perf_counter()
    upkeep, tidied = 0.0, first
    viewers: dict = {}
    active = [d for d in range(first_day, days) if done_by(d + 1) > done_by(d) or _scan_day(w.clock, d, staged)]
    scans = {d for d in active if _scan_day(w.clock, d, staged)}
    with _Helpers(url, shares[1:], active, scans) as helpers:
        for n, day in enumerate(active):
            shares[0].play(day)  # this process's share, while the helpers play theirs
            scanned = day in scans
            if scanned:
                helpers.wait(day)  # the scan reads every share's cases as the day left them
            following = active[n + 1] if n + 1 < len(active) else None
            if (day + 1) * DAY > done_until:  # else committed by an earlier run
                with unit_of_work(url) as session:
                    with RegisterBatch(session, viewers) as rbatch:
                        for (register, _), c in zip(registers, rcuts, strict=True):
                            rbatch.load(register.spec, register.known(c[day], c[day + 1]))
                            for j in range(c[day], c[day + 1]):
                                register.step(session, rbatch, j)
                    for one in staged:
                        if int(one.t // DAY) == day:
                            incidents.stage(session, w.index, w.clock, ready.roster.commander, one)
                    if scanned:  # the early-warning scan (早研判) of every share's reports
                        early_warnings.scan(session, w.clock.moment(day * DAY + SCAN_MINUTE), w.index)
                    run = session.get(SimRun, run_id)
                    run.done_until, run.steps_done = float((day + 1) * DAY), done_by(day + 1)
            if scanned and following is not None:
                helpers.permit(following)
            if done_by(day + 1) - tidied >= max(TIDY_STEPS, TIDY_SHARE * done_by(day + 1)):
                upkeep, tidied = upkeep + vacuum.tidy(url, vacuum=True), done_by(day + 1)
            if on_progress is not None:
                on_progress(Progress(done_by(day + 1) - first, total - first, w.clock.day_of(day * DAY),
                                     time.perf_counter() - t0))
        if active:
            helpers.wait(active[-1])
    if total > first:  # what reads the year (its months, its figures) plans on what was written
        upkeep += vacuum.tidy(url, vacuum=True)
    seconds = time.perf_counter() - t0
    with unit_of_work(url) as session:
        run = session.get(SimRun, run_id)
        if run.finished_at is None:
            run.done_until, run.finished_at = float(end), utcnow()
    mine, theirs = (resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {"run": run_id, "scenario": s.name, "seed": seed, "scale": scale, "cases_planned": p.n,
            "steps": total - first, "resumed_from": w.clock.day_of(done_until).isoformat() if done_until else None,
            "workers": len(shares), "plan_seconds": round(plan_seconds, 1), "seconds": round(seconds, 1),
            "statistics_seconds": round(upkeep, 1),
            "steps_per_second": round((total - first) / seconds) if seconds and total > first else None,
            "peak_memory_mib": round((mine + (theirs if len(shares) > 1 else 0)) / 1024),  # and the largest helper
            "stalled": p.stalled, "planned": p.expected(end), "hazards_planned": hz.counts(hp, end),
            "disputes_planned": dp.counts(ready.disputes, end)}


def _towns_of_cases(ready: Prepared) -> np.ndarray:
    """The town (area id) whose share plays each report's case: its grid's, a merged report its master's — a merge
    finds its master and its followers among what its process holds."""
    p, town_of_grid = ready.plan, ready.roster.town_of_grid
    town = np.array([town_of_grid[int(g)] for g in p.grid.tolist()], dtype=np.int64)
    merges = p.step_action == plans.A["merge"]
    town[p.step_case[merges]] = town[p.step_arg[merges]]  # a master is never merged itself
    return town


def _divide(ready: Prepared, of_case: np.ndarray, n: int, handicap: int) -> list[tuple[list[int], np.ndarray]]:
    """The towns shared out among ``n`` processes by the steps of their cases, the largest first to the least
    loaded (the first process, which also plays the rest of each day, starts with the ``handicap`` of its steps),
    each with its case steps in order."""
    of_step = of_case[ready.plan.step_case]
    parts, load = np.unique(of_step, return_counts=True)
    loads, groups = [handicap] + [0] * (n - 1), [[] for _ in range(n)]
    for k in sorted(range(len(parts)), key=lambda k: (-load[k], parts[k])):
        least = loads.index(min(loads))
        groups[least].append(int(parts[k]))
        loads[least] += int(load[k])
    for town in sorted(set(ready.parts_done) - set(parts.tolist())):  # no case there: its progress moves on as well
        groups[0].append(town)
    # the first process's share may be empty (it plays the rest of the days); a helper without a town is not started
    return [(g, np.flatnonzero(np.isin(of_step, g))) for k, g in enumerate(groups) if g or k == 0]


class _Share:
    """A process's towns: their case steps, day by day, each day in one transaction that also records the towns'
    progress."""

    def __init__(self, url: str, ready: Prepared, cal: WorkCalendar, parts: list[int], steps: np.ndarray,
                 of_case: np.ndarray, days: int):
        self.url, self.ready, self.cal, self.parts, self.steps, self.of_case = url, ready, cal, parts, steps, of_case
        self.cut = np.searchsorted(ready.plan.step_t[steps], np.arange(days + 1) * DAY).tolist()
        self.player = _Player(ready.world, ready.roster, ready.plan, ready.key, ready.case_ids)
        self.done = {part: ready.parts_done[part] for part in parts}
        self.viewers: dict = {}

    def play(self, day: int, before_write: Callable[[], None] | None = None) -> int:
        """The day's steps of the towns not past it; returns how many. ``before_write`` is called once they are
        done, before anything is written (a helper waits there for the first process's rest of the day before)."""
        behind = [q for q in self.parts if self.done[q] < (day + 1) * DAY]
        if not behind:
            if before_write is not None:
                before_write()  # a helper's turn to write is taken all the same
            return 0
        p, ids = self.ready.plan, self.ready.case_ids
        steps = self.steps[self.cut[day]:self.cut[day + 1]]
        if len(behind) < len(self.parts):  # resumed: some towns committed this day already
            steps = steps[np.isin(self.of_case[p.step_case[steps]], behind)]
        with unit_of_work(self.url) as session:
            with Batch(session, self.viewers) as batch:
                cases = p.step_case[steps]
                batch.load(ids[i] for i in cases.tolist() if i in ids)
                reports = cases[p.step_action[steps] == plans.A["report"]].tolist()
                keys = [_stored_key(p, self.ready.roster, self.ready.key, i) for i in reports]
                batch.look_up_keys(keys)
                batch.use_ids(self.ready.first_case_id + i for i, key in zip(reports, keys, strict=True)
                              if batch.keys[key] is None)  # the id each new report's ordinal gives it
                for j in steps.tolist():
                    self.player.step(session, self.cal, batch, j)
                if before_write is not None:
                    if writing(session):  # it would hold SQLite's write lock while it waits
                        raise RuntimeError("a batch of the simulated year wrote before its flush")
                    before_write()
            session.execute(update(SimRunPart).where(SimRunPart.run_id == self.ready.run_id,
                                                     SimRunPart.part.in_(behind))
                            .values(done_until=float((day + 1) * DAY)))
        for q in behind:
            self.done[q] = float((day + 1) * DAY)
        return len(steps)


class _Helpers:
    """The other shares, each played by a forked process day after day as the first process plays its own and the
    rest of each day. They meet only at a scan: the first process waits for each helper's day of the scan (``wait``),
    and a helper, having played the next day, waits to write it (``permit``) until the first process has committed
    the rest of the scan's day — its scan reads every share's cases as the day left them. Between scans each goes at
    its own pace, and the year's rows are the same as one process's. An error of theirs is raised here, and leaving
    the block (an error, an interrupt) stops them. On SQLite the processes' writers take turns on one lock
    (``db.share_writer_lock``)."""

    def __init__(self, url: str, shares: list[_Share], days: list[int], scans: set[int]):
        self.url, self.shares, self.days, self.scans = url, shares, days, scans
        self.pipes: list = []
        self.processes: list = []
        self.written = -1
        """The last day every helper has written."""

    def __enter__(self) -> _Helpers:
        if not self.shares:
            return self
        context = multiprocessing.get_context("fork")
        share_writer_lock(self.url, context.Lock())
        self.stop = context.Event()
        for share in self.shares:
            mine, theirs = context.Pipe()
            process = context.Process(target=_help, args=(self.url, share, self.days, self.scans, theirs, self.stop,
                                                          [*self.pipes, mine], os.getpid()), daemon=True)
            process.start()
            theirs.close()
            self.pipes.append(mine)
            self.processes.append(process)
        return self

    def permit(self, day: int) -> None:
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            try:
                pipe.send(("write", day))
            except OSError:  # it ended: say why
                raise RuntimeError("a share of the towns failed: " + self._answer(pipe, process)[1]) from None

    @staticmethod
    def _answer(pipe, process) -> tuple:
        try:
            return pipe.recv()
        except (EOFError, OSError):
            process.join(1)
            return ("error", f"the process playing a share of the towns ended (exit code {process.exitcode})")

    def wait(self, day: int) -> None:
        """Until every helper has written ``day`` (its answers for the days before it are read on the way)."""
        if day <= self.written:
            return
        errors = []
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            while True:
                answer = self._answer(pipe, process)
                if answer[0] != "done" or answer[1] >= day:
                    break
            if answer != ("done", day):
                errors.append(str(answer[1]))
        if errors:
            raise RuntimeError("a share of the towns failed: " + "\n".join(errors))
        self.written = day

    def __exit__(self, *_) -> None:
        if not self.processes:
            return
        self.stop.set()  # a helper stops before its next day
        for pipe in self.pipes:
            with contextlib.suppress(OSError):  # a process that ended
                pipe.send(None)  # or where it waits to write
        for process in self.processes:
            process.join(30)
            if process.is_alive():
                process.terminate()
                process.join()
        share_writer_lock(self.url)  # a helper stopped mid-write may have left the shared lock taken


class _Stopped(Exception):
    """The first process stopped while a helper waited to write its day: the day is rolled back."""


def _help(url: str, share: _Share, days: list[int], scans: set[int], pipe, stop, inherited: list,
          parent: int) -> None:
    """A helper process: its own connections (SQLAlchemy's way after a fork: ``dispose(close=False)``), then its share
    of each of the ``days`` in turn, a day after a scan's day written when let; it stops when told (``stop``, None),
    and with the first process (its pipe closes, and the kernel ends it: ``PR_SET_PDEATHSIG``). Ctrl-C is the first
    process's to handle."""
    for other in inherited:  # the first process's ends: with them closed here, its end closing is seen
        other.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):  # Linux: ended with the first process, however it ends
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        return
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__  # not the progress bar's, whose lock a fork may hold
    get_engine(url).dispose(close=False)
    for n, day in enumerate(days):
        if stop.is_set():
            return

        def let_write(day: int = day) -> None:
            try:
                told = pipe.recv()
            except EOFError:
                raise _Stopped from None
            if told != ("write", day):
                raise _Stopped

        try:
            share.play(day, let_write if n and days[n - 1] in scans else None)
        except _Stopped:
            return
        except Exception:
            pipe.send(("error", traceback.format_exc(limit=8)))
            return
        pipe.send(("done", day))


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
