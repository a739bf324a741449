"""多网合一: a department's own grid layer mapped onto the unified unit grids.

A layer (police beats, city-management grids…) is a set of zones, each naming the unit that answers
for it. Every unit grid is assigned the zone that covers the largest share of it, so for any grid the
system can say which unit of each department line is responsible; grids outside every zone fall back
to the line's branch in their town (属地兜底). The lines and their units come from the units domain
(``areas/responsible.py``), which builds on the areas.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import mapping
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from liandong import audit
from liandong.areas import geojson
from liandong.areas.geometry import area_m2, from_wkb, to_wkb
from liandong.areas.models import Area, GridAssignment, Layer, LayerZone
from liandong.areas.responsible import directory as unit_directory
from liandong.areas.scope import EVERYTHING, Scope
from liandong.areas.service import bump_revision
from liandong.errors import Conflict, Invalid, NotFound


def import_layer(
    session: Session,
    raw,
    *,
    code: str,
    name: str,
    line: str,
    crs: str | None = None,
    replace: bool = False,
    actor: audit.Actor | None = None,
    ip: str | None = None,
) -> dict:
    """Validate and store a layer, then map it onto the unit grids (audited). Zone properties: ``code``,
    ``name``, ``unit`` (code of the responsible unit, which must belong to the layer's line)."""
    units = unit_directory()
    if line not in units.lines():
        raise Invalid(f"unknown department line {line!r}; use one of {', '.join(units.lines())}")
    if not code or not name or len(code) > 64 or len(name) > 200:
        raise Invalid("a layer needs a code (≤ 64 characters) and a name (≤ 200 characters)")
    data = geojson.parse(raw)
    crs_name = geojson.declared_crs(data, crs)
    existing = session.scalar(select(Layer).where(Layer.code == code))
    if existing is not None and not replace:
        raise Conflict(f"layer {code!r} already exists; pass replace to load it again")
    line_units = units.line_units(session, line)
    errors, zones = [], []
    for f in geojson.features(data, crs_name, code_len=64, name_required=False):
        ucode = geojson.text(f.props, "unit", f.problems, max_len=64)
        unit_id = line_units.get(ucode) if ucode else None
        if ucode and unit_id is None:
            f.problems.append(f"unit {ucode!r} is not a unit of the {line} line")
        if f.geom is None and not f.problems:
            f.problems.append("geometry is missing or empty")
        if f.problems:
            errors.append(f"{f.label}: " + "; ".join(f.problems))
            continue
        zones.append((f.code, f.name, unit_id, f.geom))
    if not zones and not errors:
        errors.append("the layer has no features")
    if errors:
        raise Invalid(f"layer import rejected: {len(errors)} problem(s); nothing was written", errors)
    if existing is not None:
        session.delete(existing)
        session.flush()
    layer = Layer(code=code, name=name, line=line)
    session.add(layer)
    session.flush()
    rows = [LayerZone(layer_id=layer.id, code=z, name=n, unit_id=u, geom=to_wkb(g)) for z, n, u, g in zones]
    session.add_all(rows)
    session.flush()
    mapped = map_layer(session, layer)
    bump_revision(session)
    result = {"layer": code, "zones": len(rows), "grids_mapped": mapped}
    audit.record(session, "layer_imported", actor=actor, target=f"layer:{code}", detail=result, ip=ip)
    return result


def map_layer(session: Session, layer: Layer) -> int:
    """(Re)compute the grid → zone assignment of one layer: the zone with the largest overlap wins."""
    session.execute(delete(GridAssignment).where(GridAssignment.layer_id == layer.id))
    zones = list(session.scalars(select(LayerZone).where(LayerZone.layer_id == layer.id).order_by(LayerZone.code)))
    if not zones:
        return 0
    zgeoms = shapely.from_wkb([z.geom for z in zones])
    tree = shapely.STRtree(zgeoms)
    grid_rows = session.execute(select(Area.id, Area.geom).where(Area.level == "grid", Area.geom.is_not(None))).all()
    if not grid_rows:
        return 0
    gids = np.array([r.id for r in grid_rows])
    ggeoms = shapely.from_wkb([r.geom for r in grid_rows])
    gi, zi = tree.query(ggeoms, predicate="intersects")
    if len(gi) == 0:
        return 0
    inter = area_m2(shapely.intersection(ggeoms[gi], zgeoms[zi]))
    total = area_m2(ggeoms[gi])
    share = np.divide(inter, total, out=np.zeros_like(inter), where=total > 0)
    best: dict[int, tuple[float, int]] = {}
    for g, z, s in zip(gi.tolist(), zi.tolist(), share.tolist(), strict=True):
        if s > 0 and (g not in best or s > best[g][0]):
            best[g] = (s, z)
    payload = [
        {"grid_id": int(gids[g]), "layer_id": layer.id, "zone_id": zones[z].id, "unit_id": zones[z].unit_id,
         "share": round(s, 6)}
        for g, (s, z) in best.items()
    ]
    from sqlalchemy import insert

    for i in range(0, len(payload), 5000):
        session.execute(insert(GridAssignment), payload[i : i + 5000])
    return len(payload)


def _visible_zone_ids(scope: Scope):
    """Zones that cover at least one unit grid inside ``scope`` (a layer is seen only where one works)."""
    return (
        select(GridAssignment.zone_id)
        .join(Area, Area.id == GridAssignment.grid_id)
        .where(Area.path.startswith(scope.path, autoescape=True))
    )


def list_layers(session: Session, scope: Scope = EVERYTHING) -> list[dict]:
    zone_stmt = select(LayerZone.layer_id, func.count()).group_by(LayerZone.layer_id)
    mapped_stmt = select(GridAssignment.layer_id, func.count()).group_by(GridAssignment.layer_id)
    if not scope.unrestricted:
        zone_stmt = zone_stmt.where(LayerZone.id.in_(_visible_zone_ids(scope)))
        mapped_stmt = mapped_stmt.join(Area, Area.id == GridAssignment.grid_id).where(
            Area.path.startswith(scope.path, autoescape=True))
    counts = dict(session.execute(zone_stmt).all())
    mapped = dict(session.execute(mapped_stmt).all())
    return [
        {"code": layer.code, "name": layer.name, "line": layer.line, "zones": counts.get(layer.id, 0),
         "grids_mapped": mapped.get(layer.id, 0)}
        for layer in session.scalars(select(Layer).order_by(Layer.code))
    ]


def export_layer(session: Session, code: str, scope: Scope = EVERYTHING) -> dict:
    layer = session.scalar(select(Layer).where(Layer.code == code))
    if layer is None:
        raise NotFound(f"layer {code!r} not found")
    units = unit_directory().unit_codes(session)
    stmt = select(LayerZone).where(LayerZone.layer_id == layer.id).order_by(LayerZone.code)
    if not scope.unrestricted:
        stmt = stmt.where(LayerZone.id.in_(_visible_zone_ids(scope)))
    feats = [
        {"type": "Feature", "id": z.code,
         "properties": {"code": z.code, "name": z.name, "unit": units.get(z.unit_id)},
         "geometry": mapping(from_wkb(z.geom))}
        for z in session.scalars(stmt)
    ]
    return {"type": "FeatureCollection", "name": layer.name, "line": layer.line, "features": feats}
