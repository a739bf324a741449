"""Sensor devices and HTTP readings (thin router over intake/sensors/service.py)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Header, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.auth import audit
from liandong.auth.deps import Principal, client_ip, current_principal, get_session, require
from liandong.intake.sensors import service
from liandong.intake.sensors.models import SensorDevice

router = APIRouter(prefix="/api/v1/sensors", tags=["sensors"])


class DeviceIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    device_type: str = Field(description=" | ".join(service.RULES))
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    component_code: str | None = Field(default=None, max_length=17)
    crs: str = Field(default="wgs84", max_length=16, description="wgs84 | gcj02 | bd09")


def _out(d: SensorDevice) -> dict:
    return {"code": d.code, "device_type": d.device_type, "lon": d.lon, "lat": d.lat, "state": d.state,
            "open_case_id": d.open_case_id, "last_value": d.last_value,
            "last_at": d.last_at.isoformat() if d.last_at else None}


@router.post("", status_code=201, summary="Register a device; its token is shown once (admin)")
def register(body: DeviceIn, request: Request, principal: Principal = Depends(require("admin")),
             session: Session = Depends(get_session)):
    dev, token = service.register(session, request.app.state.grid_index.get(session), **body.model_dump())
    audit.record(session, "sensor_registered", actor=principal.user, target=f"sensor:{dev.code}",
                 ip=client_ip(request))
    session.commit()
    return {**_out(dev), "token": token}


@router.get("", summary="Devices and their state")
def devices(principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return [_out(d) for d in session.scalars(select(SensorDevice).order_by(SensorDevice.code))]


class ReadingIn(BaseModel):
    value: float
    at: dt.datetime | None = None


@router.post("/{code}/readings", summary="A reading over HTTP (X-Device-Token)")
def reading(body: ReadingIn, request: Request, code: str = Path(max_length=64),
            x_device_token: str | None = Header(default=None, max_length=100),
            session: Session = Depends(get_session)):
    from liandong.errors import Invalid, Unauthorized

    if not x_device_token:
        raise Unauthorized("X-Device-Token is required")
    at = body.at or request.app.state.clock()
    if at.tzinfo is None:
        raise Invalid("'at' needs a time zone")
    dev = service.device(session, code, x_device_token)
    out = service.reading(session, request.app.state.grid_index.get(session), dev, body.value, at)
    session.commit()
    return out
