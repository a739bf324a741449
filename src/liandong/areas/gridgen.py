"""Grid generator: cut communities into unit grids of about 10,000 m² (万米单元网格).

Each community is overlaid with square cells of the target area on a district-wide lattice and
clipped to its boundary, so the grids cover it with no gaps and no overlaps. Pieces much smaller
than the target (slivers along the boundary) are merged into the neighbour they share the longest
border with. Grids are numbered west→east, then north→south inside the community (DB11 rule), and
coded ``community code (12) + sequence (3)``; past 999 the sequence continues with capitals
(GB/T 47678.3 allows ``[0-9A-Z]``).
"""

from __future__ import annotations

import math
import string

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from liandong.areas.geometry import area_m2, from_wkb, metres_per_degree
from liandong.areas.models import Area, AreaMember
from liandong.areas.scope import EVERYTHING, Scope
from liandong.areas.service import bump_revision, get_by_code, insert_many
from liandong.errors import Conflict, Invalid

SLIVER_SHARE = 0.5
"""Pieces below this share of the target area are merged into a neighbour."""
_ALNUM = string.digits + string.ascii_uppercase


def sequence_code(n: int) -> str:
    """1 → '001' … 999 → '999', then 'A00', 'A01' … (base 36 with a letter first)."""
    if n < 1:
        raise ValueError("grid sequence starts at 1")
    if n <= 999:
        return f"{n:03d}"
    n -= 1000
    first, rest = divmod(n, 36 * 36)
    if first >= 26:
        raise Invalid("more than 24,319 grids in one community; raise the target grid area")
    return string.ascii_uppercase[first] + _ALNUM[rest // 36] + _ALNUM[rest % 36]


def cut(polygon: BaseGeometry, target_m2: float, origin: tuple[float, float] | None = None) -> list[BaseGeometry]:
    """Cut a WGS84 polygon into pieces of about ``target_m2``, returned in numbering order.

    ``origin`` anchors the square lattice (lon, lat of its north-west corner) so neighbouring
    communities share one lattice; the cell size in degrees comes from the latitude of the origin.
    """
    if target_m2 <= 0:
        raise Invalid("target grid area must be positive")
    minx, miny, maxx, maxy = polygon.bounds
    ox, oy = origin if origin else (minx, maxy)
    mx, my = metres_per_degree(oy)
    side = math.sqrt(target_m2)
    dx, dy = side / mx, side / my
    c0 = math.floor((minx - ox) / dx)
    c1 = math.ceil((maxx - ox) / dx)
    r0 = math.floor((oy - maxy) / dy)
    r1 = math.ceil((oy - miny) / dy)
    cols = np.arange(c0, c1)
    rows = np.arange(r0, r1)
    cc, rr = np.meshgrid(cols, rows)
    cc, rr = cc.ravel(), rr.ravel()
    boxes = shapely.box(ox + cc * dx, oy - (rr + 1) * dy, ox + (cc + 1) * dx, oy - rr * dy)
    shapely.prepare(polygon)
    hit = shapely.intersects(polygon, boxes)
    boxes, cc, rr = boxes[hit], cc[hit], rr[hit]
    inside = shapely.contains_properly(polygon, boxes)
    pieces = np.where(inside, boxes, shapely.intersection(boxes, polygon))
    # explode multi-part pieces and drop lines/points left by touching edges
    parts, keys = [], []
    for geom, r, c in zip(pieces, rr, cc, strict=True):
        for part in getattr(geom, "geoms", [geom]):
            if part.geom_type == "Polygon" and not part.is_empty and part.area > 0:
                parts.append(part)
                keys.append((int(r), int(c)))
            elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
                for sub in part.geoms:
                    if sub.geom_type == "Polygon" and sub.area > 0:
                        parts.append(sub)
                        keys.append((int(r), int(c)))
    return _merge_slivers(parts, keys, target_m2)


def _merge_slivers(parts: list[BaseGeometry], keys: list[tuple[int, int]], target_m2: float) -> list[BaseGeometry]:
    if not parts:
        return []
    areas = np.asarray(area_m2(np.asarray(parts, dtype=object)), dtype=float)
    host = list(range(len(parts)))  # union-find over pieces

    def find(i: int) -> int:
        while host[i] != i:
            host[i] = host[host[i]]
            i = host[i]
        return i

    tree = shapely.STRtree(parts)
    for i in np.argsort(areas):  # smallest first
        if areas[i] >= SLIVER_SHARE * target_m2:
            break
        best, best_len = -1, 0.0
        for j in tree.query(parts[i], predicate="intersects"):
            if j == i:
                continue
            shared = parts[i].boundary.intersection(parts[j].boundary).length
            if shared > best_len:
                best, best_len = int(j), shared
        if best >= 0:
            host[find(int(i))] = find(best)
    groups: dict[int, list[int]] = {}
    for i in range(len(parts)):
        groups.setdefault(find(i), []).append(i)
    out = []
    for root, members in groups.items():
        geom = parts[root] if len(members) == 1 else shapely.union_all([parts[m] for m in members])
        if geom.geom_type == "MultiPolygon":
            geom = shapely.union_all(list(geom.geoms))
        out.append((keys[root], geom))
    out.sort(key=lambda kv: (kv[0][0], kv[0][1]))  # north→south rows, west→east within a row
    return [g for _, g in out]


def generate(
    session: Session,
    within_code: str,
    *,
    target_m2: float = 10_000.0,
    replace: bool = False,
    scope: Scope = EVERYTHING,
) -> dict:
    """Generate unit grids for every community under ``within_code`` (a district, town or community)."""
    root = get_by_code(session, within_code, scope)
    if root.level == "community":
        communities = [root]
    elif root.level in ("district", "town"):
        communities = list(session.scalars(
            select(Area).where(Area.level == "community", Area.path.startswith(root.path)).order_by(Area.code)
        ))
    else:
        raise Invalid(f"{within_code} is a {root.level}; grids are generated for a district, town or community")
    if not communities:
        raise Invalid(f"no communities under {within_code}")
    missing = [c.code for c in communities if c.geom is None]
    if missing:
        raise Invalid(f"communities without geometry: {', '.join(missing[:10])}")
    ids = [c.id for c in communities]
    existing = session.scalar(select(Area.id).where(Area.level == "grid", Area.parent_id.in_(ids)).limit(1))
    if existing is not None:
        if not replace:
            raise Conflict(f"unit grids already exist under {within_code}; pass replace to regenerate them")
        grid_ids = select(Area.id).where(Area.level == "grid", Area.parent_id.in_(ids))
        try:
            with session.begin_nested():  # grids that cases, components or layers point at must stay
                session.execute(delete(AreaMember).where(AreaMember.grid_id.in_(grid_ids)))
                session.execute(delete(Area).where(Area.level == "grid", Area.parent_id.in_(ids)))
        except IntegrityError:
            raise Conflict(f"the unit grids under {within_code} are in use (cases, components or layer "
                           "assignments refer to them); they cannot be regenerated") from None
    district_box = _lattice_origin(session, root)
    rows: list[dict] = []
    for com in communities:
        pieces = cut(from_wkb(com.geom), target_m2, district_box)
        m2 = np.asarray(area_m2(np.asarray(pieces, dtype=object)), dtype=float)
        pops = split_population(com.population, m2) if com.population else [None] * len(pieces)
        for seq, (geom, a, pop) in enumerate(zip(pieces, m2, pops, strict=True), start=1):
            code = com.code + sequence_code(seq)
            rows.append({
                "code": code, "name": f"{com.name}{code[-3:]}号网格",
                "level": "grid", "kind": "unit", "parent_id": com.id, "geom": _polygon(geom), "area_m2": float(a),
                "synthetic": com.synthetic, "population": pop,
                "properties": {"generated": True, "target_m2": target_m2,
                               "population_estimated": pop is not None},
            })
    insert_many(session, rows)
    bump_revision(session)
    return {"communities": len(communities), "grids": len(rows)}


def split_population(total: int, weights: np.ndarray) -> list[int]:
    """Split a community's population over its grids by area (largest remainder): sums stay exact."""
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0:
        w = np.ones_like(w)
    exact = total * w / w.sum()
    base = np.floor(exact).astype(int)
    short = int(total - base.sum())
    if short:
        base[np.argsort(-(exact - base), kind="stable")[:short]] += 1
    return base.tolist()


def _lattice_origin(session: Session, root: Area) -> tuple[float, float]:
    """North-west corner of the district, so all communities share one lattice."""
    top_id = int(root.path.strip("/").split("/")[0])
    top = session.get(Area, top_id)
    if top is None or top.min_lon is None:
        return (root.min_lon or 0.0, root.max_lat or 0.0)
    return (top.min_lon, top.max_lat)


def _polygon(geom: BaseGeometry) -> BaseGeometry:
    """Keep grids as simple Polygons where the merge produced one; otherwise keep the MultiPolygon."""
    if geom.geom_type == "MultiPolygon" and len(geom.geoms) == 1:
        return Polygon(geom.geoms[0])
    return geom


def group_into_responsibility_grids(session: Session, within_code: str, *, per_group: int = 22,
                                    scope: Scope = EVERYTHING) -> dict:
    """Group each community's unit grids into responsibility grids (责任网格) of about ``per_group``.

    Grids are taken in numbering order (north→south bands), so a group is a compact run of rows.
    Shanghai had about 22 unit grids per responsibility grid (40,625 / 1,829 in 2016).
    """
    if per_group < 1:
        raise Invalid("per_group must be at least 1")
    root = get_by_code(session, within_code, scope)
    stmt = select(Area).where(Area.level == "community", Area.path.startswith(root.path)).order_by(Area.code)
    communities = [root] if root.level == "community" else list(session.scalars(stmt))
    if not communities:
        raise Invalid(f"no communities under {within_code}")
    prefixes = tuple(c.code for c in communities)
    clash = session.scalar(select(Area.code).where(Area.level == "responsibility_grid",
                                                  Area.code.in_([f"{p}R01" for p in prefixes])).limit(1))
    if clash:
        raise Conflict(f"responsibility grids already exist (e.g. {clash})")
    grids = session.execute(
        select(Area.id, Area.parent_id, Area.geom, Area.population)
        .where(Area.level == "grid", Area.parent_id.in_([c.id for c in communities]))
        .order_by(Area.code)
    ).all()
    by_com: dict[int, list] = {}
    for g in grids:
        by_com.setdefault(g.parent_id, []).append(g)
    rows, members = [], {}
    for com in communities:
        own = by_com.get(com.id, [])
        if not own:
            continue
        for k, chunk in enumerate(np.array_split(np.arange(len(own)), max(1, round(len(own) / per_group))), 1):
            part = [own[i] for i in chunk]
            code = f"{com.code}R{k:02d}"
            pops = [g.population for g in part if g.population is not None]
            rows.append({
                "code": code, "name": f"{com.name}第{k}责任网格", "level": "responsibility_grid",
                "kind": "responsibility", "parent_id": com.parent_id, "synthetic": com.synthetic,
                "geom": shapely.coverage_union_all(shapely.from_wkb([g.geom for g in part])),
                "population": sum(pops) if pops else None, "properties": {"community": com.code},
            })
            members[code] = [g.id for g in part]
    insert_many(session, rows)
    ids = dict(session.execute(select(Area.code, Area.id).where(Area.code.in_(list(members)))).all())
    payload = [{"group_id": ids[code], "grid_id": gid} for code, gids in members.items() for gid in gids]
    for i in range(0, len(payload), 5000):
        session.execute(insert(AreaMember), payload[i : i + 5000])
    bump_revision(session)
    return {"responsibility_grids": len(rows), "grids": len(payload)}
