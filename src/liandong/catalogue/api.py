"""Catalogue endpoints (thin router): search matters, read one, edit (admin), add local matters (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, client_ip, current_principal, get_session, require
from liandong.catalogue import service

router = APIRouter(prefix="/api/v1/catalogue", tags=["catalogue"])
admin = require("admin")


@router.get("/matters", summary="Matters (事项), searchable by name or code prefix")
def matters(q: str | None = Query(None, max_length=50), major: str | None = Query(None, max_length=8),
            line: str | None = Query(None, max_length=48), limit: int = Query(100, ge=1, le=500),
            offset: int = Query(0, ge=0, le=10**6), principal: Principal = Depends(current_principal),
            session: Session = Depends(get_session)):
    rows, total = service.search(session, q=q, major=major, line=line, limit=limit, offset=offset)
    return {"total": total, "items": [service.matter_dict(m) for m in rows]}


@router.get("/matters/{code}", summary="One matter with its line, criteria and time limits")
def matter(code: str, principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return service.matter_dict(service.get(session, code))


class LimitIn(BaseModel):
    urgency: str
    stage: str
    amount: float
    unit: str


class MatterPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    line: str | None = None
    default_urgency: str | None = None
    filing_criteria: str | None = Field(default=None, max_length=2000)
    closing_criteria: str | None = Field(default=None, max_length=2000)
    active: bool | None = None
    limits: list[LimitIn] | None = None


@router.patch("/matters/{code}", summary="Edit a matter (admin, audited)")
def edit(code: str, body: MatterPatch, request: Request, principal: Principal = Depends(admin),
         session: Session = Depends(get_session)):
    changes = body.model_dump(exclude_unset=True)
    return service.matter_dict(service.update(session, code, changes, actor=principal.user, ip=client_ip(request)))


class LocalMatterIn(BaseModel):
    code: str = Field(min_length=1, max_length=16, pattern=r"^[0-9A-Z]+$")
    name: str = Field(min_length=1, max_length=100)
    major_code: str = Field(min_length=1, max_length=8)
    major_name: str = Field(min_length=1, max_length=50)
    line: str


@router.post("/matters", status_code=201, summary="Add a local extension matter (admin, audited)")
def add_local(body: LocalMatterIn, request: Request, principal: Principal = Depends(admin),
              session: Session = Depends(get_session)):
    return service.matter_dict(service.create_local(session, **body.model_dump(), actor=principal.user,
                                                    ip=client_ip(request)))
