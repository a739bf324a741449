"""Sensor devices and HTTP readings (thin router over intake/sensors/devices.py)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Header, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, client_ip, current_principal, get_session, require
from liandong.intake.sensors import devices as registry
from liandong.intake.sensors import service

router = APIRouter(prefix="/api/v1/sensors", tags=["sensors"])


class DeviceIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    device_type: str = Field(description=" | ".join(service.RULES))
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    component_code: str | None = Field(default=None, max_length=17)
    crs: str = Field(default="wgs84", max_length=16, description="wgs84 | gcj02 | bd09")


@router.post("", status_code=201, summary="Register a device; its token is shown once (admin)")
def register(body: DeviceIn, request: Request, principal: Principal = Depends(require("admin")),
             session: Session = Depends(get_session)):
    return registry.register(session, request.app.state.grid_index.get(session), actor=principal.user,
                             ip=client_ip(request), **body.model_dump())


@router.get("", summary="Devices and their state")
def devices(principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return registry.list_devices(session)


class ReadingIn(BaseModel):
    value: float
    at: dt.datetime | None = None


@router.post("/{code}/readings", summary="A reading over HTTP (X-Device-Token)")
def reading(body: ReadingIn, request: Request, code: str = Path(max_length=64),
            x_device_token: str | None = Header(default=None, max_length=100),
            session: Session = Depends(get_session)):
    return registry.http_reading(session, request.app.state.grid_index.get(session), code, x_device_token,
                                 body.value, body.at, request.app.state.clock())
