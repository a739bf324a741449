"""Unit endpoints (thin router): list within jurisdiction, one unit with members, create and edit (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, client_ip, current_principal, get_session, require
from liandong.units import service
from liandong.units.lines import LINES

router = APIRouter(prefix="/api/v1/units", tags=["units"])


@router.get("/lines", summary="Department lines (条) with Chinese and English names")
def lines(principal: Principal = Depends(current_principal)):
    return [{"code": k, "name_zh": zh, "name_en": en} for k, (zh, en) in LINES.items()]


@router.get("", summary="Units inside the caller's jurisdiction")
def list_units(
    kind: str | None = None,
    line: str | None = None,
    parent: str | None = None,
    area: str | None = None,
    q: str | None = Query(None, max_length=100),
    limit: int = Query(100, ge=1, le=5000),
    offset: int = Query(0, ge=0),
    principal: Principal = Depends(current_principal),
    session: Session = Depends(get_session),
):
    rows, total = service.list_units(session, principal.scope, kind=kind, line=line, parent_code=parent,
                                     area_code=area, q=q, limit=limit, offset=offset)
    return {"total": total, "items": service.unit_dicts(session, rows)}


@router.get("/{code}", summary="One unit with its members (phones masked)")
def get_unit(code: str, principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return service.unit_detail(session, code, principal.scope)


class UnitIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    kind: str
    area_code: str
    line: str | None = None
    parent_code: str | None = None
    phone: str | None = Field(default=None, max_length=32)


@router.post("", status_code=201, summary="Create a unit (admin, audited)")
def create_unit(body: UnitIn, request: Request, principal: Principal = Depends(require("admin")),
                session: Session = Depends(get_session)):
    unit = service.create_unit(session, **body.model_dump(), actor=principal.user, ip=client_ip(request),
                               scope=principal.scope)
    return service.unit_dicts(session, [unit])[0]


class UnitPatch(BaseModel):
    """Only the fields sent are changed; ``line`` or ``parent_code`` null removes it."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: str | None = None
    line: str | None = None
    parent_code: str | None = Field(default=None, max_length=64)


@router.patch("/{code}", summary="Edit a unit's name, kind, line or parent (admin, audited)")
def edit_unit(code: str, body: UnitPatch, request: Request, principal: Principal = Depends(require("admin")),
              session: Session = Depends(get_session)):
    unit = service.update_unit(session, code, body.model_dump(exclude_unset=True), actor=principal.user,
                               ip=client_ip(request), scope=principal.scope)
    return service.unit_dicts(session, [unit])[0]
