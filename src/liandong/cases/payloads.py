"""What a case action takes: one pydantic model per kind of payload, validated inside ``actions.act``.

Every action may carry a free-text note or reason and the case version the caller last saw; the models below
add what particular actions cannot do without. ``actions.TABLE`` names each action's model, so the pages'
list of required fields (``actions.NEEDS``) and the API's description are read from these models, never
written out a second time.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from liandong.cases.states import SATISFACTION
from liandong.errors import Invalid

MAX_TEXT = 2000
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT),
                 AfterValidator(lambda s: s or None)]
"""Optional free text: spaces alone are no text (stored as nothing)."""
Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]
Id = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]
"""A row id (32-bit columns): a larger number is refused here, not by the database driver."""


class Payload(BaseModel):
    """What every action may carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int | None = Field(default=None, strict=True,
                                description="the case version the caller saw; a stale one is refused (409)")
    note: Text | None = None
    reason: Text | None = None

    def record(self) -> dict:
        """What the action's event keeps of it: the fields given, less the version."""
        return self.model_dump(exclude_none=True, exclude={"version"})


class Reasoned(Payload):
    """Refusing, handing back or voiding says why."""

    reason: Required


class Noted(Payload):
    """Reporting work done, failing a check, closing a case handled on the spot: says what was found."""

    note: Required


class Dispatch(Payload):
    """The lead unit (default: the routing proposal's) and any assisting units (条块联处)."""

    lead_unit_id: Id | None = None
    assisting_unit_ids: list[Id] = Field(default_factory=list, max_length=50)


class Merge(Payload):
    master_id: Id


class Rating(Payload):
    satisfaction: Literal[SATISFACTION]  # type: ignore[valid-type]


class ExtensionRequest(Payload):
    """More time on the running stage (延期): how much, and why."""

    amount: Annotated[float, Field(strict=True, gt=0, le=365)]
    unit: Literal["hour", "day"]
    reason: Required


def required(model: type[Payload]) -> tuple[str, ...]:
    """The fields ``model`` cannot do without."""
    return tuple(name for name, f in model.model_fields.items() if f.is_required())


def parse(action: str, model: type[Payload], data: dict) -> Payload:
    """``data`` as ``model``, or Invalid naming the first field at fault (code ``missing_field`` when it is
    absent or blank, ``invalid_field`` otherwise; every problem in ``details``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = exc.errors(include_url=False)
    described = [f"{_field(p)}: {p['msg']}" for p in problems]
    first = problems[0]
    field, value = _field(first), first.get("input")
    if first["type"] == "missing" or (field in required(model) and (value is None or str(value).strip() == "")):
        raise Invalid(f"{action!r} needs '{field}'", described, code="missing_field",
                      params={"action": action, "field": field})
    raise Invalid(f"{action!r}: {described[0]}", described, code="invalid_field",
                  params={"action": action, "field": field})


def _field(problem: dict) -> str:
    return ".".join(str(part) for part in problem["loc"]) or "payload"
