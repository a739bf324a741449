"""Threshold rules with debouncing and hysteresis, one case per incident.

A device raises an alarm only after ``raise_after`` consecutive readings at or above ``high`` (a single
noisy spike does nothing), and returns to normal only after ``clear_after`` consecutive readings under
``low`` (< ``high``: values hovering around the threshold do not flap). The alarm opens one case; readings
during the alarm add nothing; the return to normal is written on that case as a ``sensor_normal`` event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex, locate
from liandong.auth.identity import Identity
from liandong.cases import intake
from liandong.errors import Conflict, Invalid, NotFound, Unauthorized
from liandong.intake.sensors.models import SensorDevice


@dataclass(frozen=True)
class Rule:
    unit: str
    high: float
    low: float
    raise_after: int
    clear_after: int
    matter: str
    """Matter of the case when the device is not bound to a component (else the component's matter)."""


RULES = {
    "manhole_tilt": Rule("°", 15.0, 5.0, 3, 3, "01003"),
    "water_level": Rule("m", 0.30, 0.10, 2, 3, "01004"),
    "smoke": Rule("%/m", 10.0, 3.0, 2, 5, "06020"),
    "gas": Rule("%LEL", 20.0, 10.0, 2, 3, "01011"),
}
SENSOR = Identity(roles=frozenset({"receptionist"}), unit_id=None, username="sensor")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register(session: Session, index: GridIndex, *, code: str, device_type: str, lon: float, lat: float,
             component_code: str | None = None, crs: str = "wgs84") -> tuple[SensorDevice, str]:
    """A new device (its token is returned once); it must lie in a unit grid. Stored in WGS84."""
    from liandong.components.models import Component

    code = (code or "").strip()
    if not 1 <= len(code) <= 64:
        raise Invalid("a device code has 1–64 characters")
    if device_type not in RULES:
        raise Invalid(f"device_type must be one of {', '.join(RULES)}")
    if session.scalar(select(SensorDevice.id).where(SensorDevice.code == code)) is not None:
        raise Conflict(f"device {code} exists")
    try:
        found = locate(index, lon, lat, crs)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    if found is None:
        raise Invalid("the device lies outside every unit grid")
    lon, lat = found["point"]["lon"], found["point"]["lat"]
    component = None
    if component_code:
        component = session.scalar(select(Component).where(Component.code == component_code))
        if component is None:
            raise Invalid(f"unknown component {component_code}")
    token = secrets.token_urlsafe(24)
    row = SensorDevice(code=code, device_type=device_type, token_hash=_digest(token), lon=lon, lat=lat,
                       component_id=component.id if component else None, state="normal", above=0, below=0)
    session.add(row)
    session.flush()
    return row, token


def device(session: Session, code: str, token: str | None = None) -> SensorDevice:
    row = session.scalar(select(SensorDevice).where(SensorDevice.code == code))
    if row is None:
        raise NotFound(f"no device {code!r}")
    if token is not None and row.token_hash != _digest(token):
        raise Unauthorized("wrong device token")
    return row


def reading(session: Session, index: GridIndex, dev: SensorDevice, value: float, at: dt.datetime) -> dict:
    """Apply one reading; returns what happened: nothing, ``alarm`` (a case opened) or ``normal``."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
        raise Invalid("value must be a number")
    rule = RULES[dev.device_type]
    dev.last_value, dev.last_at = float(value), at
    if dev.state == "normal":
        dev.above = dev.above + 1 if value >= rule.high else 0
        if dev.above >= rule.raise_after:
            case = _open_case(session, index, dev, rule, value, at)
            dev.state, dev.open_case_id, dev.below = "alarm", case.id, 0
            return {"event": "alarm", "case_id": case.id}
        return {"event": None}
    dev.below = dev.below + 1 if value < rule.low else 0
    if dev.below >= rule.clear_after:
        if dev.open_case_id:
            from liandong.cases.models import Case

            intake.follow_up(session, session.get(Case, dev.open_case_id), SENSOR, "sensor_normal",
                             {"device": dev.code, "value": value, "unit": rule.unit,
                              "note": f"读数已恢复正常 (back to normal: {value}{rule.unit})"}, at)
        closed_case = dev.open_case_id
        dev.state, dev.open_case_id, dev.above, dev.below = "normal", None, 0, 0
        return {"event": "normal", "case_id": closed_case}
    return {"event": None}


def _open_case(session: Session, index: GridIndex, dev: SensorDevice, rule: Rule, value: float, at: dt.datetime):
    from liandong.components.models import Component

    matter = rule.matter
    component_code = None
    if dev.component_id:
        component = session.get(Component, dev.component_id)
        component_code, matter = component.code, component.type_code
    return intake.open_case(  # a citizen may have called it in first: duplicates are merged there
        session, index, SENSOR, matter_code=matter, lon=dev.lon, lat=dev.lat, channel="sensor",
        description=f"传感器 {dev.code} 报警：{dev.device_type} = {value}{rule.unit}（阈值 {rule.high}{rule.unit}）",
        urgency="urgent", component_code=component_code,
        idempotency_key=f"sensor:{dev.code}:{at.isoformat()}"[:100], now=at).case
