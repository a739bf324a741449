"""What an early-warning action carries: ``version`` and ``note`` always; ``promote`` may name the incident to open
(title, category, type, grade; defaults from the warning)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from liandong.cases.payloads import Payload
from liandong.emergency.states import CATEGORIES


class WarningAction(Payload):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    category: Literal[CATEGORIES] = "social_security"  # type: ignore[valid-type]
    type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] = "早研判聚集"
    grade: int = Field(default=4, ge=1, le=4, strict=True)
