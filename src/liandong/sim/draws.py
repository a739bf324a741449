"""The few draws every part of a simulated year makes: a delay around its median (log-normal, as people's delays
are: mostly short, now and then long), and exactly so many of the eligible picked."""

from __future__ import annotations

import math
import random

import numpy as np


def delay(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(sigma * rng.gauss(0.0, 1.0))


def exactly(rng: np.random.Generator, eligible: np.ndarray, k: int) -> np.ndarray:
    """``k`` of the eligible (all of them if fewer), drawn."""
    out = np.zeros(len(eligible), dtype=bool)
    idx = np.flatnonzero(eligible)
    out[rng.choice(idx, size=min(k, len(idx)), replace=False)] = True
    return out
