"""Area endpoints: tree, lookup by code, GeoJSON export/import, locate, grids, layers (thin router)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from liandong.areas import grid_admin, layers, lookup, service
from liandong.areas.models import LEVELS
from liandong.auth.deps import Principal, client_ip, current_principal, get_session, require
from liandong.errors import Invalid

router = APIRouter(prefix="/api/v1/areas", tags=["areas"])
layer_router = APIRouter(prefix="/api/v1/layers", tags=["areas"])
admin = require("admin")


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
    return lookup.locate(request.app.state.grid_index.get(session), lon, lat, crs, principal.scope)


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
    return service.browse(session, principal.scope, level=level, parent_code=parent, q=q, limit=limit, offset=offset)


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
    fc = service.export_geojson(session, principal.scope, level=level, within=within, bbox_filter=_bbox(bbox),
                                crs=crs, simplify_m=simplify, limit=limit)
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
    return service.import_geojson(session, body, level=level, crs=crs, mode=mode, scope=principal.scope,
                                  actor=principal.user, ip=client_ip(request)).as_dict()


@router.post("/{code}/grids", status_code=201, summary="Generate unit grids for the communities under an area")
def generate_grids(
    code: str,
    request: Request,
    target_m2: float = Query(10_000.0, gt=100, le=1_000_000),
    replace: bool = False,
    principal: Principal = Depends(admin),
    session: Session = Depends(get_session),
):
    return grid_admin.generate(session, code, target_m2=target_m2, replace=replace, scope=principal.scope,
                               actor=principal.user, ip=client_ip(request))


@router.post("/{code}/responsibility-grids", status_code=201,
             summary="Group each community's unit grids under an area into responsibility grids (admin)")
def group_grids(
    code: str,
    request: Request,
    per_group: int = Query(22, ge=1, le=999),
    principal: Principal = Depends(admin),
    session: Session = Depends(get_session),
):
    return grid_admin.group(session, code, per_group=per_group, scope=principal.scope, actor=principal.user,
                            ip=client_ip(request))


@router.get("/{code}", summary="One area with its ancestors and child counts")
def get_area(code: str, principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return service.area_detail(session, code, principal.scope)


@router.get("/{code}/children", summary="Direct children of an area, a page at a time, with their unit-grid counts")
def children(code: str, limit: int = Query(1000, ge=1, le=5000), offset: int = Query(0, ge=0, le=10**9),
             principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return service.children(session, code, principal.scope, limit=limit, offset=offset)


@router.get("/{code}/responsibility", summary="Who answers for a unit grid, per department line (多网合一)")
def responsibility(code: str, request: Request, principal: Principal = Depends(current_principal),
                   session: Session = Depends(get_session)):
    return lookup.responsibility(session, request.app.state.grid_index.get(session), code, principal.scope)


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
    return layers.import_layer(session, body, code=code, name=name, line=line, crs=crs, replace=replace,
                               actor=principal.user, ip=client_ip(request))
