"""Who answers for each unit grid (多网合一): the territorial units up its area chain, and one unit per
department line — the one a department layer assigns to the grid, else the line's branch nearest up the
chain (属地兜底: town branch first, then the district department).

The areas ask this through ``areas/responsible.py`` (the grid index, department layers): units build on
areas, so the areas cannot import it; ``install`` (run by ``units/__init__.py``) hands it to them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas import responsible
from liandong.areas.models import GridAssignment, Layer
from liandong.units.lines import LINES
from liandong.units.models import Unit

TERRITORIAL_KINDS = ("centre", "sub_centre", "workstation")
LINE_KINDS = ("department", "branch")


class Directory:
    """The units as the areas need them (``areas.responsible.UnitDirectory``)."""

    def lines(self) -> tuple[str, ...]:
        return tuple(LINES)

    def line_units(self, session: Session, line: str) -> dict[str, int]:
        return dict(session.execute(select(Unit.code, Unit.id).where(Unit.line == line)).all())

    def unit_codes(self, session: Session) -> dict[int, str]:
        return dict(session.execute(select(Unit.id, Unit.code)).all())

    def resolver(self, session: Session) -> responsible.Resolver:
        units = list(session.execute(select(Unit.id, Unit.code, Unit.name, Unit.kind, Unit.line, Unit.area_id)))
        territorial: dict[int, list] = {}
        branch: dict[tuple[str, int], object] = {}
        for u in units:
            if u.kind in TERRITORIAL_KINDS:
                territorial.setdefault(u.area_id, []).append(u)
            elif u.kind in LINE_KINDS and u.line:
                branch[(u.line, u.area_id)] = u
        unit_by_id = {u.id: u for u in units}
        assigned: dict[int, dict[str, int]] = {}
        stmt = select(GridAssignment.grid_id, Layer.line, GridAssignment.unit_id).join(
            Layer, Layer.id == GridAssignment.layer_id
        )
        for grid_id, line, unit_id in session.execute(stmt):
            if unit_id is not None:
                assigned.setdefault(grid_id, {})[line] = unit_id

        shown: dict[tuple[int, str], dict] = {}  # one dict per unit and role, shared by every grid

        def show(u, role: str) -> dict:
            key = (u.id, role)
            if key not in shown:
                shown[key] = {"id": u.id, "code": u.code, "name": u.name, "kind": u.kind, "line": u.line,
                              "role": role}
            return shown[key]

        def resolve(ancestor_ids: tuple[int, ...], grid_id: int) -> tuple[dict, ...]:
            found = []
            for area_id in reversed(ancestor_ids):  # workstation, sub-centre, centre: nearest first
                found.extend(show(u, "territorial") for u in territorial.get(area_id, ()))
            own = assigned.get(grid_id, {})
            for line in LINES:
                if line in own and own[line] in unit_by_id:
                    found.append(show(unit_by_id[own[line]], "line"))
                    continue
                for area_id in reversed(ancestor_ids):  # town branch first, then the district department
                    u = branch.get((line, area_id))
                    if u is not None:
                        found.append(show(u, "line"))
                        break
            return tuple(found)

        return resolve


def install() -> None:
    responsible.install(Directory())
