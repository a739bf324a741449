"""Unit rules: listing within a jurisdiction, creating and editing units (audited), members with masked phones.

Units build on areas (a unit's jurisdiction is an area); auth builds on units. So this module imports areas
and never auth: the audit log sits below every domain (``liandong.audit``), and auth notices unit edits
itself (``auth/service.py``) to refresh the callers it caches.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong import audit
from liandong.areas.models import Area
from liandong.areas.scope import EVERYTHING, Scope
from liandong.areas.service import bump_revision
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


def by_id(session: Session, unit_id: int) -> Unit | None:
    return session.get(Unit, unit_id)


def _check_kind_line(kind: str, line: str | None) -> None:
    """A known kind and line; departments and their branches belong to a line."""
    if kind not in UNIT_KINDS:
        raise Invalid(f"unknown unit kind {kind!r}; use one of {', '.join(UNIT_KINDS)}")
    if line is not None and line not in LINES:
        raise Invalid(f"unknown department line {line!r}; use one of {', '.join(LINES)}")
    if kind in ("department", "branch") and line is None:
        raise Invalid(f"a {kind} needs a department line")


def _parent(session: Session, parent_code: str | None, scope: Scope) -> Unit | None:
    """The parent named by code, inside the caller's jurisdiction; None for no parent."""
    if not parent_code:
        return None
    parent = session.scalar(_scoped(select(Unit), scope).where(Unit.code == parent_code))
    if parent is None:
        raise Invalid(f"unknown parent unit {parent_code!r}")
    return parent


def create_unit(session: Session, *, code: str, name: str, kind: str, area_code: str,
                line: str | None = None, parent_code: str | None = None, phone: str | None = None,
                actor: audit.Actor | None = None, ip: str | None = None, scope: Scope = EVERYTHING) -> Unit:
    _check_kind_line(kind, line)
    if session.scalar(select(Unit.id).where(Unit.code == code)) is not None:
        raise Conflict(f"unit {code!r} already exists", code="unit_exists", params={"code": code})
    if not (0 < len(code) <= 64 and 0 < len(name) <= 200) or (phone is not None and len(phone) > 32):
        raise Invalid("unit code must have 1–64 characters, name 1–200, phone at most 32")
    area = session.scalar(select(Area).where(Area.code == area_code))
    if area is None or not scope.covers_path(area.path):
        raise Invalid(f"unknown area {area_code!r}")
    parent = _parent(session, parent_code, scope)
    unit = Unit(code=code, name=name, kind=kind, line=line, area_id=area.id,
                parent_id=parent.id if parent else None, phone=phone)
    session.add(unit)
    session.flush()
    bump_revision(session)  # responsible units per grid may change
    audit.record(session, "unit_created", actor=actor, target=f"unit:{code}",
                 detail={"kind": kind, "area": area_code, "line": line}, ip=ip)
    return unit


EDITABLE = ("name", "kind", "line", "parent_code")


def update_unit(session: Session, code: str, changes: dict, *, actor: audit.Actor | None = None,
                ip: str | None = None, scope: Scope = EVERYTHING) -> Unit:
    """Rename a unit, change its kind, line or parent (audited); the area stays, so nobody's
    jurisdiction moves. A unit outside ``scope`` is not found; the old and the new parent must be
    inside it, and the new one may not be the unit itself or below it (no cycles in the hierarchy)."""
    unit = get_unit(session, code, scope)
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise Invalid(f"cannot change {', '.join(unknown)}; editable: {', '.join(EDITABLE)}")
    for key in ("name", "kind"):
        if key in changes and changes[key] is None:
            raise Invalid(f"'{key}' cannot be empty")
    name = changes.get("name", unit.name)
    if not 0 < len(name) <= 200:
        raise Invalid("unit name must have 1–200 characters")
    kind, line = changes.get("kind", unit.kind), changes.get("line", unit.line)
    _check_kind_line(kind, line)
    before = _facts(session, unit)
    if "parent_code" in changes and (changes["parent_code"] or None) != before["parent"]:
        if unit.parent_id and session.scalar(_scoped(select(Unit.id), scope).where(Unit.id == unit.parent_id)) is None:
            raise Invalid(f"the parent of {code!r} is outside your jurisdiction: only an administrator above it "
                          "may move the unit")
        parent = _parent(session, changes["parent_code"], scope)
        if parent is not None and parent.id in _descendants_and_self(session, unit):
            raise Invalid(f"unit {parent.code!r} is {code!r} itself or below it: that would make a cycle")
        unit.parent_id = parent.id if parent else None
    unit.name, unit.kind, unit.line = name, kind, line
    session.flush()
    bump_revision(session)  # the units answering for each grid may change with a kind or line
    audit.record(session, "unit_changed", actor=actor, target=f"unit:{code}",
                 detail={"before": before, "after": _facts(session, unit)}, ip=ip)
    return unit


def _facts(session: Session, unit: Unit) -> dict:
    """What an edit may change, for the audit log."""
    parent = session.get(Unit, unit.parent_id) if unit.parent_id else None
    return {"name": unit.name, "kind": unit.kind, "line": unit.line, "parent": parent.code if parent else None}


def _descendants_and_self(session: Session, unit: Unit) -> set[int]:
    """Ids of the unit and every unit below it, level by level (the hierarchy is a few levels deep)."""
    found, frontier = {unit.id}, {unit.id}
    while frontier:
        frontier = set(session.scalars(select(Unit.id).where(Unit.parent_id.in_(frontier)))) - found
        found |= frontier
    return found


def members(session: Session, unit: Unit, *, unmasked: bool = False) -> list[dict]:
    rows = session.scalars(select(TeamMember).where(TeamMember.unit_id == unit.id).order_by(TeamMember.id))
    return [{"id": m.id, "name": m.name, "title": m.title,
             "phone": m.phone if unmasked else mask_phone(m.phone)} for m in rows]


def unit_dict(unit: Unit, area_codes: dict[int, str] | None = None, parent_codes: dict[int, str] | None = None) -> dict:
    return {
        "id": unit.id, "code": unit.code, "name": unit.name, "kind": unit.kind, "line": unit.line,
        "area": (area_codes or {}).get(unit.area_id), "parent": (parent_codes or {}).get(unit.parent_id),
    }


def unit_dicts(session: Session, units: list[Unit]) -> list[dict]:
    """Units as the API shows them, their area and parent named by code (two queries for the whole list)."""
    area_ids = {u.area_id for u in units}
    parent_ids = {u.parent_id for u in units if u.parent_id}
    areas = dict(session.execute(select(Area.id, Area.code).where(Area.id.in_(area_ids))).all()) if area_ids else {}
    parents = (dict(session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(parent_ids))).all())
               if parent_ids else {})
    return [unit_dict(u, areas, parents) for u in units]


def unit_detail(session: Session, code: str, scope: Scope = EVERYTHING) -> dict:
    """One unit with its members (phones masked)."""
    unit = get_unit(session, code, scope)
    return {**unit_dicts(session, [unit])[0], "members": members(session, unit)}
