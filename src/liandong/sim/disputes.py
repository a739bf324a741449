"""The year's disputes (矛盾纠纷排查化解): found by the grid inspectors, registered at the grid tier, assigned to a
mediator, mediated once to a few times over days, resolved (most by agreement, some by judicial confirmation or
litigation) and called back — through the dispute register's own service (``screening.disputes.open_dispute``,
``dispute_actions.act``), drawn from the seed. The scenario's resolved share is met exactly among the disputes whose
resolution falls within the year.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
from sqlalchemy.orm import Session

from liandong.screening import dispute_actions, disputes
from liandong.screening.dispute_payloads import DisputeIn
from liandong.screening.dispute_states import TYPE_NAMES, TYPES
from liandong.screening.register_batch import Batch
from liandong.sim.clock import WorkClock
from liandong.sim.draws import Found, delay, exactly, found
from liandong.sim.places import Places
from liandong.sim.roster import Roster
from liandong.sim.scenario import Scenario

ACTIONS = ("report", "assign", "mediate", "resolve", "callback")
A = {name: k for k, name in enumerate(ACTIONS)}
TYPE_WEIGHTS = (0.18, 0.30, 0.06, 0.14, 0.22, 0.03, 0.07)
OUTCOMES = (("success", 0.8), ("judicial", 0.1), ("litigation", 0.1))
CALLED_BACK = 0.85


@dataclasses.dataclass
class DisputePlan(Found):
    """Where and when the year's disputes are reported, and their steps in the order they happen."""

    type: list[str]
    step_t: np.ndarray
    step_dispute: np.ndarray
    step_action: np.ndarray
    step_arg: np.ndarray
    """resolve: index into OUTCOMES."""


def make(s: Scenario, clock: WorkClock, places: Places, seed: int, scale: float = 1.0) -> DisputePlan:
    d = s.screening.disputes
    rng_np = np.random.default_rng([seed, 3])
    rng = random.Random(seed * 7919 + 3)
    where = found(s, places, rng_np, seed + 2, d.registered, scale)
    n, reported, grid, lon, lat = where.n, where.reported, where.grid, where.lon, where.lat
    kinds = [TYPES[k] for k in rng_np.choice(len(TYPES), size=n, p=TYPE_WEIGHTS)]
    w0 = clock.work(reported)
    steps: list[tuple[float, int, int, int]] = []
    resolve_at = np.full(n, np.inf)
    paths = []
    for i in range(n):
        w = w0[i] + delay(rng, 90, 0.7)
        path = [(w, A["assign"], 0)]
        for _ in range(rng.randint(1, 3)):
            w += delay(rng, 1.5 * 450, 0.7)
            path.append((w, A["mediate"], 0))
        w += delay(rng, 1.5 * 450, 0.7)
        resolve_at[i] = clock.real(w)
        outcome = rng.choices(range(len(OUTCOMES)), [p for _, p in OUTCOMES])[0]
        paths.append((path, outcome, w + delay(rng, 4 * 450, 0.5), rng.random() < CALLED_BACK))
    resolving = exactly(rng_np, resolve_at < clock.year_minutes, round(d.resolved * n))
    for i, (path, outcome, w_callback, called) in enumerate(paths):
        steps.append((reported[i], i, A["report"], 0))
        steps += [(float(clock.real(w)), i, a, arg) for w, a, arg in path]
        if resolving[i]:
            steps.append((resolve_at[i], i, A["resolve"], outcome))
            if called:
                steps.append((float(clock.real(w_callback)), i, A["callback"], 0))
    arr = np.array(steps, dtype=[("t", "f8"), ("d", "i8"), ("a", "i1"), ("arg", "i8")])
    arr.sort(order=["t", "d", "a"], kind="stable")
    return DisputePlan(reported, grid, lon, lat, kinds, arr["t"], arr["d"], arr["a"], arr["arg"])


class Player:
    """Takes the dispute plan's steps through the register's services: the grid's inspector acts throughout (the
    dispute stays at the grid tier, which the inspector's town holds)."""

    def __init__(self, index, clock: WorkClock, roster: Roster, p: DisputePlan, ids: dict[int, int]):
        self.index, self.clock, self.roster, self.p, self.ids = index, clock, roster, p, ids

    spec = disputes.SPEC

    def known(self, first: int, stop: int) -> list[int]:
        """The ids of the disputes made already that steps ``first``…``stop`` act on (a batch reads them together)."""
        return [self.ids[i] for i in self.p.step_dispute[first:stop].tolist() if i in self.ids]

    def step(self, session: Session, batch: Batch, j: int) -> None:
        p, i = self.p, int(self.p.step_dispute[j])
        action = ACTIONS[p.step_action[j]]
        at = self.clock.moment(float(p.step_t[j]))
        who = self.roster.inspector(int(p.grid[i]), i)
        if action == "report":
            body = DisputeIn(title=f"{TYPE_NAMES[p.type[i]]}纠纷（模拟）", type=p.type[i],
                             parties=[{"name": "当事人甲（模拟）"}, {"name": "当事人乙（模拟）"}],
                             lon=float(p.lon[i]), lat=float(p.lat[i]))
            self.ids[i] = disputes.open_dispute(session, self.index, who, body, at, batch).id
            return
        payload = {"assign": {"mediator": "网格调解员（模拟）"}, "mediate": {"note": "组织双方调解（模拟）"},
                   "resolve": {"outcome": OUTCOMES[int(p.step_arg[j])][0]},
                   "callback": {"note": "回访双方，协议履行良好（模拟）"}}[action]
        dispute_actions.act(session, self.ids[i], action, who, payload, at, batch=batch)


def counts(p: DisputePlan, end: float) -> dict[str, int]:
    """Disputes with each kind of step within the year (as the screening summary counts them: distinct disputes)."""
    inside = p.step_t < end
    return {name: len(set(p.step_dispute[inside & (p.step_action == k)].tolist())) for k, name in enumerate(ACTIONS)}
