"""Area rules: reading the tree within a scope, GeoJSON import/export, revisions.

Services never commit: the caller owns the transaction, so a rejected import leaves nothing behind.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from sqlalchemy import String, cast, func, literal, select, update
from sqlalchemy.orm import Session, aliased

from liandong import audit
from liandong.areas import crs as crsmod
from liandong.areas import geojson
from liandong.areas.geometry import area_m2, bbox, from_wkb, to_wkb
from liandong.areas.models import LEVELS, PARENT_LEVEL, TREE_LEVELS, Area, AreaMember, Meta
from liandong.areas.scope import EVERYTHING, Scope
from liandong.errors import Invalid, NotFound

REVISION_KEY = "geo_revision"
OUTSIDE_PARENT_TOLERANCE = 0.01
"""A child may stick out of its parent by at most this share of its area (digitising noise)."""


# --- revisions: tell every process's grid index that areas, units or layers changed -------------

def get_revision(session: Session, key: str = REVISION_KEY) -> int:
    value = session.scalar(select(Meta.value).where(Meta.key == key))
    return int(value) if value else 0


def bump_revision(session: Session, key: str = REVISION_KEY) -> int:
    """Move a revision (the geo one unless ``key`` says otherwise) on, inside the caller's transaction.

    The new value is a fresh clock reading, not a counter: a process caching for one database file or
    name can never mistake a recreated database's revision for the one it saw before.
    """
    value = max(time.time_ns(), get_revision(session, key) + 1)
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=str(value)))
    else:
        row.value = str(value)
    session.flush()
    return value


# --- reading ----------------------------------------------------------------------------------

def get_by_code(session: Session, code: str, scope: Scope = EVERYTHING) -> Area:
    area = session.scalar(select(Area).where(Area.code == code))
    if area is None or not scope.covers_path(area.path):
        raise NotFound(f"area {code!r} not found")
    return area


def _scoped(stmt, scope: Scope, level: str | None = None):
    """Restrict a query on areas to the caller's subtree and, optionally, to one level."""
    if level:
        if level not in LEVELS:
            raise Invalid(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
        stmt = stmt.where(Area.level == level)
    if scope.unrestricted:
        return stmt
    return stmt.where(Area.path.startswith(scope.path, autoescape=True))


def list_areas(
    session: Session,
    scope: Scope = EVERYTHING,
    *,
    level: str | None = None,
    parent_code: str | None = None,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Area], int]:
    stmt = _scoped(select(Area), scope, level)
    if parent_code:
        parent = get_by_code(session, parent_code, scope)
        stmt = stmt.where(Area.parent_id == parent.id)
    if q:
        stmt = stmt.where(Area.name.icontains(q, autoescape=True) | Area.code.istartswith(q, autoescape=True))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(Area.code).limit(limit).offset(offset)).all()
    return list(rows), int(total or 0)


def root_areas(session: Session, scope: Scope = EVERYTHING) -> list[Area]:
    """The tops of the caller's visible tree: the district(s), or the caller's own area."""
    if scope.unrestricted:
        return list(session.scalars(select(Area).where(Area.parent_id.is_(None)).order_by(Area.code)))
    return [session.get(Area, scope.area_id)]


def ancestors(session: Session, area: Area) -> list[Area]:
    """Ancestors top-down (district first), without the area itself."""
    ids = [int(x) for x in area.path.strip("/").split("/") if x][:-1]
    if not ids:
        return []
    rows = {a.id: a for a in session.scalars(select(Area).where(Area.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def area_dict(area: Area, parent_code: str | None = None, grids: dict[int, int] | None = None) -> dict:
    """An area as the API lists it (no geometry); ``grids``: unit-grid counts by area id, when asked for."""
    out = {
        "id": area.id, "code": area.code, "name": area.name, "level": area.level, "kind": area.kind,
        "parent": parent_code, "population": area.population,
        "area_m2": round(area.area_m2, 1) if area.area_m2 is not None else None,
        "bbox": [area.min_lon, area.min_lat, area.max_lon, area.max_lat] if area.min_lon is not None else None,
        "synthetic": area.synthetic,
    }
    if grids is not None:
        out["grids"] = grids.get(area.id, 0)
    return out


def browse(session: Session, scope: Scope = EVERYTHING, *, level: str | None = None, parent_code: str | None = None,
           q: str | None = None, limit: int = 100, offset: int = 0) -> dict:
    """The caller's top areas with their unit-grid counts when no filter is given, else a filtered page."""
    if not (level or parent_code or q):
        roots = root_areas(session, scope)
        grids = grid_counts(session, roots)
        return {"total": len(roots), "items": [area_dict(a, grids=grids) for a in roots]}
    rows, total = list_areas(session, scope, level=level, parent_code=parent_code, q=q, limit=limit, offset=offset)
    return {"total": total, "items": [area_dict(a, parent_code) for a in rows]}


def children(session: Session, code: str, scope: Scope = EVERYTHING, *, limit: int = 1000, offset: int = 0) -> dict:
    """A page of an area's direct children, each with its unit-grid count."""
    rows, total = list_areas(session, scope, parent_code=code, limit=limit, offset=offset)
    grids = grid_counts(session, rows)
    return {"total": total, "items": [area_dict(a, code, grids) for a in rows]}


def area_detail(session: Session, code: str, scope: Scope = EVERYTHING) -> dict:
    """One area with its ancestors (top-down), child counts per level and free properties."""
    area = get_by_code(session, code, scope)
    chain = ancestors(session, area)
    return {**area_dict(area, chain[-1].code if chain else None),
            "ancestors": [{"level": a.level, "code": a.code, "name": a.name} for a in chain],
            "children": child_counts(session, area), "properties": area.properties}


def summary(session: Session, scope: Scope = EVERYTHING) -> dict[str, Any]:
    stmt = _scoped(select(Area.level, func.count(), func.sum(Area.area_m2), func.sum(Area.population)), scope)
    counts: dict[str, int] = dict.fromkeys(LEVELS, 0)
    totals: dict[str, dict[str, float]] = {}
    for level, n, m2, pop in session.execute(stmt.group_by(Area.level)):
        counts[level] = n
        totals[level] = {"area_m2": float(m2 or 0), "population": int(pop or 0)}
    return {**counts, "totals": totals}


# --- GeoJSON export ---------------------------------------------------------------------------

def area_feature(area: Area, parent_code: str | None, crs: str = "wgs84", with_geometry: bool = True) -> dict:
    geom = None
    if with_geometry and area.geom is not None:
        g = from_wkb(area.geom)
        if crs != "wgs84":
            g = shapely.transform(g, lambda c, _crs=crs: _from_wgs84_coords(c, _crs))
        geom = mapping(g)
    props = {
        "code": area.code,
        "name": area.name,
        "level": area.level,
        "kind": area.kind,
        "parent": parent_code,
        "population": area.population,
        "area_m2": round(area.area_m2, 1) if area.area_m2 is not None else None,
        "synthetic": area.synthetic,
    }
    props.update({k: v for k, v in (area.properties or {}).items() if k not in props})
    return {"type": "Feature", "id": area.code, "properties": props, "geometry": geom}


def _from_wgs84_coords(coords, crs):
    import numpy as np

    lon, lat = crsmod.from_wgs84(coords[:, 0], coords[:, 1], crs)
    return np.column_stack([lon, lat])


def export_geojson(
    session: Session,
    scope: Scope = EVERYTHING,
    *,
    level: str | None = None,
    within: str | None = None,
    bbox_filter: tuple[float, float, float, float] | None = None,
    crs: str = "wgs84",
    simplify_m: float = 0.0,
    limit: int | None = None,
) -> dict:
    """A FeatureCollection of the areas of ``level`` inside ``within`` (a code) and ``bbox_filter``."""
    try:
        crs = crsmod.normalise_crs(crs)
    except crsmod.CRSError as exc:
        raise Invalid(str(exc)) from exc
    stmt = _scoped(select(Area), scope, level)
    if within:
        root = get_by_code(session, within, scope)
        stmt = stmt.where(Area.path.startswith(root.path, autoescape=True))
    if bbox_filter:
        minx, miny, maxx, maxy = bbox_filter
        if not (minx <= maxx and miny <= maxy):
            raise Invalid("bbox must be min_lon,min_lat,max_lon,max_lat")
        stmt = stmt.where(Area.max_lon >= minx, Area.min_lon <= maxx, Area.max_lat >= miny, Area.min_lat <= maxy)
    stmt = stmt.order_by(Area.code)
    if limit:
        stmt = stmt.limit(limit)
    areas = list(session.scalars(stmt))
    parent_ids = {a.parent_id for a in areas if a.parent_id}
    codes = dict(session.execute(select(Area.id, Area.code).where(Area.id.in_(parent_ids))).all()) if parent_ids else {}
    features = []
    for a in areas:
        feat = area_feature(a, codes.get(a.parent_id), crs)
        if simplify_m and feat["geometry"]:
            tol = simplify_m / 111_000.0
            feat["geometry"] = mapping(shape(feat["geometry"]).simplify(tol, preserve_topology=True))
        features.append(feat)
    fc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    fc["crs_name"] = crs  # informative; GeoJSON (RFC 7946) itself is always WGS84 lon/lat
    if level == "responsibility_grid" and areas:
        members = _members_of([a.id for a in areas], session)
        for feat, a in zip(features, areas, strict=True):
            feat["properties"]["members"] = members.get(a.id, [])
    return fc


def public_outlines(session: Session, level: str = "town", simplify_m: float = 30) -> dict:
    """Outlines and names only, for the citizens' map: populations and other figures stay inside."""
    fc = export_geojson(session, level=level, simplify_m=simplify_m)
    for f in fc["features"]:
        f["properties"] = {"code": f["properties"].get("code"), "name": f["properties"].get("name")}
    return fc


def _members_of(group_ids: list[int], session: Session) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    stmt = (
        select(AreaMember.group_id, Area.code)
        .join(Area, Area.id == AreaMember.grid_id)
        .where(AreaMember.group_id.in_(group_ids))
        .order_by(Area.code)
    )
    for gid, code in session.execute(stmt):
        out.setdefault(gid, []).append(code)
    return out


# --- GeoJSON import ---------------------------------------------------------------------------

@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    by_level: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "by_level": dict(self.by_level)}


def import_geojson(
    session: Session,
    raw: bytes | str | dict,
    *,
    level: str | None = None,
    crs: str | None = None,
    mode: str = "create",
    synthetic: bool | None = None,
    scope: Scope = EVERYTHING,
    actor: audit.Actor | None = None,
    ip: str | None = None,
) -> ImportReport:
    """Validate every feature first; write only when all are good (else raise Invalid listing each); audited.

    Properties: ``code`` and ``name`` (required), ``level`` (unless given), ``parent`` (parent code, in
    the file or the database; none only for a district), ``population``, ``kind``, ``synthetic``,
    ``members`` (grid codes of a responsibility grid); anything else is kept in ``properties``.
    ``crs`` overrides a declared ``crs`` member; coordinates are converted to WGS84.
    """
    if mode not in ("create", "upsert"):
        raise Invalid("mode must be 'create' or 'upsert'")
    data = geojson.parse(raw)
    crs_name = geojson.declared_crs(data, crs)
    if level is not None and level not in LEVELS:
        raise Invalid(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")

    errors: list[str] = []
    items: list[dict] = []
    for f in geojson.features(data, crs_name, code_len=32, geometry_optional=True):
        problems = f.problems
        props = f.props
        lvl = level or props.get("level")
        if lvl not in LEVELS:
            problems.append(f"level {lvl!r} is not one of {', '.join(LEVELS)}")
        elif f.geom is None and lvl != "responsibility_grid" and not any("geometry" in p for p in problems):
            problems.append("geometry is missing or empty")
        kind = geojson.text(props, "kind", problems, max_len=32)
        parent = geojson.text(props, "parent", problems, max_len=32)
        pop = geojson.count(props, "population", problems)
        members = props.get("members")
        if members is not None and (not isinstance(members, list)
                                    or not all(isinstance(m, str | int) and not isinstance(m, bool)
                                               for m in members)):
            problems.append("'members' must be a list of grid codes")
            members = None
        if problems:
            errors.append(f"{f.label}: " + "; ".join(problems))
            continue
        extra = {k: v for k, v in props.items()
                 if k not in {"code", "name", "level", "parent", "population", "kind", "synthetic", "members",
                              "area_m2"}}
        items.append({
            "label": f.label, "code": f.code, "name": f.name, "level": lvl, "parent": parent,
            "kind": kind, "population": pop, "geom": f.geom,
            "members": [str(m) for m in members] if members is not None else None,
            "synthetic": bool(props.get("synthetic", False) if synthetic is None else synthetic),
            "properties": extra,
        })

    existing: dict[str, Area] = {}
    hidden: set[str] = set()
    codes = [it["code"] for it in items]
    parent_codes = {str(it["parent"]) for it in items if it["parent"]}
    member_codes = {str(m) for it in items for m in (it["members"] or [])}
    wanted = set(codes) | parent_codes | member_codes
    for chunk in _chunks(sorted(wanted), 500):
        for a in session.scalars(select(Area).where(Area.code.in_(chunk))):
            if scope.covers_path(a.path):  # areas outside the caller's jurisdiction stay invisible
                existing[a.code] = a
            else:
                hidden.add(a.code)
    file_items = {it["code"]: it for it in items}

    for it in items:
        label = it["label"]
        if it["code"] in hidden:
            errors.append(f"{label}: this code is not available to you")
            continue
        if it["code"] in existing and mode == "create":
            errors.append(f"{label}: code already exists in the database (import with mode 'upsert' to update)")
        if it["code"] in existing and existing[it["code"]].level != it["level"]:
            errors.append(f"{label}: exists with level {existing[it['code']].level}, not {it['level']}")
        want_parent = PARENT_LEVEL[it["level"]]
        pcode = str(it["parent"]) if it["parent"] else None
        if want_parent is None:
            if not scope.unrestricted:
                errors.append(f"{label}: only a system-wide administrator can add a {it['level']}")
            if pcode:
                errors.append(f"{label}: a {it['level']} has no parent, got {pcode!r}")
            continue
        if not pcode:
            errors.append(f"{label}: a {it['level']} needs a parent {want_parent} code")
            continue
        parent = file_items.get(pcode) or existing.get(pcode)
        if parent is None:
            errors.append(f"{label}: unknown parent {pcode!r}")
            continue
        plevel = parent["level"] if isinstance(parent, dict) else parent.level
        if plevel != want_parent:
            errors.append(f"{label}: parent {pcode} is a {plevel}, a {it['level']} needs a {want_parent}")
            continue
        pgeom = parent["geom"] if isinstance(parent, dict) else (from_wkb(parent.geom) if parent.geom else None)
        if it["geom"] is not None and pgeom is not None:
            outside = float(area_m2(it["geom"].difference(pgeom)))
            total = float(area_m2(it["geom"])) or 1.0
            if outside / total > OUTSIDE_PARENT_TOLERANCE:
                errors.append(
                    f"{label}: {outside / total:.0%} of it lies outside its parent {pcode} "
                    f"(wrong coordinate system? declared {crs_name})"
                )
        for m in it["members"] or []:
            target = file_items.get(str(m)) or existing.get(str(m))
            tl = target["level"] if isinstance(target, dict) else getattr(target, "level", None)
            if tl != "grid":
                errors.append(f"{label}: member {m!r} is not a known unit grid")
        if it["level"] == "responsibility_grid" and it["geom"] is None and not it["members"]:
            errors.append(f"{label}: a responsibility grid needs a geometry or 'members'")
    errors.extend(_sibling_overlaps(items))
    if errors:
        raise Invalid(f"GeoJSON import rejected: {len(errors)} problem(s); nothing was written", errors)

    report = ImportReport()
    order = {lvl: i for i, lvl in enumerate(("district", "town", "community", "grid", "road_grid",
                                              "responsibility_grid"))}
    by_code: dict[str, Area] = dict(existing)
    for it in sorted(items, key=lambda x: order[x["level"]]):
        area = by_code.get(it["code"]) if it["code"] in existing else None
        if area is None:
            area = Area(code=it["code"], level=it["level"], path="/")
            session.add(area)
            report.created += 1
        else:
            report.updated += 1
        area.name = it["name"]
        area.kind = it["kind"]
        area.population = it["population"]
        area.synthetic = it["synthetic"]
        area.properties = it["properties"]
        parent = by_code.get(str(it["parent"])) if it["parent"] else None
        area.parent_id = parent.id if parent else None
        geom = it["geom"]
        if geom is None and it["members"]:
            geom = shapely.union_all([from_wkb(by_code[str(m)].geom) for m in it["members"]])
        _set_geometry(area, geom)
        session.flush()
        old_path = area.path
        area.path = f"{parent.path if parent else '/'}{area.id}/"
        if old_path not in ("/", area.path):  # moved under another parent: carry the subtree along
            session.execute(
                update(Area)
                .where(Area.path.startswith(old_path, autoescape=True), Area.id != area.id)
                .values(path=literal(area.path) + func.substr(Area.path, len(old_path) + 1))
                .execution_options(synchronize_session=False)
            )
        by_code[area.code] = area
        if it["members"] is not None:
            session.query(AreaMember).filter(AreaMember.group_id == area.id).delete()
            for m in dict.fromkeys(str(x) for x in it["members"]):
                session.add(AreaMember(group_id=area.id, grid_id=by_code[m].id))
        report.by_level[it["level"]] += 1
    session.flush()
    bump_revision(session)
    audit.record(session, "areas_imported", actor=actor, detail=report.as_dict(), ip=ip)
    return report


def _set_geometry(area: Area, geom) -> None:
    if geom is None:
        area.geom = None
        area.min_lon = area.min_lat = area.max_lon = area.max_lat = None
        area.area_m2 = None
        return
    area.geom = to_wkb(geom)
    for k, v in bbox(geom).items():
        setattr(area, k, v)
    area.area_m2 = float(area_m2(geom))


def _sibling_overlaps(items: list[dict], max_overlap_m2: float = 1.0) -> list[str]:
    """Unit grids (and other same-level areas) in one file must not overlap each other."""
    errors = []
    by_level: dict[str, list[dict]] = {}
    for it in items:
        if it["geom"] is not None and it["level"] in ("town", "community", "grid"):
            by_level.setdefault(it["level"], []).append(it)
    for group in by_level.values():
        geoms = [it["geom"] for it in group]
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        pairs = [(a, b) for a, b in zip(left.tolist(), right.tolist(), strict=True) if a < b]
        for a, b in pairs:
            inter = geoms[a].intersection(geoms[b])
            m2 = float(area_m2(inter)) if not inter.is_empty else 0.0
            if m2 > max_overlap_m2:
                errors.append(f"{group[a]['label']}: overlaps {group[b]['label']} by {m2:.0f} m²")
    return errors


def _chunks(seq: list, n: int) -> Iterable[list]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


# --- bulk writes used by the grid generator and the demo loader ------------------------------

def insert_many(session: Session, rows: list[dict]) -> None:
    """Insert prepared area rows (``geom`` as a shapely geometry, ``parent_id`` set) fast, then fix paths."""
    from sqlalchemy import insert

    payload = []
    for r in rows:
        geom = r.pop("geom")
        r.setdefault("properties", {})
        r.setdefault("synthetic", False)
        r.setdefault("path", "/")
        if geom is not None:
            r["geom"] = to_wkb(geom)
            r.update(bbox(geom))
        payload.append(r)
    if geom_rows := [r for r in payload if "geom" in r and "area_m2" not in r]:
        ms = area_m2([from_wkb(r["geom"]) for r in geom_rows])
        for r, m in zip(geom_rows, ms, strict=True):
            r["area_m2"] = float(m)
    for chunk in _chunks(payload, 5000):
        session.execute(insert(Area), chunk)
    fix_paths(session)


def fix_paths(session: Session) -> None:
    """Recompute materialised paths level by level (top-down) for rows whose path is unset."""
    parent = Area.__table__.alias("p")
    for _ in range(len(LEVELS)):
        roots = (
            update(Area)
            .where(Area.path == "/", Area.parent_id.is_(None))
            .values(path="/" + cast(Area.id, String) + "/")
        )
        session.execute(roots)
        sub = (
            select(parent.c.path + cast(Area.id, String) + "/")
            .where(parent.c.id == Area.parent_id, parent.c.path != "/")
            .scalar_subquery()
        )
        changed = session.execute(
            update(Area)
            .where(Area.path == "/", Area.parent_id.is_not(None))
            .where(Area.parent_id.in_(select(parent.c.id).where(parent.c.path != "/")))
            .values(path=sub)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not changed:
            break
    session.expire_all()


def grid_counts(session: Session, areas: list[Area]) -> dict[int, int]:
    """Unit grids anywhere below each area, by area id: one grouped query per tree level, walking
    parent links up from the grids (indexed), instead of a path scan per area."""
    ids = [a.id for a in areas]
    counts = dict.fromkeys(ids, 0)
    if not ids:
        return counts
    grid = aliased(Area)
    stmt, key = select(func.count()).select_from(grid).where(grid.level == "grid"), grid.parent_id
    for _ in TREE_LEVELS[:-1]:  # a unit grid is at most three levels below a district
        for n, area_id in session.execute(stmt.add_columns(key).where(key.in_(ids)).group_by(key)):
            counts[area_id] += n
        up = aliased(Area)
        stmt, key = stmt.join(up, up.id == key), up.parent_id
    return counts


def child_counts(session: Session, area: Area) -> dict[str, int]:
    rows = session.execute(
        select(Area.level, func.count()).where(Area.parent_id == area.id).group_by(Area.level)
    )
    return {level: n for level, n in rows}
