"""Reading plan files: YAML → a validated ``PlanDocument``, or every problem named by file, line and field.

PyYAML composes the file into nodes that keep their marks (line and column); the loader walks them once to
note the line of every key and list item, then builds the data and validates it with the document's models
(``document.py``). A validation error's location (``levels[1].tasks[0].owner``) is looked up among the noted
lines — a missing field takes the line of the mapping that lacks it — so each problem reads
``typhoon-flood.yaml:42: levels[1].tasks[0].owner: unknown unit selector 'sub_centre'``.

Refused before validation: YAML syntax errors (with their line), a key given twice in one mapping (PyYAML
would silently keep the last), anchors and aliases (a plan has no use for them, and refusing them rules out
the "billion laughs" expansion), a file over ``MAX_BYTES``, and a document that is not a mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from liandong.emergency.plans.document import PlanDocument, problems
from liandong.errors import Invalid

MAX_BYTES = 256 * 1024
SUFFIXES = (".yaml", ".yml")

Where = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        at = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{at}: {self.field}: {self.message}" if self.field else f"{at}: {self.message}"


class PlanInvalid(Invalid):
    """A plan file refused, with each ``Problem`` (also as text in ``details``)."""

    code = "invalid_plan"

    def __init__(self, name: str, found: list[Problem]):
        super().__init__(f"{len(found)} problem{'s' if len(found) != 1 else ''} in {name}",
                         [str(p) for p in found], params={"file": name})
        self.problems = found


def field_name(where: Where) -> str:
    """``('levels', 1, 'tasks', 0, 'owner')`` → ``levels[1].tasks[0].owner``."""
    out = ""
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_text(text: str, name: str) -> PlanDocument:
    """The plan in ``text`` (``name`` is what problems call the file)."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise PlanInvalid(name, [Problem(name, None, "", f"the file is larger than {MAX_BYTES // 1024} KB")])
    data, lines = _compose(text, name)
    try:
        doc = PlanDocument.model_validate(data)
    except ValidationError as exc:
        found = [_problem(name, tuple(e["loc"]), _message(e), lines) for e in exc.errors(include_url=False)]
        raise PlanInvalid(name, found) from None
    found = [_problem(name, where, message, lines) for where, message in problems(doc)]
    if found:
        raise PlanInvalid(name, found)
    return doc


def read_file(path: Path) -> PlanDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanInvalid(path.name, [Problem(path.name, None, "", f"cannot be read: {exc}")]) from None
    return read_text(text, path.name)


def read_dir(directory: Path) -> tuple[list[tuple[PlanDocument, str]], list[Problem]]:
    """Every plan file of a directory (by name), and the problems of those refused; two files with one code
    are refused too (the second names the first)."""
    docs: list[tuple[PlanDocument, str]] = []
    found: list[Problem] = []
    by_code: dict[str, str] = {}
    for path in sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file()):
        try:
            doc = read_file(path)
        except PlanInvalid as exc:
            found += exc.problems
            continue
        if doc.code in by_code:
            found.append(Problem(path.name, None, "code", f"code {doc.code!r} is also the code of {by_code[doc.code]}"))
            continue
        by_code[doc.code] = path.name
        docs.append((doc, path.name))
    return docs, found


def _compose(text: str, name: str) -> tuple[Any, dict[Where, int]]:
    """The data of the one YAML document in ``text``, and the line of each key and list item in it."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise PlanInvalid(name, [Problem(name, 1, "", "the file is empty")])
        if not isinstance(node, yaml.MappingNode):
            raise PlanInvalid(name, [Problem(name, node.start_mark.line + 1, "", "a plan is a mapping of fields")])
        lines: dict[Where, int] = {(): node.start_mark.line + 1}
        found: list[Problem] = []
        _walk(node, (), lines, found, name)
        if found:
            raise PlanInvalid(name, found)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        said = exc.problem if isinstance(exc, _AliasRefused) else f"not valid YAML: {exc.problem or exc.context}"
        raise PlanInvalid(name, [Problem(name, mark.line + 1 if mark else None, "", said)]) from None
    except yaml.YAMLError as exc:
        raise PlanInvalid(name, [Problem(name, None, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()


class _AliasRefused(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing an alias where it stands (before anything is expanded)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise _AliasRefused(None, None, "anchors and aliases (& and *) are not allowed in a plan",
                                self.peek_event().start_mark)
        return super().compose_node(parent, index)


def _walk(node: yaml.Node, where: Where, lines: dict[Where, int], found: list[Problem], name: str) -> None:
    """Note the line of each key and list item under ``node``."""
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                found.append(Problem(name, line, field_name(where), "keys are plain words (no merge keys)"))
                continue
            key = key_node.value
            if key in keys:
                found.append(Problem(name, line, field_name((*where, key)), "this key is given twice"))
                continue
            keys.add(key)
            lines[(*where, key)] = line
            _walk(value, (*where, key), lines, found, name)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*where, i)] = item.start_mark.line + 1
            _walk(item, (*where, i), lines, found, name)


def _problem(name: str, where: Where, message: str, lines: dict[Where, int]) -> Problem:
    """The problem at ``where``, on the line of the deepest part of it the file has."""
    for n in range(len(where), -1, -1):
        if where[:n] in lines:
            return Problem(name, lines[where[:n]], field_name(where) or "(plan)", message)
    return Problem(name, None, field_name(where), message)


def _message(error: dict) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return message
