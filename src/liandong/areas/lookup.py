"""Lookups on the grid index as callers ask for them: a point in some CRS, or a grid by code, inside the
caller's jurisdiction; a bad CRS is Invalid and nothing there is NotFound (404 leaks nothing)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from liandong.areas import crs as crsmod
from liandong.areas import index
from liandong.areas.scope import Scope
from liandong.areas.service import get_by_code
from liandong.errors import Invalid, NotFound


def locate(grid_index: index.GridIndex, lon: float, lat: float, crs: str, scope: Scope) -> dict:
    """The unit grid at a point, its ancestors and responsible units."""
    try:
        found = index.locate(grid_index, lon, lat, crs, scope)
    except crsmod.CRSError as exc:
        raise Invalid(str(exc)) from exc
    if found is None:
        raise NotFound("no unit grid at this point in your jurisdiction", code="no_grid_in_jurisdiction")
    return found


def responsibility(session: Session, grid_index: index.GridIndex, code: str, scope: Scope) -> dict:
    """Who answers for a unit grid, per department line (多网合一)."""
    area = get_by_code(session, code, scope)
    if area.level != "grid":
        raise Invalid(f"{code} is a {area.level}; responsibility is per unit grid")
    hit = grid_index.by_id.get(area.id)
    if hit is None:
        raise NotFound(f"grid {code} has no geometry")
    return hit.as_dict()
