"""What campaign requests carry: a new campaign (checklist, area, period, teams), a grid visit (answers, findings)
and the start/close actions' payload (the case core's ``Payload``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from liandong.cases.payloads import Id, Payload, Text
from liandong.screening.campaign_states import ANSWERS
from liandong.screening.dispute_payloads import DisputeIn
from liandong.screening.hazard_payloads import HazardIn

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Key = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9_]{1,32}$")]


class ChecklistItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Key
    question: Name


class CampaignIn(BaseModel):
    """A new campaign (planned)."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None
    name: Name
    theme: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    """rental_fire | gas | group_rental | ebike_charging, or free text"""
    checklist: list[ChecklistItem] = Field(min_length=1, max_length=50)
    area_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    start: dt.date
    end: dt.date
    unit_ids: list[Id] = Field(min_length=1, max_length=100, description="the teams (units) assigned")

    @model_validator(mode="after")
    def _sane(self) -> CampaignIn:
        keys = [item.key for item in self.checklist]
        if len(set(keys)) != len(keys):
            raise ValueError("checklist keys must differ")
        if self.end < self.start:
            raise ValueError("the period ends before it starts")
        return self


class HazardFinding(HazardIn):
    """A finding that becomes a safety hazard (reported by the visiting staff)."""

    kind: Literal["hazard"]


class DisputeFinding(DisputeIn):
    """A finding that becomes a dispute."""

    kind: Literal["dispute"]


Finding = Annotated[HazardFinding | DisputeFinding, Field(discriminator="kind")]


class VisitIn(BaseModel):
    """One grid visit: every checklist question answered, findings optional."""

    model_config = ConfigDict(extra="forbid")

    grid_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    visited_at: dt.datetime | None = None
    answers: dict[Key, Literal[ANSWERS]] = Field(max_length=50)  # type: ignore[valid-type]
    note: Text | None = None
    findings: list[Finding] = Field(default_factory=list, max_length=20)
    visit_key: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None


class Act(Payload):
    """start / close: the version read (optional) and a note."""
