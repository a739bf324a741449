"""Component endpoints (thin router): search, one component, import (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query, Request
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, client_ip, current_principal, get_session, require
from liandong.components import service

router = APIRouter(prefix="/api/v1/components", tags=["components"])


@router.get("", summary="Components inside the caller's jurisdiction")
def search(type: str | None = Query(None, max_length=5), status: str | None = Query(None, max_length=16),
           grid: str | None = Query(None, max_length=32), limit: int = Query(100, ge=1, le=1000),
           offset: int = Query(0, ge=0, le=10**7), principal: Principal = Depends(current_principal),
           session: Session = Depends(get_session)):
    rows, total = service.search(session, principal.scope, type_code=type, status=status, grid_code=grid,
                                 limit=limit, offset=offset)
    return {"total": total, "items": [service.as_dict(c) for c in rows]}


@router.get("/{code}", summary="One component")
def one(code: str, principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return service.as_dict(service.get(session, code, principal.scope))


@router.post("/import", status_code=201, summary="Import components from CSV or GeoJSON points (admin)")
def import_components(request: Request, body: str = Body(..., media_type="text/plain"),
                      format: str = Query("csv", description="csv | geojson"), crs: str | None = None,
                      principal: Principal = Depends(require("admin")), session: Session = Depends(get_session)):
    return service.import_components(session, request.app.state.grid_index.get(session), body, fmt=format, crs=crs,
                                     scope=principal.scope, actor=principal.user, ip=client_ip(request))
