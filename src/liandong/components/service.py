"""Component rules: all-or-nothing import from GeoJSON points or CSV, lookups within jurisdiction.

Every row is checked before anything is written: the 17-character code, its component type (which must
be in the catalogue), the division prefix against the grid the point falls in, the status and dates.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong import audit
from liandong.areas import crs as crsmod
from liandong.areas import geojson
from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.areas.scope import EVERYTHING, Scope
from liandong.catalogue.models import Matter
from liandong.components.models import STATUSES, Component
from liandong.errors import Invalid, NotFound

CODE = re.compile(r"\d{17}")
FIELDS = ("code", "name", "lon", "lat", "owner", "maintainer", "status", "surveyed_on", "source", "note")


def _rows_from_csv(text: str) -> list[tuple[str, dict]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = {"code", "lon", "lat"} - set(reader.fieldnames or [])
    if missing:
        raise Invalid(f"the CSV needs the columns {', '.join(sorted(missing))}")
    return [(f"line {i}", row) for i, row in enumerate(reader, start=2)]


def _rows_from_geojson(data: dict, crs_name: str) -> list[tuple[str, dict]]:
    rows = []
    for i, feat in enumerate(data["features"], start=1):
        props = feat.get("properties") if isinstance(feat, dict) else None
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        if not isinstance(props, dict) or not isinstance(geom, dict) or geom.get("type") != "Point":
            rows.append((f"feature #{i}", {"_problem": "needs properties and a Point geometry"}))
            continue
        coords = geom.get("coordinates")
        if (not isinstance(coords, list) or len(coords) < 2
                or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords[:2])):
            rows.append((f"feature #{i}", {"_problem": "the Point has no numeric coordinates"}))
            continue
        lon, lat = crsmod.to_wgs84(coords[0], coords[1], crs_name)
        rows.append((f"feature #{i}", {**props, "lon": float(lon), "lat": float(lat)}))
    return rows


def import_components(session: Session, index: GridIndex, raw: str, *, fmt: str, crs: str | None = None,
                      scope: Scope = EVERYTHING, actor: audit.Actor | None = None, ip: str | None = None) -> dict:
    """Import components (audited); on any bad row nothing is written and every problem is listed."""
    if fmt == "csv":
        crs_name = geojson.declared_crs({}, crs)
        rows = _rows_from_csv(raw)
    elif fmt == "geojson":
        data = geojson.parse(raw)
        crs_name = geojson.declared_crs(data, crs)
        rows = _rows_from_geojson(data, crs_name)
    else:
        raise Invalid("format must be csv or geojson")
    types = {c: n.removesuffix("异常") for c, n in session.execute(  # the matter is "⟨component⟩异常"
        select(Matter.component_code, Matter.name).where(Matter.component_code.is_not(None)))}
    existing = set(session.scalars(select(Component.code)))
    grids = {a.id: a for a in session.scalars(select(Area).where(Area.level == "grid"))}
    errors, seen, items = [], {}, []
    for label, row in rows:
        problems = [row["_problem"]] if "_problem" in row else []
        code = str(row.get("code") or "").strip()
        if not CODE.fullmatch(code):
            problems.append("code must be 17 digits (division 6 + type 5 + sequence 6)")
        elif code in seen:
            problems.append(f"duplicate code (also {seen[code]})")
        elif code in existing:
            problems.append("code already in the register")
        else:
            seen[code] = label
        type_code = code[6:11] if len(code) == 17 else ""
        if CODE.fullmatch(code) and type_code not in types:
            problems.append(f"component type {type_code} is not in the catalogue")
        try:
            lon, lat = float(row.get("lon")), float(row.get("lat"))
        except (TypeError, ValueError):
            problems.append("lon and lat must be numbers")
            lon = lat = None
        grid = None
        if lon is not None and crs_name and fmt == "csv":
            x, y = crsmod.to_wgs84(lon, lat, crs_name)
            lon, lat = float(x), float(y)
        if lon is not None:
            hit = index.locate(lon, lat) if -180 <= lon <= 180 and -90 <= lat <= 90 else None
            grid = grids.get(hit.id) if hit else None
            if grid is None:
                problems.append("the point lies outside every unit grid")
            elif not scope.covers_path(grid.path):
                problems.append("the point lies outside your jurisdiction")
            elif CODE.fullmatch(code) and code[:6] != grid.code[:6]:
                problems.append(f"division {code[:6]} does not match the grid's {grid.code[:6]}")
        status = str(row.get("status") or "intact").strip()
        status = next((k for k, zh in STATUSES.items() if status in (k, zh)), status)
        if status not in STATUSES:
            problems.append(f"status must be one of {', '.join(STATUSES)} (or 完好/破损/丢失/废弃/移除)")
        surveyed = row.get("surveyed_on")
        try:
            surveyed = dt.date.fromisoformat(str(surveyed)) if surveyed else None
        except ValueError:
            problems.append("surveyed_on must be a date like 2026-11-26")
        texts = {k: (str(row[k]).strip() if row.get(k) not in (None, "") else None)
                 for k in ("name", "owner", "maintainer", "source", "note")}
        limits = {"name": 60, "owner": 100, "maintainer": 100, "source": 30, "note": 1000}
        problems += [f"'{k}' is longer than {n} characters" for k, n in limits.items()
                     if texts[k] and len(texts[k]) > n]
        problems += [f"'{k}' contains a NUL character" for k, v in texts.items() if v and "\x00" in v]
        if problems:
            errors.append(f"{label}" + (f" (code {code})" if code else "") + ": " + "; ".join(problems))
            continue
        items.append(Component(code=code, type_code=type_code, name=texts["name"] or types[type_code],
                               grid_id=grid.id, area_path=grid.path, lon=lon, lat=lat, owner=texts["owner"],
                               maintainer=texts["maintainer"], status=status, surveyed_on=surveyed,
                               source=texts["source"], note=texts["note"]))
    if not rows:
        errors.append("no rows")
    if errors:
        raise Invalid(f"component import rejected: {len(errors)} problem(s); nothing was written", errors)
    session.add_all(items)
    session.flush()
    result = {"imported": len(items)}
    audit.record(session, "components_imported", actor=actor, detail=result, ip=ip)
    return result


def get(session: Session, code: str, scope: Scope = EVERYTHING) -> Component:
    c = session.scalar(select(Component).where(Component.code == code))
    if c is None or not scope.covers_path(c.area_path):
        raise NotFound(f"component {code!r} not found")
    return c


def search(session: Session, scope: Scope = EVERYTHING, *, type_code: str | None = None, status: str | None = None,
           grid_code: str | None = None, limit: int = 100, offset: int = 0) -> tuple[list[Component], int]:
    stmt = select(Component)
    if not scope.unrestricted:
        stmt = stmt.where(Component.area_path.startswith(scope.path, autoescape=True))
    if type_code:
        stmt = stmt.where(Component.type_code == type_code)
    if status:
        stmt = stmt.where(Component.status == status)
    if grid_code:
        stmt = stmt.where(Component.grid_id.in_(select(Area.id).where(Area.code == grid_code)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    return list(session.scalars(stmt.order_by(Component.code).limit(limit).offset(offset))), int(total or 0)


def as_dict(c: Component) -> dict:
    return {"code": c.code, "type_code": c.type_code, "name": c.name, "lon": c.lon, "lat": c.lat,
            "owner": c.owner, "maintainer": c.maintainer, "status": c.status, "status_zh": STATUSES[c.status],
            "surveyed_on": c.surveyed_on.isoformat() if c.surveyed_on else None, "source": c.source, "note": c.note}
