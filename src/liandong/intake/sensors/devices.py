"""Sensor devices as the API handles them: registration (admin, audited; the token is shown once), the list,
and a reading sent over HTTP under the device's token. Thresholds and incidents are ``service.py``'s."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong import audit
from liandong.areas.index import GridIndex
from liandong.errors import Invalid, Unauthorized
from liandong.intake.sensors import service
from liandong.intake.sensors.models import SensorDevice


def device_dict(d: SensorDevice) -> dict:
    return {"code": d.code, "device_type": d.device_type, "lon": d.lon, "lat": d.lat, "state": d.state,
            "open_case_id": d.open_case_id, "last_value": d.last_value,
            "last_at": d.last_at.isoformat() if d.last_at else None}


def register(session: Session, index: GridIndex, *, actor: audit.Actor, ip: str | None = None, **device) -> dict:
    """A new device (``service.register``'s fields) with its token, which no later answer shows again."""
    dev, token = service.register(session, index, **device)
    audit.record(session, "sensor_registered", actor=actor, target=f"sensor:{dev.code}", ip=ip)
    return {**device_dict(dev), "token": token}


def list_devices(session: Session) -> list[dict]:
    return [device_dict(d) for d in session.scalars(select(SensorDevice).order_by(SensorDevice.code))]


def http_reading(session: Session, index: GridIndex, code: str, token: str | None, value: float,
                 at: dt.datetime | None, now: dt.datetime) -> dict:
    """A reading over HTTP: the device's own token is required; no time means now, and a time needs a zone."""
    if not token:
        raise Unauthorized("X-Device-Token is required")
    at = at or now
    if at.tzinfo is None:
        raise Invalid("'at' needs a time zone")
    return service.reading(session, index, service.device(session, code, token), value, at)
