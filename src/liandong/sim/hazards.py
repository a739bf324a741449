"""The year's safety hazards (安全隐患排查): found on the inspectors' patrols or reported by the public (some wanting
the reward of 有奖举报), registered, filed (a major one with 五落实) or rejected, rectified and closed on the evidence
of a photo, the wanted rewards decided by one shift leader and recorded paid by another — each step through the
hazard register's own service (``screening.hazards.open_hazard``, ``hazard_actions.act``), drawn from the seed like
the cases.

The scenario's shares are reached exactly, as the year's log counts them: of the hazards filed within the year, the
closed share is picked among those whose close falls within it, and so are the rewards decided.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import numpy as np
from sqlalchemy.orm import Session

from liandong.screening import hazard_actions, hazards
from liandong.screening.hazard_payloads import HazardIn
from liandong.screening.hazard_states import SECTOR_NAMES, SECTORS
from liandong.screening.register_batch import Batch
from liandong.sim.clock import WorkClock
from liandong.sim.draws import Found, delay, exactly, found
from liandong.sim.places import Places
from liandong.sim.roster import Roster
from liandong.sim.scenario import Scenario

ACTIONS = ("report", "file", "reject", "rectify", "close", "reward", "pay_reward")
A = {name: k for k, name in enumerate(ACTIONS)}
PUBLIC_SHARE = 0.45
"""Hazards reported by the public (the rest found by inspectors on patrol)."""
MAJOR_SHARE = 0.05
SECTOR_WEIGHTS = (0.30, 0.12, 0.14, 0.18, 0.05, 0.06, 0.04, 0.07, 0.04)
FIVE = {"measures": "限期整改，落实专人督办（模拟）", "responsibility": "属地街镇安全办", "funds": "业主自筹",
        "contingency_plan": "落实临时管控和应急处置措施"}


@dataclasses.dataclass
class HazardPlan(Found):
    """Where and when the year's hazards are reported, and their steps in the order they happen."""

    sector: list[str]
    public: np.ndarray
    major: np.ndarray
    step_t: np.ndarray
    step_hazard: np.ndarray
    step_action: np.ndarray


def make(s: Scenario, clock: WorkClock, places: Places, seed: int, scale: float = 1.0) -> HazardPlan:
    h = s.screening.hazards
    rng_np = np.random.default_rng([seed, 2])
    rng = random.Random(seed * 7919 + 2)
    where = found(s, places, rng_np, seed + 1, h.collected, scale)
    n, reported, grid, lon, lat = where.n, where.reported, where.grid, where.lon, where.lat
    sector = [SECTORS[k] for k in rng_np.choice(len(SECTORS), size=n, p=SECTOR_WEIGHTS)]
    public = rng_np.random(n) < PUBLIC_SHARE
    major = rng_np.random(n) < MAJOR_SHARE
    rejected = exactly(rng_np, np.ones(n, dtype=bool), round((1 - h.filed) * n))
    # each hazard's whole path in working minutes after its report: filed or rejected, rectified, closed; a wanted
    # reward decided some days after filing and paid a few days later
    w0 = clock.work(reported)
    gaps = {"file": np.array([delay(rng, 120, 0.8) for _ in range(n)]),
            "rectify": np.array([delay(rng, 2 * 450, 0.8) for _ in range(n)]),
            "close": np.array([delay(rng, 6 * 450, 0.7) for _ in range(n)]),
            "reward": np.array([delay(rng, 3 * 450, 0.6) for _ in range(n)]),
            "pay_reward": np.array([delay(rng, 3 * 450, 0.6) for _ in range(n)])}
    t_file = clock.real(w0 + gaps["file"])
    t_rectify = clock.real(w0 + gaps["file"] + gaps["rectify"])
    t_close = clock.real(w0 + gaps["file"] + gaps["rectify"] + gaps["close"])
    t_reward = clock.real(w0 + gaps["file"] + gaps["reward"])
    t_pay = clock.real(w0 + gaps["file"] + gaps["reward"] + gaps["pay_reward"])
    end = clock.year_minutes
    filed = ~rejected & (t_file < end)
    closing = exactly(rng_np, filed & (t_close < end), round(h.closed * int(filed.sum())))
    rewarding = exactly(rng_np, filed & public & (t_reward < end), round(h.rewarded * n))
    steps: list[tuple[float, int, int]] = []
    for i in range(n):
        steps.append((reported[i], i, A["report"]))
        if rejected[i]:
            steps.append((t_file[i], i, A["reject"]))
            continue
        steps.append((t_file[i], i, A["file"]))
        steps.append((t_rectify[i], i, A["rectify"]))
        if closing[i]:
            steps.append((t_close[i], i, A["close"]))
        if rewarding[i]:
            steps.append((t_reward[i], i, A["reward"]))
            steps.append((t_pay[i], i, A["pay_reward"]))
    # a reward decided on a closed hazard is fine; a step after the year's end is simply never taken
    arr = np.array(steps, dtype=[("t", "f8"), ("h", "i8"), ("a", "i1")])
    arr.sort(order=["t", "h", "a"], kind="stable")
    return HazardPlan(reported, grid, lon, lat, sector, public, major, arr["t"], arr["h"], arr["a"])


class Player:
    """Takes the hazard plan's steps through the register's services."""

    def __init__(self, index, clock: WorkClock, roster: Roster, p: HazardPlan, ids: dict[int, int]):
        self.index, self.clock, self.roster, self.p, self.ids = index, clock, roster, p, ids

    spec = hazards.SPEC

    def known(self, first: int, stop: int) -> list[int]:
        """The ids of the hazards made already that steps ``first``…``stop`` act on (a batch reads them together)."""
        return [self.ids[i] for i in self.p.step_hazard[first:stop].tolist() if i in self.ids]

    def step(self, session: Session, batch: Batch, j: int) -> None:
        p, i = self.p, int(self.p.step_hazard[j])
        action = ACTIONS[p.step_action[j]]
        at = self.clock.moment(float(p.step_t[j]))
        grid = int(p.grid[i])
        if action == "report":
            public = bool(p.public[i])
            who = self.roster.desk("receptionist", i) if public else self.roster.inspector(grid, i)
            reporter = {"kind": "public", "name": "市民（模拟）", "phone": "13800000000", "reward": True} if public \
                else {"kind": "staff"}
            body = HazardIn(title=f"{SECTOR_NAMES[p.sector[i]]}隐患（模拟）", sector=p.sector[i],
                            grade="major" if p.major[i] else "general", lon=float(p.lon[i]), lat=float(p.lat[i]),
                            reporter=reporter)
            self.ids[i] = hazards.open_hazard(session, self.index, who, body, at, batch).id
            return
        payload: dict = {}
        if action == "file":
            who = self.roster.desk("shift_leader", i)
            if p.major[i]:
                payload = {**FIVE, "deadline": (at + dt.timedelta(days=30)).date().isoformat()}
        elif action == "reject":
            who, payload = self.roster.desk("shift_leader", i), {"reason": "经核实不构成隐患（模拟）"}
        elif action in ("rectify", "close"):
            who = self.roster.inspector(grid, i)
            payload = {"evidence": [f"sim://hazard/{i}/{action}.jpg"]}
        elif action == "reward":
            who, payload = self.roster.desk("shift_leader", i), {"amount": (50, 100, 200, 500)[i % 4]}
        else:  # pay_reward: a second shift leader (四眼原则)
            who = self.roster.desk("shift_leader", i + 1)
        hazard_actions.act(session, self.ids[i], action, who, payload, at, batch=batch)


def counts(p: HazardPlan, end: float) -> dict[str, int]:
    inside = p.step_t < end
    got = np.bincount(p.step_action[inside], minlength=len(ACTIONS))
    return {name: int(got[k]) for k, name in enumerate(ACTIONS)}
