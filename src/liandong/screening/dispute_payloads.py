"""What dispute requests carry: the registration and each action's payload (the case core's ``Payload``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from liandong.cases.payloads import Payload, Reasoned, Required, Text
from liandong.privacy import id_number_problem
from liandong.screening.dispute_states import OUTCOMES, RISKS, TIERS, TYPES

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Level = Annotated[int, Field(strict=True, ge=1, le=4, description="1–4, 1 the highest")]


class Party(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, max_length=18)] | None = None

    @field_validator("id_number")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        if value and (problem := id_number_problem(value)) is not None:
            raise ValueError(str(problem))
        return value or None


class DisputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    type: Literal[TYPES]  # type: ignore[valid-type]
    risk: Literal[RISKS] = "blue"  # type: ignore[valid-type]
    tier: Literal[TIERS] = "grid"  # type: ignore[valid-type]
    description: Text | None = None
    parties: list[Party] = Field(min_length=1, max_length=20)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    crs: str = Field(default="wgs84", max_length=16)
    mediator: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


class Assign(Payload):
    """A mediator answers for it (责任清单). The tier changes only by ``escalate``, one step at a time."""

    mediator: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Mediate(Payload):
    """A mediation record: what was done and said."""

    note: Required


class Regrade(Payload):
    risk: Literal[RISKS]  # type: ignore[valid-type]


class Resolve(Payload):
    outcome: Literal[OUTCOMES]  # type: ignore[valid-type]


class Callback(Payload):
    """回访: what the parties said; the settlement holds (when it does not, ``reopen``)."""

    note: Required


class Reopen(Payload):
    """回访 found the settlement does not hold: what the parties said; the mediation starts again."""

    note: Required


class RaiseIncident(Payload):
    """A dispute at risk of a mass incident (群体性事件) becomes a social-security incident of this grade."""

    grade: Level = 4
    title: Title | None = None


Escalate = Reasoned
