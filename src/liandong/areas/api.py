"""Area endpoints: tree, lookup by code, GeoJSON export/import, locate, grids, layers (thin router)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from liandong.areas import gridgen, layers, service
from liandong.areas.index import locate as locate_point
from liandong.areas.models import LEVELS
from liandong.auth import audit
from liandong.auth.deps import Principal, client_ip, current_principal, get_session, require
from liandong.errors import Invalid, NotFound

router = APIRouter(prefix="/api/v1/areas", tags=["areas"])
layer_router = APIRouter(prefix="/api/v1/layers", tags=["areas"])
admin = require("admin")


def area_out(area, parent_code: str | None = None, grids: dict[int, int] | None = None) -> dict:
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


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    try:
        parts = tuple(float(x) for x in value.split(","))
    except ValueError:
        raise Invalid("bbox must be four numbers: min_lon,min_lat,max_lon,max_lat") from None
    if len(parts) != 4:
        raise Invalid("bbox must be four numbers: min_lon,min_lat,max_lon,max_lat")
    return parts  # type: ignore[return-value]


@router.get("/summary", summary="Counts of areas per level inside the caller's jurisdiction")
def summary(principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return service.summary(session, principal.scope)


@router.get("/locate", summary="Point → unit grid, its ancestors and responsible units")
def locate(
    request: Request,
    lon: float = Query(ge=-180, le=180),
    lat: float = Query(ge=-90, le=90),
    crs: str = Query("wgs84", description="wgs84 | gcj02 | bd09"),
    principal: Principal = Depends(current_principal),
    session: Session = Depends(get_session),
):
    from liandong.areas.crs import CRSError

    index = request.app.state.grid_index.get(session)
    try:
        found = locate_point(index, lon, lat, crs, principal.scope)
    except CRSError as exc:
        raise Invalid(str(exc)) from exc
    if found is None:
        raise NotFound("no unit grid at this point in your jurisdiction")
    return found


@router.get("", summary="Areas: the caller's top areas, or a filtered page (level, parent, q)")
def list_areas(
    level: str | None = Query(None, description=" | ".join(LEVELS)),
    parent: str | None = None,
    q: str | None = Query(None, max_length=100),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    principal: Principal = Depends(current_principal),
    session: Session = Depends(get_session),
):
    if not (level or parent or q):
        roots = service.root_areas(session, principal.scope)
        grids = service.grid_counts(session, roots)
        return {"total": len(roots), "items": [area_out(a, grids=grids) for a in roots]}
    rows, total = service.list_areas(session, principal.scope, level=level, parent_code=parent, q=q,
                                     limit=limit, offset=offset)
    return {"total": total, "items": [area_out(a, parent) for a in rows]}


@router.get("/geojson", summary="GeoJSON export of one level (inside a code and/or a bbox)")
def export(
    level: str = Query(..., description=" | ".join(LEVELS)),
    within: str | None = None,
    bbox: str | None = Query(None, description="min_lon,min_lat,max_lon,max_lat"),
    crs: str = Query("wgs84", description="wgs84 | gcj02 | bd09"),
    simplify: float = Query(0.0, ge=0, le=500, description="simplify tolerance in metres (0 = exact)"),
    limit: int = Query(20000, ge=1, le=100000),
    principal: Principal = Depends(current_principal),
    session: Session = Depends(get_session),
):
    from liandong.areas.crs import CRSError

    try:
        fc = service.export_geojson(session, principal.scope, level=level, within=within, bbox_filter=_bbox(bbox),
                                    crs=crs, simplify_m=simplify, limit=limit)
    except CRSError as exc:
        raise Invalid(str(exc)) from exc
    return JSONResponse(fc, media_type="application/geo+json")


@router.post("/import", status_code=201, summary="Import a GeoJSON FeatureCollection of areas (admin)")
def import_areas(
    request: Request,
    body: dict = Body(..., description="GeoJSON FeatureCollection"),
    level: str | None = None,
    crs: str | None = Query(None, description="wgs84 | gcj02 | bd09 (overrides a crs member)"),
    mode: str = Query("create", description="create | upsert"),
    principal: Principal = Depends(admin),
    session: Session = Depends(get_session),
):
    report = service.import_geojson(session, body, level=level, crs=crs, mode=mode, scope=principal.scope)
    audit.record(session, "areas_imported", actor=principal.user, detail=report.as_dict(), ip=client_ip(request))
    session.commit()
    return report.as_dict()


@router.post("/{code}/grids", status_code=201, summary="Generate unit grids for the communities under an area")
def generate_grids(
    code: str,
    request: Request,
    target_m2: float = Query(10_000.0, gt=100, le=1_000_000),
    replace: bool = False,
    principal: Principal = Depends(admin),
    session: Session = Depends(get_session),
):
    result = gridgen.generate(session, code, target_m2=target_m2, replace=replace, scope=principal.scope)
    audit.record(session, "grids_generated", actor=principal.user, target=f"area:{code}",
                 detail={**result, "target_m2": target_m2}, ip=client_ip(request))
    session.commit()
    return result


@router.post("/{code}/responsibility-grids", status_code=201,
             summary="Group each community's unit grids under an area into responsibility grids (admin)")
def group_grids(
    code: str,
    request: Request,
    per_group: int = Query(22, ge=1, le=999),
    principal: Principal = Depends(admin),
    session: Session = Depends(get_session),
):
    result = gridgen.group_into_responsibility_grids(session, code, per_group=per_group, scope=principal.scope)
    audit.record(session, "responsibility_grids_made", actor=principal.user, target=f"area:{code}", detail=result,
                 ip=client_ip(request))
    session.commit()
    return result


@router.get("/{code}", summary="One area with its ancestors and child counts")
def get_area(code: str, principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    area = service.get_by_code(session, code, principal.scope)
    chain = service.ancestors(session, area)
    out = area_out(area, chain[-1].code if chain else None)
    out["ancestors"] = [{"level": a.level, "code": a.code, "name": a.name} for a in chain]
    out["children"] = service.child_counts(session, area)
    out["properties"] = area.properties
    return out


@router.get("/{code}/children", summary="Direct children of an area, a page at a time, with their unit-grid counts")
def children(code: str, limit: int = Query(1000, ge=1, le=5000), offset: int = Query(0, ge=0, le=10**9),
             principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    rows, total = service.list_areas(session, principal.scope, parent_code=code, limit=limit, offset=offset)
    grids = service.grid_counts(session, rows)
    return {"total": total, "items": [area_out(a, code, grids) for a in rows]}


@router.get("/{code}/responsibility", summary="Who answers for a unit grid, per department line (多网合一)")
def responsibility(code: str, request: Request, principal: Principal = Depends(current_principal),
                   session: Session = Depends(get_session)):
    area = service.get_by_code(session, code, principal.scope)
    if area.level != "grid":
        raise Invalid(f"{code} is a {area.level}; responsibility is per unit grid")
    index = request.app.state.grid_index.get(session)
    hit = index.by_id.get(area.id)
    if hit is None:
        raise NotFound(f"grid {code} has no geometry")
    return hit.as_dict()


@layer_router.get("", summary="Department layers and how many grids each maps")
def list_layers(principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return layers.list_layers(session, principal.scope)


@layer_router.get("/{code}/geojson", summary="A department layer as GeoJSON")
def export_layer(code: str, principal: Principal = Depends(current_principal),
                 session: Session = Depends(get_session)):
    return JSONResponse(layers.export_layer(session, code, principal.scope), media_type="application/geo+json")


@layer_router.post("", status_code=201, summary="Import a department layer and map it onto the unit grids (admin)")
def import_layer(
    request: Request,
    code: str = Query(..., min_length=1, max_length=64),
    name: str = Query(..., min_length=1, max_length=200),
    line: str = Query(..., max_length=48),
    body: dict = Body(..., description="GeoJSON FeatureCollection of zones (properties code, name, unit)"),
    crs: str | None = None,
    replace: bool = False,
    principal: Principal = Depends(admin),
    session: Session = Depends(get_session),
):
    result = layers.import_layer(session, body, code=code, name=name, line=line, crs=crs, replace=replace)
    audit.record(session, "layer_imported", actor=principal.user, target=f"layer:{code}", detail=result,
                 ip=client_ip(request))
    session.commit()
    return result
