"""Unit rules: listing within a jurisdiction, creating units, members with masked phones."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.areas.scope import EVERYTHING, Scope
from liandong.areas.service import bump_revision
from liandong.auth import audit
from liandong.errors import Conflict, Invalid, NotFound
from liandong.privacy import mask_phone
from liandong.units.lines import LINES, UNIT_KINDS
from liandong.units.models import TeamMember, Unit


def _scoped(stmt, scope: Scope):
    if scope.unrestricted:
        return stmt
    return stmt.join(Area, Area.id == Unit.area_id).where(Area.path.startswith(scope.path, autoescape=True))


def list_units(session: Session, scope: Scope = EVERYTHING, *, kind: str | None = None, line: str | None = None,
               parent_code: str | None = None, area_code: str | None = None, q: str | None = None,
               limit: int = 100, offset: int = 0) -> tuple[list[Unit], int]:
    stmt = _scoped(select(Unit), scope)
    if kind:
        if kind not in UNIT_KINDS:
            raise Invalid(f"unknown unit kind {kind!r}; use one of {', '.join(UNIT_KINDS)}")
        stmt = stmt.where(Unit.kind == kind)
    if line:
        if line not in LINES:
            raise Invalid(f"unknown department line {line!r}; use one of {', '.join(LINES)}")
        stmt = stmt.where(Unit.line == line)
    if parent_code:
        parent = get_unit(session, parent_code, scope)
        stmt = stmt.where(Unit.parent_id == parent.id)
    if area_code:
        area_id = session.scalar(select(Area.id).where(Area.code == area_code))
        stmt = stmt.where(Unit.area_id == (area_id or -1))
    if q:
        stmt = stmt.where(Unit.name.icontains(q, autoescape=True) | Unit.code.istartswith(q, autoescape=True))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(Unit.code).limit(limit).offset(offset)).all()
    return list(rows), int(total or 0)


def get_unit(session: Session, code: str, scope: Scope = EVERYTHING) -> Unit:
    unit = session.scalar(_scoped(select(Unit), scope).where(Unit.code == code))
    if unit is None:
        raise NotFound(f"unit {code!r} not found")
    return unit


def create_unit(session: Session, *, code: str, name: str, kind: str, area_code: str,
                line: str | None = None, parent_code: str | None = None, phone: str | None = None,
                actor=None, ip: str | None = None, scope: Scope = EVERYTHING) -> Unit:
    if kind not in UNIT_KINDS:
        raise Invalid(f"unknown unit kind {kind!r}; use one of {', '.join(UNIT_KINDS)}")
    if line is not None and line not in LINES:
        raise Invalid(f"unknown department line {line!r}; use one of {', '.join(LINES)}")
    if kind in ("department", "branch") and line is None:
        raise Invalid(f"a {kind} needs a department line")
    if session.scalar(select(Unit.id).where(Unit.code == code)) is not None:
        raise Conflict(f"unit {code!r} already exists")
    if not (0 < len(code) <= 64 and 0 < len(name) <= 200) or (phone is not None and len(phone) > 32):
        raise Invalid("unit code must have 1–64 characters, name 1–200, phone at most 32")
    area = session.scalar(select(Area).where(Area.code == area_code))
    if area is None or not scope.covers_path(area.path):
        raise Invalid(f"unknown area {area_code!r}")
    parent = None
    if parent_code:
        parent = session.scalar(_scoped(select(Unit), scope).where(Unit.code == parent_code))
        if parent is None:
            raise Invalid(f"unknown parent unit {parent_code!r}")
    unit = Unit(code=code, name=name, kind=kind, line=line, area_id=area.id,
                parent_id=parent.id if parent else None, phone=phone)
    session.add(unit)
    session.flush()
    bump_revision(session)  # responsible units per grid may change
    audit.record(session, "unit_created", actor=actor, target=f"unit:{code}",
                 detail={"kind": kind, "area": area_code, "line": line}, ip=ip)
    return unit


def members(session: Session, unit: Unit, *, unmasked: bool = False) -> list[dict]:
    rows = session.scalars(select(TeamMember).where(TeamMember.unit_id == unit.id).order_by(TeamMember.id))
    return [{"id": m.id, "name": m.name, "title": m.title,
             "phone": m.phone if unmasked else mask_phone(m.phone)} for m in rows]


def unit_dict(unit: Unit, area_codes: dict[int, str] | None = None, parent_codes: dict[int, str] | None = None) -> dict:
    return {
        "id": unit.id, "code": unit.code, "name": unit.name, "kind": unit.kind, "line": unit.line,
        "area": (area_codes or {}).get(unit.area_id), "parent": (parent_codes or {}).get(unit.parent_id),
    }
