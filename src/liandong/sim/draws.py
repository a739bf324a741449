"""The few draws every part of a simulated year makes: a delay around its median (log-normal, as people's delays
are: mostly short, now and then long), and exactly so many of the eligible picked."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np

from liandong.sim import volume
from liandong.sim.clock import DAY
from liandong.sim.places import Places
from liandong.sim.scenario import Scenario


def delay(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(sigma * rng.gauss(0.0, 1.0))


def exactly(rng: np.random.Generator, eligible: np.ndarray, k: int) -> np.ndarray:
    """``k`` of the eligible (all of them if fewer), drawn."""
    out = np.zeros(len(eligible), dtype=bool)
    idx = np.flatnonzero(eligible)
    out[rng.choice(idx, size=min(k, len(idx)), replace=False)] = True
    return out


@dataclasses.dataclass
class Found:
    """When (local minute, in order) and where a register's reports of the year happen."""

    reported: np.ndarray
    grid: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    @property
    def n(self) -> int:
        return len(self.reported)


def found(s: Scenario, places: Places, rng: np.random.Generator, seed: int, total: float, scale: float) -> Found:
    """``total`` × scale reports over the year's days as the cases spread (in the day's working hours), each in a
    grid drawn by its residents."""
    per_day = volume.draw(s, seed, scale, total=total)
    day_of = np.repeat(np.arange(len(per_day)), per_day)
    reported = np.sort(day_of * DAY + rng.uniform(8 * 60, 20 * 60, int(per_day.sum())))
    grid, lon, lat = places.draw(rng, len(reported))
    return Found(reported, grid, lon, lat)
