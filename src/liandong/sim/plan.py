"""The year's plan: every report of the scenario and every step each case will take, with its moment, drawn from the
seed before anything is written — so a run is reproducible, a rerun knows exactly what is left to do, and the
figures the year will reach are known (and calibrated) in advance.

Each report gets a fate from the scenario's outcome shares (rejected, merged into an earlier case, self-handled,
voided before or after filing, closed), a department line by the lines' shares and a matter of that line from the
catalogue. Its steps follow the transition table's paths (verification of public reports, returns and redispatch,
extension requests, suspensions, rework after a failed check, the 12345 callback's rating), each delay drawn in
working minutes: the centre's desks as a few minutes, the departments' steps as shares of the catalogue's limit for
the matter — so lateness comes out of the same limits the deadlines are computed from. Disposal slows as the line's
load ρ grows (median ∝ 1 / (1 − ρ), ρ from its cases, effort and handlers month by month), which is what a
what-if on staffing changes.

Cases still open on 31 December are first those whose steps run past the year by themselves; the scenario's
``open_at_year_end`` share is then reached exactly by stalling drawn closed cases at a drawn stage.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from array import array

import numpy as np

from liandong.errors import Invalid
from liandong.sim import volume
from liandong.sim.clock import DAY, WorkClock
from liandong.sim.draws import delay
from liandong.sim.places import Places, inside
from liandong.sim.scenario import Scenario

ACTIONS = ("report", "accept", "reject", "merge", "request_verify", "verified", "file", "close_self_handled", "void",
           "dispatch", "return", "redispatch", "sign", "request_extension", "approve_extension", "reject_extension",
           "suspend", "resume", "report_done", "request_check", "check_passed", "check_failed", "close", "rate")
A = {name: k for k, name in enumerate(ACTIONS)}
ROLE = {"accept": "receptionist", "reject": "receptionist", "merge": "receptionist", "request_verify": "receptionist",
        "request_check": "receptionist", "rate": "receptionist", "verified": "inspector", "check_passed": "inspector",
        "check_failed": "inspector", "file": "shift_leader", "close": "shift_leader",
        "close_self_handled": "shift_leader", "void": "shift_leader", "dispatch": "dispatcher",
        "redispatch": "dispatcher", "suspend": "dispatcher", "resume": "dispatcher",
        "approve_extension": "dispatcher", "reject_extension": "dispatcher", "sign": "handler", "return": "handler",
        "request_extension": "handler", "report_done": "handler"}
"""Who takes each step: a desk of the centre, the grid's inspector, or a handler of the lead unit."""
FATES = ("rejected", "merged", "self_handled", "voided_before_filing", "voided_after_filing", "closed")
PUBLIC = frozenset({"hotline", "citizen_web", "open311"})
VERIFIED = {"hotline": 0.5, "citizen_web": 0.5, "open311": 0.5, "video": 0.3, "sensor": 0.3}
"""The share of each channel's reports the centre sends out to be verified on the spot (核实) before filing."""
RATED = {"hotline": 0.6, "citizen_web": 0.3, "open311": 0.3}
"""The share of each channel's closed cases rated (the 12345 callback, a citizen online)."""
SATISFACTION = (("very_satisfied", 0.55), ("satisfied", 0.38), ("dissatisfied", 0.07))
EXTENSION_DAYS = 2
STAGES = ("dispatch", "sign", "dispose", "check")


@dataclasses.dataclass(frozen=True)
class Matter:
    code: str
    line: str
    limits: dict[str, float]
    """Working minutes of each stage's limit at the matter's default urgency."""


@dataclasses.dataclass
class Plan:
    """The year's cases (one per report, in report order: its ordinal) and their steps in the order they happen."""

    reported: np.ndarray     # local minute of each report
    grid: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    channel: list[str]
    matter: list[str]
    fate: list[str]
    step_t: np.ndarray       # local minute of each step, sorted
    step_case: np.ndarray    # the step's case (ordinal)
    step_action: np.ndarray  # index into ACTIONS
    step_arg: np.ndarray     # merge: the master's ordinal; rate: index into SATISFACTION; else 0
    load: dict[str, list[float]]
    """Each line's ρ month by month."""
    stalled: int

    @property
    def n(self) -> int:
        return len(self.reported)

    def expected(self, year_minutes: float) -> dict[str, int]:
        """What the year's event log will count: each action's steps before the year's end."""
        inside = self.step_t < year_minutes
        counts = np.bincount(self.step_action[inside], minlength=len(ACTIONS))
        return {name: int(counts[k]) for k, name in enumerate(ACTIONS)}


def loads(s: Scenario, clock: WorkClock, scale: float) -> dict[str, list[float]]:
    """Each line's load ρ per month: its expected cases × effort hours over its handlers' working hours (at most
    0.95: a line past capacity still works its cases off, slowly)."""
    o = s.outcomes
    filed_share = (1 - o.rejected - o.merged) * (1 - o.self_handled - o.voided_before_filing)
    per_day = volume.expected(s, scale)
    months = np.array([d.month for d in volume.days(s.year)])
    hours = []  # each month's working hours
    start = 0
    for m in range(1, 13):
        n_days = int((months == m).sum())
        hours.append(float(clock.mask[start * DAY:(start + n_days) * DAY].sum()) / 60)
        start += n_days
    out = {}
    for name, line in s.lines.items():
        rho = []
        for m in range(1, 13):
            cases = per_day[months == m].sum() * filed_share * line.share
            capacity = line.handlers * hours[m - 1] * scale  # a scaled year keeps the same load
            rho.append(min(0.95, cases * line.effort_hours / capacity) if capacity else 0.95)
        out[name] = rho
    return out


def make(s: Scenario, clock: WorkClock, places: Places, matters: list[Matter], seed: int,
         scale: float = 1.0) -> Plan:
    """The whole year's plan for ``seed`` (the same seed, the same plan)."""
    rng_np = np.random.default_rng(seed)
    rng = random.Random(seed)
    per_day = volume.draw(s, seed, scale)
    n = int(per_day.sum())
    # when in the day: most reports in the day's waking hours, some at any time
    day_of = np.repeat(np.arange(len(per_day)), per_day)
    waking = rng_np.random(n) < 0.8
    minute = np.where(waking, rng_np.uniform(7 * 60, 22 * 60, n), rng_np.uniform(0, DAY, n))
    reported = np.sort(day_of * DAY + minute)
    grid, lon, lat = places.draw(rng_np, n)
    burst = _burst(s, rng_np, places, reported, grid, lon, lat, scale)
    order = np.argsort(reported, kind="stable")  # the burst moved some reports in the day: ordinals in time order
    reported, grid, lon, lat, burst = reported[order], grid[order], lon[order], lat[order], burst[order]
    day_of = (reported // DAY).astype(np.int64)
    channels = list(s.volume.channels)
    channel = [channels[k] for k in rng_np.choice(len(channels), size=n, p=list(s.volume.channels.values()))]
    fate_k = _fates(s, rng_np, n)
    lines = list(s.lines)
    line_k = rng_np.choice(len(lines), size=n, p=[s.lines[x].share for x in lines])
    by_line = {name: [m for m in matters if m.line == name] for name in lines}
    missing = [name for name, ms in by_line.items() if not ms]
    if missing:
        raise Invalid(f"the catalogue has no active matter of line {missing[0]!r}: the scenario cannot be played",
                      code="bad_scenario", params={"line": missing[0]})
    matter = [by_line[lines[k]][rng.randrange(len(by_line[lines[k]]))] for k in line_k]
    if burst.any():
        code = s.volume.typhoon.burst.matter
        burst_matter = next((m for m in matters if m.code == code), None)
        if burst_matter is None:
            raise Invalid(f"the typhoon's burst names matter {code!r}, which the catalogue has not (active, of a line "
                          "the scenario has)", code="bad_scenario", params={"matter": code})
        for i in np.flatnonzero(burst):
            matter[i] = burst_matter
    # a duplicate is merged into the latest earlier report that will be closed (never voided, never merged)
    closing = np.where(fate_k == 5, np.arange(n), -1)
    master = np.maximum.accumulate(np.concatenate([[-1], closing[:-1]]))
    fate_k[(fate_k == 1) & (master < 0)] = 0
    load = loads(s, clock, scale)
    work0 = clock.work(reported)
    month_of = np.array([d.month for d in volume.days(s.year)])[np.minimum(day_of, len(per_day) - 1)]
    t_w, t_case, t_act, t_arg = array("d"), array("l"), array("b"), array("l")
    close_at = np.full(n, np.inf)   # working minute of the close step (closed fate)
    cuts: list[tuple[int, int, int]] = []   # (case, first step index, close step index) for stalling
    for i in range(n):
        steps = _steps(rng, s, FATES[fate_k[i]], channel[i], matter[i], load[matter[i].line][month_of[i] - 1],
                       int(master[i]))
        t_case.append(i)
        t_w.append(-1.0)  # the report itself: its own moment below
        t_act.append(A["report"])
        t_arg.append(0)
        w = float(work0[i])
        first = len(t_w)
        for action, gap, arg in steps:
            w += gap
            t_w.append(w)
            t_case.append(i)
            t_act.append(A[action])
            t_arg.append(arg)
            if action == "close":
                close_at[i] = w
                cuts.append((i, first, len(t_w) - 1))
    step_t = clock.real(np.frombuffer(t_w, dtype=np.float64))
    step_case = np.frombuffer(t_case, dtype=np.int64).copy()
    step_act = np.frombuffer(t_act, dtype=np.int8).copy()
    step_arg = np.frombuffer(t_arg, dtype=np.int64).copy()
    is_report = step_act == A["report"]
    step_t[is_report] = reported[step_case[is_report]]
    stalled = _stall(rng, s, clock, step_t, step_act, cuts)
    order = np.lexsort((np.arange(len(step_t)), step_t))  # by moment; a case's own steps stay in order
    return Plan(reported, grid, lon, lat, channel, [m.code for m in matter], [FATES[k] for k in fate_k],
                step_t[order], step_case[order], step_act[order], step_arg[order], load, stalled)


def _burst(s: Scenario, rng: np.random.Generator, places: Places, reported: np.ndarray, grid: np.ndarray,
           lon: np.ndarray, lat: np.ndarray, scale: float) -> np.ndarray:
    """Move the typhoon burst's reports (drawn among its first day's, as many as the scenario says × scale, at least
    eight) into one grid drawn by its residents, within its hours from 14:00; returns which reports they are."""
    out = np.zeros(len(reported), dtype=bool)
    typhoon = s.volume.typhoon
    if typhoon is None or typhoon.burst is None:
        return out
    first = (dt.date(s.year, typhoon.month, volume.TYPHOON_DAY) - dt.date(s.year, 1, 1)).days
    that_day = np.flatnonzero((reported >= first * DAY) & (reported < (first + 1) * DAY))
    k = min(len(that_day), max(8, round(typhoon.burst.reports * scale)))
    picked = rng.choice(that_day, size=k, replace=False)
    g = rng.choice(len(places.ids), p=places.weights)
    grid[picked] = places.ids[g]
    lon[picked], lat[picked] = inside(places.geoms[g], rng, k)
    reported[picked] = first * DAY + 14 * 60 + rng.uniform(0, typhoon.burst.hours * 60, k)
    out[picked] = True
    return out


def _fates(s: Scenario, rng: np.random.Generator, n: int) -> np.ndarray:
    """Each report's fate (index into FATES), the scenario's shares met exactly (a small scale keeps them too):
    of the reports so many rejected and merged, of the accepted so many self-handled and voided, of the filed so
    many voided; drawn which ones."""
    o = s.outcomes
    order = rng.permutation(n)
    fate = np.full(n, FATES.index("closed"))
    rejected, merged = round(o.rejected * n), round(o.merged * n)
    accepted = n - rejected - merged
    self_handled, void_early = round(o.self_handled * accepted), round(o.voided_before_filing * accepted)
    void_late = round(o.voided_after_filing * (accepted - self_handled - void_early))
    start = 0
    for name, k in (("rejected", rejected), ("merged", merged), ("self_handled", self_handled),
                    ("voided_before_filing", void_early), ("voided_after_filing", void_late)):
        fate[order[start:start + k]] = FATES.index(name)
        start += k
    return fate


def _steps(rng: random.Random, s: Scenario, fate: str, channel: str, matter: Matter, rho: float,
           master: int) -> list[tuple[str, float, int]]:
    """One case's steps after its report: (action, working minutes after the step before, argument)."""
    lim = matter.limits
    out: list[tuple[str, float, int]] = []

    def desk(action: str, median: float, arg: int = 0) -> None:
        out.append((action, delay(rng, median, 0.8), arg))

    def dept(action: str, stage: str, share: float, sigma: float = 0.7) -> None:
        out.append((action, lim[stage] * delay(rng, share, sigma), 0))

    if fate == "rejected":
        desk("reject", 8)
        return out
    if fate == "merged":
        desk("merge", 10, master)
        return out
    desk("accept", 8)
    if rng.random() < VERIFIED.get(channel, 0.0):
        desk("request_verify", 3)
        out.append(("verified", delay(rng, 40, 0.6), 0))
    if fate == "self_handled":
        desk("close_self_handled", 10)
        return out
    if fate == "voided_before_filing":
        desk("void", 30)
        return out
    desk("file", 8)
    dept("dispatch", "dispatch", 0.2)
    if fate == "voided_after_filing":
        desk("void", 60)
        return out
    line = s.lines[matter.line]
    if rng.random() < line.returns:
        dept("return", "sign", 0.3)
        dept("redispatch", "dispatch", 0.2)
    dept("sign", "sign", 0.25)
    dispose = lim["dispose"] * delay(rng, line.dispose_share / (1 - rho), 0.5)
    draw = rng.random()
    if draw < line.extensions:  # asks for more time two thirds into the limit; most are granted
        dispose = lim["dispose"] * rng.uniform(1.0, 1.6)
        asked = lim["dispose"] * rng.uniform(0.5, 0.8)
        out.append(("request_extension", asked, EXTENSION_DAYS))
        decision = delay(rng, 30, 0.6)
        out.append(("approve_extension" if rng.random() < 0.85 else "reject_extension", decision, 0))
        dispose = max(dispose - asked - decision, 5.0)
    elif draw < line.extensions + line.suspensions:  # 挂账: waits on something outside the line for days
        before = dispose * rng.uniform(0.1, 0.5)
        out.append(("suspend", before, 0))
        out.append(("resume", delay(rng, 5 * 450, 0.6), 0))
        dispose -= before
    out.append(("report_done", dispose, 0))
    desk("request_check", 8)
    if rng.random() < line.rework:  # the check fails: the line works it again
        dept("check_failed", "check", 0.25)
        dept("sign", "sign", 0.25)
        dept("report_done", "dispose", 0.15, 0.6)
        desk("request_check", 8)
    dept("check_passed", "check", 0.25)
    desk("close", 10)
    if rng.random() < RATED.get(channel, 0.0):
        weights = [w for _, w in SATISFACTION]
        out.append(("rate", delay(rng, 450, 0.8), rng.choices(range(len(SATISFACTION)), weights)[0]))
    return out


def _stall(rng: random.Random, s: Scenario, clock: WorkClock, step_t: np.ndarray, step_act: np.ndarray,
           cuts: list[tuple[int, int, int]]) -> int:
    """Reach the open share at the year's end exactly: of the filed cases, those whose close runs past the year
    stay open by themselves; enough drawn others stall — each step from a drawn one after filing on is moved past
    the year (the case waits at that stage into the next)."""
    end = clock.year_minutes
    filed = int(np.count_nonzero((step_act == A["file"]) & (step_t < end)))
    file_code, later = A["file"], np.inf

    def filed_at(first: int, close: int) -> int:
        return next(k for k in range(first, close) if step_act[k] == file_code)

    open_by_themselves = sum(1 for _, first, close in cuts
                             if step_t[close] >= end and step_t[filed_at(first, close)] < end)
    wanted = round(s.outcomes.open_at_year_end * filed) - open_by_themselves
    candidates = [c for c in cuts if step_t[c[2]] < end]
    if wanted <= 0 or not candidates:
        return 0
    picked = rng.sample(candidates, min(wanted, len(candidates)))
    for _, first, close in picked:
        cut = rng.randrange(filed_at(first, close) + 1, close + 1)
        step_t[cut:close + 1] = later
        if close + 1 < len(step_act) and step_act[close + 1] == A["rate"]:
            step_t[close + 1] = later
    return len(picked)
