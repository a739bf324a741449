"""What hazard requests carry: the report that opens one and each action's payload (the case core's ``Payload``
and ``parse``, so refusals name the field at fault with the same codes)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from liandong.cases.payloads import Id, Payload, Reasoned, Text
from liandong.screening.hazard_states import GRADES, REPORTER_KINDS, SECTORS

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Evidence = Annotated[list[Ref], Field(max_length=20, description="photo references: attachment ids or URLs")]


class Reporter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[REPORTER_KINDS] = "public"  # type: ignore[valid-type]
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None
    reward: bool = Field(default=False, description="the reporter is eligible for a reward (有奖举报)")


class FiveFields(BaseModel):
    """五落实 (any given; a major hazard needs all five by the time it is filed)."""

    measures: Text | None = None
    responsibility: Short | None = None
    funds: Short | None = None
    deadline: dt.date | None = None
    contingency_plan: Text | None = None


class HazardIn(FiveFields):
    """A new hazard (DESIGN §4, screening)."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    sector: Literal[SECTORS]  # type: ignore[valid-type]
    grade: Literal[GRADES] = "general"  # type: ignore[valid-type]
    type: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = None
    description: Text | None = None
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    crs: str = Field(default="wgs84", max_length=16)
    responsible_unit_id: Id | None = None
    reporter: Reporter | None = None
    evidence: Evidence = Field(default_factory=list)


class File(Payload, FiveFields):
    """立案: the grade confirmed or changed, the responsible unit, the deadline and, for a major hazard, 五落实."""

    grade: Literal[GRADES] | None = None  # type: ignore[valid-type]
    responsible_unit_id: Id | None = None


class Rectify(Payload):
    """整改: started, or progress reported, with photos."""

    evidence: Evidence = Field(default_factory=list)


class Close(Payload):
    """验收销号: accepted on the evidence of at least one photo of the rectified place."""

    evidence: Annotated[list[Ref], Field(min_length=1, max_length=20)]


class Reward(Payload):
    """The reward decision: an amount in yuan (the approver is the caller)."""

    amount: Annotated[int, Field(strict=True, gt=0, le=1_000_000)]


class ToCase(Payload):
    """Hand to another department as a case: its matter, and the description (default: the hazard's)."""

    matter_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    description: Text | None = None
    urgency: Annotated[str, StringConstraints(max_length=16)] | None = None


Reject = Reasoned
