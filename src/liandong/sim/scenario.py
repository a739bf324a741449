"""A simulation scenario: a district's year in numbers (``scenarios/minhang-2012.yaml``) — volume by channel,
month, weekday and holiday; what the centre and each department line do with the reports; screening and incidents;
and the figures the year must reach.

Loading checks it: shares that must sum to one, known channels and lines, twelve months, and the calibration —
the figures its own parameters imply (``expected``) must lie within ``tolerance`` of its targets — so a copied and
edited scenario that could never reach its targets is refused before a year is spent on it. Errors name the file
and the field."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from liandong.cases.states import CHANNELS
from liandong.catalogue.models import STAGES
from liandong.errors import Invalid
from liandong.units.lines import LINES

SCENARIOS = Path(__file__).with_name("scenarios")
Share = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _sums_to_one(shares: dict[str, float] | list[float], what: str) -> None:
    total = sum(shares.values()) if isinstance(shares, dict) else sum(shares)
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"the {what} shares sum to {total:.4f}, not 1")


class CaseTargets(_Strict):
    accepted: Count
    filed: Count
    closed: Count


class HazardTargets(_Strict):
    collected: Count
    filed: Count
    closed: Count
    rewarded: Count


class Targets(_Strict):
    cases: CaseTargets
    hazards: HazardTargets


class Burst(_Strict):
    """Reports of one matter crowding into one grid on the typhoon's first afternoon (blocked drains, waterlogging):
    the cluster the early-warning scan is there to find."""

    matter: Annotated[str, Field(min_length=1, max_length=16)]
    reports: Annotated[int, Field(ge=1, le=10_000)]
    hours: Annotated[float, Field(gt=0, le=24)] = 3.0


class Typhoon(_Strict):
    month: Annotated[int, Field(ge=1, le=12)]
    days: Annotated[int, Field(ge=1, le=10)]
    factor: Annotated[float, Field(gt=0)]
    burst: Burst | None = None


class Volume(_Strict):
    reports: Count
    channels: dict[str, Share]
    months: list[Share]
    weekdays: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=7, max_length=7)]
    holidays: Annotated[float, Field(ge=0)]
    typhoon: Typhoon | None = None
    placement: str = "population"

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: dict[str, float]) -> dict[str, float]:
        if unknown := sorted(set(v) - set(CHANNELS)):
            raise ValueError(f"unknown channel {unknown[0]!r} (one of {', '.join(CHANNELS)})")
        _sums_to_one(v, "channel")
        return v

    @field_validator("months")
    @classmethod
    def _months(cls, v: list[float]) -> list[float]:
        if len(v) != 12:
            raise ValueError(f"twelve months are needed, not {len(v)}")
        _sums_to_one(v, "month")
        return v


class Outcomes(_Strict):
    rejected: Share
    merged: Share
    self_handled: Share
    voided_before_filing: Share
    voided_after_filing: Share
    open_at_year_end: Share


class Line(_Strict):
    share: Share
    handlers: Annotated[int, Field(ge=1)]
    effort_hours: Annotated[float, Field(gt=0)]
    """A handler's working hours per case: with the line's cases and handlers, its load."""
    dispose_share: Annotated[float, Field(gt=0, le=2)]
    """The median share of the disposal limit a case takes on an idle line."""
    returns: Share
    rework: Share
    extensions: Share
    suspensions: Share


class HazardScreening(_Strict):
    collected: Count
    filed: Share
    closed: Share
    rewarded: Share


class DisputeScreening(_Strict):
    registered: Count
    resolved: Share


class Screening(_Strict):
    hazards: HazardScreening
    disputes: DisputeScreening


class IncidentPlan(_Strict):
    kind: str
    category: str
    grade: Annotated[int, Field(ge=1, le=4)]
    month: Annotated[int, Field(ge=1, le=12)]
    plan: str | None = None


class Staff(_Strict):
    """The people a run makes accounts for (without a password: nobody signs in as them): the centre's desks and
    the grid inspectors of each town, so the assessment has people to rank."""

    receptionists: Annotated[int, Field(ge=1, le=500)] = 24
    shift_leaders: Annotated[int, Field(ge=2, le=500)] = 8
    """At least two: a reward one approves, another records paid (四眼原则)."""
    dispatchers: Annotated[int, Field(ge=1, le=500)] = 8
    inspectors_per_town: Annotated[int, Field(ge=1, le=200)] = 6


class Scenario(_Strict):
    name: str
    year: Annotated[int, Field(ge=1990, le=2100)]
    district: str
    calendar_year: int
    targets: Targets
    volume: Volume
    outcomes: Outcomes
    lines: dict[str, Line]
    screening: Screening
    incidents: list[IncidentPlan] = []
    staff: Staff = Staff()
    time_limits: dict[str, Annotated[float, Field(gt=0, le=10)]] = {}
    """Factors on the catalogue's limits per stage (dispatch, sign, dispose, check) for the run's database: a what-if
    on time limits (the work takes as long as before; the deadlines move)."""
    base: str | None = None
    """A what-if: the scenario it varies (its file gives only what changes). Its targets are the base's and are not
    checked against its parameters — a what-if is meant to move the figures."""
    tolerance: Annotated[float, Field(gt=0, le=0.2)] = 0.01

    @field_validator("time_limits")
    @classmethod
    def _stages(cls, v: dict[str, float]) -> dict[str, float]:
        if unknown := sorted(set(v) - set(STAGES)):
            raise ValueError(f"unknown stage {unknown[0]!r} (one of {', '.join(STAGES)})")
        return v

    @field_validator("lines")
    @classmethod
    def _lines(cls, v: dict[str, Line]) -> dict[str, Line]:
        if unknown := sorted(set(v) - set(LINES)):
            raise ValueError(f"unknown department line {unknown[0]!r} (one of {', '.join(LINES)})")
        _sums_to_one({k: line.share for k, line in v.items()}, "line")
        return v

    @model_validator(mode="after")
    def _calibrated(self) -> Scenario:
        if self.base is not None:
            return self
        reached, targets = expected(self), {**self.targets.cases.model_dump(), **{
            f"hazards_{k}": v for k, v in self.targets.hazards.model_dump().items()}}
        for key, target in targets.items():
            if target and abs(reached[key] - target) / target > self.tolerance:
                raise ValueError(f"its parameters give {key} {reached[key]:,.0f}, more than "
                                 f"{self.tolerance:.0%} from the target {target:,}")
        return self


def expected(s: Scenario, scale: float = 1.0) -> dict[str, float]:
    """The year's figures the parameters imply (before chance): accepted = reports less the rejected and the merged
    duplicates; filed = accepted less the self-handled and those voided before filing; closed = filed less those
    voided after filing and those still open at the year's end; the hazards likewise."""
    o, h = s.outcomes, s.screening.hazards
    accepted = s.volume.reports * scale * (1 - o.rejected - o.merged)
    filed = accepted * (1 - o.self_handled - o.voided_before_filing)
    closed = filed * (1 - o.voided_after_filing - o.open_at_year_end)
    hazards = h.collected * scale
    return {"reports": s.volume.reports * scale, "accepted": accepted, "filed": filed, "closed": closed,
            "hazards_collected": hazards, "hazards_filed": hazards * h.filed, "hazards_closed": hazards * h.filed
            * h.closed, "hazards_rewarded": hazards * h.rewarded}


def load(name_or_path: str) -> Scenario:
    """A shipped scenario by name (``minhang-2012``) or a scenario file; Invalid naming the file and field."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIOS / f"{name_or_path}.yaml"
    data = _read(path, name_or_path)
    if isinstance(data, dict) and isinstance(data.get("base"), str):
        base = Path(data["base"])
        data = _merged(_read(SCENARIOS / f"{base}.yaml" if not base.suffix else path.parent / base, data["base"]),
                       data)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise Invalid(f"{path}: {where}: {first['msg']}", code="bad_scenario",
                      params={"file": str(path), "field": where},
                      details=[f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]) from None


def _read(path: Path, name: str):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        raise Invalid(f"{path}: no such scenario (shipped: {', '.join(names())})", code="unknown_scenario",
                      params={"scenario": str(name)}) from None
    except yaml.YAMLError as exc:
        raise Invalid(f"{path}: not YAML ({exc})", code="bad_scenario", params={"file": str(path)}) from None


def _merged(base, change):
    """A what-if over its base: mappings merged key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(change, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in change.items()}}
    return change


def names() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.yaml"))
