"""The assessment's settings (``settings.yaml`` beside this module, or the file ``LIANDONG_ASSESSMENT_SETTINGS`` names):
time limits of the stages without a deadline, the 漏报 definition, grades, count bands and the weights of each
composite score. Checked when loaded — weights that do not sum to 100, an unknown indicator or a band that does not
fall in order is refused with the file and the place — so a bad copy never scores anybody."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from liandong.errors import Invalid

DEFAULT = Path(__file__).with_name("settings.yaml")
LIMIT_STAGES = ("accept", "verify", "file", "await_check", "close")


@dataclass(frozen=True)
class Missed:
    public_channels: tuple[str, ...]
    excluded_majors: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Grade:
    grade: str
    min: float
    colour: str
    name: str


@dataclass(frozen=True)
class Bands:
    """Count scores for a 30-day period: ``more`` (above each bound, its score) or ``fewer`` (at most each bound)."""

    direction: str
    steps: tuple[tuple[float, float], ...]

    def score(self, value: float) -> float:
        for bound, points in self.steps:
            if (value > bound) if self.direction == "more" else (value <= bound):
                return points
        return 0.0


@dataclass(frozen=True)
class Settings:
    limits_minutes: dict[str, float]
    missed: Missed
    grades: tuple[Grade, ...]
    bands: dict[str, Bands]
    scores: dict[str, dict[str, float]]
    source: str

    def grade(self, score: float | None) -> Grade | None:
        if score is None:
            return None
        return next((g for g in self.grades if score >= g.min), self.grades[-1])


def _bad(source: str, where: str, why: str) -> Invalid:
    return Invalid(f"{source}: {where}: {why}", code="bad_assessment_settings",
                   params={"file": source, "where": where})


def parse(text: str, source: str, known: dict[str, set[str]], needed_bands: set[str] = frozenset()) -> Settings:
    """Settings from YAML text; ``known``: each object type's scorable indicators; ``needed_bands``: the band sets
    the indicators are scored through."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _bad(source, "file", f"not YAML ({exc})") from None
    if not isinstance(data, dict):
        raise _bad(source, "file", "a mapping is expected")
    limits = data.get("limits_minutes") or {}
    if unknown := sorted(set(limits) - set(LIMIT_STAGES)):
        raise _bad(source, f"limits_minutes.{unknown[0]}", f"not a stage without a deadline of its own (one of "
                                                            f"{', '.join(LIMIT_STAGES)})")
    for stage in LIMIT_STAGES:
        value = limits.get(stage)
        if not isinstance(value, int | float) or value <= 0:
            raise _bad(source, f"limits_minutes.{stage}", "a positive number of working minutes is needed")
    m = data.get("missed") or {}
    missed = Missed(tuple(m.get("public_channels") or ()), tuple(str(x) for x in m.get("excluded_majors") or ()),
                    str(m.get("text") or ""))
    if not missed.public_channels:
        raise _bad(source, "missed.public_channels", "name at least one channel")
    try:
        grades = tuple(Grade(str(g["grade"]), float(g["min"]), str(g["colour"]), str(g.get("name", "")))
                       for g in data.get("grades") or ())
    except (KeyError, TypeError, ValueError):
        raise _bad(source, "grades", "each grade needs `grade`, `min` (a number) and `colour`") from None
    if not grades or [g.min for g in grades] != sorted((g.min for g in grades), reverse=True) or grades[-1].min != 0:
        raise _bad(source, "grades", "grades go from the best down, the last one from 0")
    bands: dict[str, Bands] = {}
    for name, spec in (data.get("bands") or {}).items():
        direction = "more" if "more" in (spec or {}) else "fewer" if "fewer" in (spec or {}) else None
        if direction is None:
            raise _bad(source, f"bands.{name}", "give `more:` or `fewer:` steps")
        steps = tuple((float(b), float(p)) for b, p in spec[direction])
        bounds = [b for b, _ in steps]
        if bounds != sorted(bounds, reverse=direction == "more"):
            raise _bad(source, f"bands.{name}", "the steps' bounds must run from the best score's on")
        bands[name] = Bands(direction, steps)
    scores: dict[str, dict[str, float]] = {}
    given = data.get("scores") or {}
    if missing := sorted(set(known) - set(given)):
        raise _bad(source, f"scores.{missing[0]}", "every object type needs its weights")
    for obj, weights in given.items():
        if obj not in known:
            raise _bad(source, f"scores.{obj}", f"unknown object type (one of {', '.join(sorted(known))})")
        if any(not isinstance(w, int | float) or w < 0 for w in (weights or {}).values()):
            raise _bad(source, f"scores.{obj}", "weights are numbers of at least 0")
        for key in weights:
            if key not in known[obj]:
                raise _bad(source, f"scores.{obj}.{key}", "not an indicator this object type is scored on "
                                                          f"(one of {', '.join(sorted(known[obj]))})")
        total = sum(float(w) for w in weights.values())
        if abs(total - 100) > 1e-9:
            raise _bad(source, f"scores.{obj}", f"the weights sum to {total:g}, not 100")
        scores[obj] = {k: float(w) for k, w in weights.items()}
    for band in needed_bands:
        if band not in bands:
            raise _bad(source, f"bands.{band}", "this band set is scored on: give its steps")
    return Settings({k: float(v) for k, v in limits.items()}, missed, grades, bands, scores, source)


@functools.cache
def _load(path: str, mtime: float) -> Settings:
    from liandong.assessment.indicators import band_sets, scorable  # the indicators name what may be weighed

    return parse(Path(path).read_text(encoding="utf-8"), path, scorable(), band_sets())


def current() -> Settings:
    """The settings in force (reloaded when the file changes)."""
    path = os.environ.get("LIANDONG_ASSESSMENT_SETTINGS") or str(DEFAULT)
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        raise _bad(path, "file", "cannot be read") from None
    return _load(path, mtime)
