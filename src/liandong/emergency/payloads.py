"""What incident requests carry: the report that opens one, each action's payload, a command-log entry.

Action payloads extend the case core's ``Payload`` (``version``, ``note``, ``reason``) and are checked by its
``parse``, so a refusal names the field at fault with the same codes (``missing_field``, ``invalid_field``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from liandong.cases.payloads import Id, Payload, Reasoned, Required
from liandong.emergency.states import CATEGORIES, LINK_KINDS, LOG_KINDS

Level = Annotated[int, Field(strict=True, ge=1, le=4, description="1–4, 1 the highest")]


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Kind = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class Verify(Payload):
    """研判: the grade confirmed or changed, a warning level when one is out."""

    grade: Level | None = None
    warning_level: Level | None = None


class Respond(Payload):
    response_level: Level


class ReportUp(Payload):
    """上报: to whom the incident was reported upward (the district or city duty office)."""

    to: Short


class Regrade(Payload):
    grade: Level | None = None
    warning_level: Level | None = None
    response_level: Level | None = None

    @model_validator(mode="after")
    def _something(self) -> Regrade:
        if self.grade is None and self.warning_level is None and self.response_level is None:
            raise ValueError("give at least one of grade, warning_level, response_level")
        return self


class Link(Payload):
    """The other incident is a secondary (次生) or derived (衍生) incident of this one."""

    other_id: Id
    kind: Literal[LINK_KINDS]  # type: ignore[valid-type]


class CaseRef(Payload):
    case_id: Id


StandDown = Reasoned


class ActivatePlan(Payload):
    """Activate plan ``plan`` at ``response_level`` (the route names the plan)."""

    plan: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    response_level: Level


class TaskAck(Payload):
    """签收: by the owner unit, or recorded by the commander on its behalf (a phone call) with ``on_behalf``."""

    on_behalf: bool = Field(default=False, strict=True)


class TaskDone(Payload):
    """What was done (反馈): required."""

    report: Required


class IncidentIn(BaseModel):
    """A new incident (DESIGN §4, incidents)."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    category: Literal[CATEGORIES]  # type: ignore[valid-type]
    type: Kind = Field(description="e.g. 台风, 燃气泄漏")
    grade: Level
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    crs: str = Field(default="wgs84", max_length=16)
    area_codes: list[Annotated[str, StringConstraints(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=200, description="affected towns, communities or unit grids")
    case_id: Id | None = Field(default=None, description="the case this incident is raised from")
    exercise: bool = False
    occurred_at: dt.datetime | None = Field(
        default=None, description="when it was discovered (local time when no offset is given); default: now, or "
                                  "the raised case's report time")
    warning_level: Level | None = None
    commander: str | None = Field(default=None, max_length=64, description="username of the incident commander")


class CaseLinkIn(BaseModel):
    """A further case for the incident (``link_case``)."""

    model_config = ConfigDict(extra="forbid")

    case_id: Id
    version: int | None = Field(default=None, description="the incident version the caller saw")


class LogEntryIn(BaseModel):
    """A command-log entry: a decision, an order, a situation report or a note."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[LOG_KINDS]  # type: ignore[valid-type]
    text: Required
