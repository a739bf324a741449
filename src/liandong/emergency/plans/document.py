"""What a plan file says, as pydantic models: the one definition the loader validates against, the library
stores (as JSON) and activation reads back.

A plan (预案, reference §5.3) has a code, a name, a version, the category and types of incident it is for, and
its response levels (响应分级 一级–四级, 1 the highest). Each level gives

- ``conditions``: when an incident calls for that level (at least a grade, optionally a warning level, a
  number of affected towns, or particular areas) — used to *propose* the plan, never to activate it unasked;
- ``tasks``: the checklist (title, owner, deadline in minutes after activation, acknowledgement required);
- ``notify``: who is told, besides the task owners.

A level's tasks and notices add to those of the levels below it: a 二级 response does everything a 三级 one
does, and more. ``resources`` list what the plan relies on (name, quantity, holder).

Owners and holders are *unit selectors*, relative to the incident (``selectors.py`` resolves them):
``centre``; ``sub_centre_of_affected_towns`` (the sub-centre of every affected town);
``workstation_of_affected_communities``; ``{line: water}`` (the district department of a line);
``{line: water, in: affected_towns}`` (the line's branch in every affected town).

``problems`` adds the checks no single field can make (unique levels and task keys, conditions that do not
loosen as the level rises), each with the path of the field at fault, so the loader can name its line.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from liandong.emergency.states import CATEGORIES
from liandong.units.lines import LINES

KINDS = ("centre", "sub_centre_of_affected_towns", "workstation_of_affected_communities")
"""Selectors named by a word: the unit kind relative to the incident."""
PLACES = ("affected_towns",)
"""Where a line's branches are taken from (``{line: …, in: affected_towns}``)."""
SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Level = Annotated[int, Field(strict=True, ge=1, le=4)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Selector(Strict):
    """A unit selector, read from a word (``centre``) or a mapping (``{line: fire, in: affected_towns}``)."""

    kind: Literal["centre", "sub_centre_of_affected_towns", "workstation_of_affected_communities", "department",
                  "branch"]
    line: str | None = None

    @property
    def label(self) -> str:
        """As the plan writes it, for logs and reports: ``centre``, ``line:water``, ``line:water@affected_towns``."""
        if self.kind == "department":
            return f"line:{self.line}"
        if self.kind == "branch":
            return f"line:{self.line}@affected_towns"
        return self.kind

    def as_yaml(self) -> str | dict:
        if self.kind == "department":
            return {"line": self.line}
        if self.kind == "branch":
            return {"line": self.line, "in": "affected_towns"}
        return self.kind


def _selector(value: Any) -> Any:
    """``centre`` | ``{line: X}`` | ``{line: X, in: affected_towns}`` → the fields of a ``Selector``."""
    if isinstance(value, Selector):
        return value
    if isinstance(value, str):
        if value not in KINDS:
            raise ValueError(f"unknown unit selector {value!r}; use one of {', '.join(KINDS)}, "
                             "or {line: <line>} / {line: <line>, in: affected_towns}")
        return {"kind": value}
    if isinstance(value, dict):
        unknown = set(value) - {"line", "in"}
        if unknown:
            raise ValueError(f"a line selector takes 'line' and optionally 'in', not {', '.join(sorted(unknown))}")
        line = value.get("line")
        if line not in LINES:
            raise ValueError(f"unknown department line {line!r}; use one of {', '.join(LINES)}")
        where = value.get("in")
        if where is None:
            return {"kind": "department", "line": line}
        if where not in PLACES:
            raise ValueError(f"'in' must be one of {', '.join(PLACES)}")
        return {"kind": "branch", "line": line}
    raise ValueError("a unit selector is a word (e.g. centre) or a mapping {line: <line>}")


UnitSelector = Annotated[Selector, BeforeValidator(_selector)]


class Conditions(Strict):
    """When an incident calls for the level; every condition given must hold."""

    min_grade: Level = Field(description="an incident of this grade or graver (1 = Ⅰ 特别重大)")
    min_warning_level: Level | None = Field(default=None, description="a warning of this level or higher is out")
    min_towns: Annotated[int, Field(strict=True, ge=1, le=100)] | None = Field(
        default=None, description="at least this many towns affected")
    areas: list[Annotated[str, StringConstraints(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=100, description="only for incidents in or affecting these areas (codes)")


class TaskSpec(Strict):
    key: Slug
    title: Name
    owner: UnitSelector
    deadline_minutes: Annotated[int, Field(strict=True, ge=1, le=60 * 24 * 30)]
    ack_required: bool = Field(default=True, strict=True)
    details: Words | None = None
    matter: Annotated[str, StringConstraints(pattern=r"^\d{5}$")] | None = None
    """The catalogue matter the work becomes when the incident stands down with the task open (``hand_back.py``);
    none: emergency duty that ends with the incident."""


class Notify(Strict):
    to: UnitSelector
    note: Words


class ResponseLevel(Strict):
    level: Level
    name: Name
    conditions: Conditions
    tasks: list[TaskSpec] = Field(default_factory=list, max_length=200)
    notify: list[Notify] = Field(default_factory=list, max_length=50)


class Resource(Strict):
    name: Name
    quantity: Annotated[int, Field(strict=True, ge=1)]
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    holder: UnitSelector


def _version(value: Any) -> Any:
    """An integer, or a semver string (``2.1.0``); a float such as ``1.0`` is neither (YAML reads it as one)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("the version is an integer or a quoted semver string such as '2.1.0'")
    if isinstance(value, int) and value < 1:
        raise ValueError("an integer version starts at 1")
    if isinstance(value, str) and not SEMVER.match(value):
        raise ValueError(f"{value!r} is no semver string (MAJOR.MINOR.PATCH)")
    return value


def version_key(text: str) -> tuple[int, ...]:
    """Order of plan versions: ``3`` as 3.0.0 beside semver strings, numbers compared as numbers (``1.10.0``
    after ``1.9.0``); a pre-release and its release weigh the same (the one loaded later wins)."""
    parts = tuple(int(part) for part in re.findall(r"\d+", text.split("-")[0].split("+")[0]))[:3]
    return (parts + (0, 0, 0))[:3]


class PlanDocument(Strict):
    code: Slug
    name: Name
    version: Annotated[int | str, BeforeValidator(_version)]
    category: Literal[CATEGORIES]  # type: ignore[valid-type]
    types: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]] = Field(
        min_length=1, max_length=30)
    summary: Words | None = None
    basis: list[Name] = Field(default_factory=list, max_length=30)
    levels: list[ResponseLevel] = Field(min_length=1, max_length=4)
    resources: list[Resource] = Field(default_factory=list, max_length=200)

    @property
    def version_text(self) -> str:
        return str(self.version)

    def level(self, number: int) -> ResponseLevel | None:
        return next((lv for lv in self.levels if lv.level == number), None)

    def task(self, key: str) -> TaskSpec | None:
        return next((t for lv in self.levels for t in lv.tasks if t.key == key), None)

    def content_hash(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def stored(self) -> dict:
        """The document as the library table keeps it (selectors in their plan-file form)."""
        data = self.model_dump(mode="json")
        for lv_data, lv in zip(data["levels"], self.levels, strict=True):
            for t_data, t in zip(lv_data["tasks"], lv.tasks, strict=True):
                t_data["owner"] = t.owner.as_yaml()
            for n_data, n in zip(lv_data["notify"], lv.notify, strict=True):
                n_data["to"] = n.to.as_yaml()
        for r_data, r in zip(data["resources"], self.resources, strict=True):
            r_data["holder"] = r.holder.as_yaml()
        return data


Path = tuple[str | int, ...]


def problems(doc: PlanDocument) -> list[tuple[Path, str]]:
    """What the fields' own rules cannot see, each with the path of the field at fault."""
    found: list[tuple[Path, str]] = []
    seen_levels: dict[int, int] = {}
    seen_keys: dict[str, Path] = {}
    for i, lv in enumerate(doc.levels):
        if lv.level in seen_levels:
            found.append((("levels", i, "level"),
                          f"level {lv.level} is given twice (also levels[{seen_levels[lv.level]}])"))
        seen_levels.setdefault(lv.level, i)
        for j, task in enumerate(lv.tasks):
            where: Path = ("levels", i, "tasks", j, "key")
            if task.key in seen_keys:
                first = seen_keys[task.key]
                found.append((where, f"task key {task.key!r} is used twice "
                                      f"(also levels[{first[1]}].tasks[{first[3]}])"))
            seen_keys.setdefault(task.key, where)
        if not lv.tasks and not lv.notify:
            found.append((("levels", i, "tasks"), f"level {lv.level} has neither tasks nor notices"))
    ordered = sorted(((lv.level, i, lv) for i, lv in enumerate(doc.levels)), reverse=True)  # 4 → 1
    for (_, _, lower), (_, i, higher) in zip(ordered, ordered[1:], strict=False):
        if higher.conditions.min_grade > lower.conditions.min_grade:
            found.append((("levels", i, "conditions", "min_grade"),
                          f"level {higher.level} asks a lesser grade ({higher.conditions.min_grade}) than level "
                          f"{lower.level} ({lower.conditions.min_grade}): a higher response needs a graver incident"))
    return found
