"""Who answers for a unit grid, and which units a department layer may name: asked of the units domain.

Units build on areas (a unit's jurisdiction is an area), so the areas cannot import them. Yet the grid
index answers "who is responsible here" (多网合一) and a layer's zones name units. The units domain installs
its ``UnitDirectory`` here when its package is imported (``units/__init__.py``); every process that maps the
tables imports it (``liandong.models``, loaded with the first engine), so the areas can always ask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy.orm import Session

Resolver = Callable[[tuple[int, ...], int], tuple[dict, ...]]
"""(ids of a grid's district, town and community, top-down; the grid's id) → its responsible units, each
``{"id", "code", "name", "kind", "line", "role": "territorial" | "line"}``, nearest territorial unit first."""


class UnitDirectory(Protocol):
    def lines(self) -> Sequence[str]:
        """The department lines (条), in the order answers list them."""

    def line_units(self, session: Session, line: str) -> dict[str, int]:
        """Ids of the units of one department line, by unit code."""

    def unit_codes(self, session: Session) -> dict[int, str]:
        """Every unit's code, by id."""

    def resolver(self, session: Session) -> Resolver:
        """Who answers for each grid, from one read of the units and the layers' grid assignments."""


_directory: UnitDirectory | None = None


def install(directory: UnitDirectory) -> None:
    global _directory
    _directory = directory


def directory() -> UnitDirectory:
    if _directory is None:
        raise RuntimeError("no unit directory: import liandong.units (liandong.models does) before asking who "
                           "answers for a grid")
    return _directory
