"""Catalogue rules: loading the standard tables, reading and editing matters (edits are audited)."""

from __future__ import annotations

import csv
from importlib import resources

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong import audit
from liandong.catalogue import snapshot
from liandong.catalogue.defaults import criteria_for, limits_for, line_for
from liandong.catalogue.models import STAGES, TIME_UNITS, URGENCIES, Matter, TimeLimit
from liandong.errors import Conflict, Invalid, NotFound
from liandong.units.lines import LINES

MAJOR_SUFFIX = "类"


def _rows(name: str) -> list[dict]:
    text = resources.files("liandong.catalogue").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def crosswalk() -> dict[str, dict]:
    """The GB/T 30428.2-2013 crosswalk table, by matter code: legacy code, legacy name where seen, basis."""
    return {r["matter_code"]: r for r in _rows("gbt30428_2_crosswalk.csv")}


def matter_for_legacy(session: Session, legacy: str) -> Matter:
    """The matter an old GB/T 30428.2 event code (e.g. ``01-10``) now files under, for legacy data."""
    m = session.scalar(select(Matter).where(Matter.legacy_code == legacy.strip()))
    if m is None:
        raise NotFound(f"no matter is known for the GB/T 30428.2 code {legacy!r}")
    return m


def load_standard(session: Session) -> dict:
    """Load GB/T 47678.5-2026 (153 component matters + 97 event matters) with local defaults; idempotent."""
    if session.scalar(select(func.count()).select_from(Matter)):
        return {"loaded": False, "matters": session.scalar(select(func.count()).select_from(Matter))}
    matters = []
    for r in _rows("gbt47678_5_2026_components.csv"):
        major_name = r["major_name"] + MAJOR_SUFFIX
        matters.append(_matter(f"{r['code']}", f"{r['name']}异常", "component", r["major_code"], major_name,
                               component_code=r["code"]))
    legacy = crosswalk()
    for r in _rows("gbt47678_5_2026_event_matters.csv"):
        matters.append(_matter(r["code"], r["name"], "event", r["major_code"], r["major_name"],
                               legacy=legacy[r["code"]]["legacy_code"] if r["code"] in legacy else None))
    session.add_all(matters)
    session.flush()
    snapshot.changed(session)
    return {"loaded": True, "matters": len(matters)}


def _matter(code: str, name: str, kind: str, major_code: str, major_name: str, *, component_code: str | None = None,
            legacy: str | None = None) -> Matter:
    urgency, limits = limits_for(name)
    filing, closing = criteria_for(kind, name)
    m = Matter(code=code, name=name, kind=kind, major_code=major_code, major_name=major_name,
               component_code=component_code, legacy_code=legacy, line=line_for(major_code, name),
               default_urgency=urgency, local=False, active=True, filing_criteria=filing, closing_criteria=closing)
    m.limits = [TimeLimit(urgency=u, stage=s, amount=a, unit=unit)
                for u, stages in limits.items() for s, (a, unit) in stages.items()]
    return m


def get(session: Session, code: str) -> Matter:
    m = session.scalar(select(Matter).where(Matter.code == code))
    if m is None:
        raise NotFound(f"matter {code!r} not found")
    return m


def search(session: Session, *, q: str | None = None, major: str | None = None, line: str | None = None,
           limit: int = 100, offset: int = 0) -> tuple[list[Matter], int]:
    stmt = select(Matter).where(Matter.active.is_(True))
    if q:
        stmt = stmt.where(Matter.name.icontains(q, autoescape=True) | Matter.code.istartswith(q, autoescape=True))
    if major:
        stmt = stmt.where(Matter.major_code == major)
    if line:
        stmt = stmt.where(Matter.line == line)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    return list(session.scalars(stmt.order_by(Matter.code).limit(limit).offset(offset))), int(total or 0)


def update(session: Session, code: str, changes: dict, *, actor: audit.Actor | None = None,
           ip: str | None = None) -> Matter:
    """Edit a matter's line, default urgency, criteria, active flag or time limits (audited)."""
    m = get(session, code)
    before = matter_dict(m)
    for key in ("name", "line", "default_urgency", "active", "limits"):
        if key in changes and changes[key] is None:
            raise Invalid(f"'{key}' cannot be empty")
    if "line" in changes:
        if changes["line"] not in LINES:
            raise Invalid(f"unknown department line {changes['line']!r}")
        m.line = changes["line"]
    if "default_urgency" in changes:
        if changes["default_urgency"] not in URGENCIES:
            raise Invalid(f"urgency must be one of {', '.join(URGENCIES)}")
        m.default_urgency = changes["default_urgency"]
    for key in ("filing_criteria", "closing_criteria", "active", "name"):
        if key in changes:
            setattr(m, key, changes[key])
    if "limits" in changes:
        for lim in changes["limits"]:
            if lim["urgency"] not in URGENCIES or lim["stage"] not in STAGES or lim["unit"] not in TIME_UNITS:
                raise Invalid(f"a limit needs urgency in {URGENCIES}, stage in {STAGES}, unit in {TIME_UNITS}")
            if not 0 < lim["amount"] <= 365:
                raise Invalid("a limit's amount must be above 0 and at most 365")
            existing = next((x for x in m.limits if x.urgency == lim["urgency"] and x.stage == lim["stage"]), None)
            if existing is None:
                m.limits.append(TimeLimit(**lim))
            else:
                existing.amount, existing.unit = lim["amount"], lim["unit"]
    session.flush()
    snapshot.changed(session)
    audit.record(session, "matter_changed", actor=actor, target=f"matter:{code}",
                 detail={"before": before, "after": matter_dict(m)}, ip=ip)
    return m


def create_local(session: Session, *, code: str, name: str, major_code: str, major_name: str, line: str,
                 actor: audit.Actor | None = None, ip: str | None = None) -> Matter:
    """A local extension matter (地方扩展事项), with the generic default limits."""
    if session.scalar(select(Matter.id).where(Matter.code == code)) is not None:
        raise Conflict(f"matter {code!r} already exists", code="matter_exists", params={"code": code})
    if line not in LINES:
        raise Invalid(f"unknown department line {line!r}")
    m = _matter(code, name, "local", major_code, major_name)
    m.local, m.line = True, line
    session.add(m)
    session.flush()
    snapshot.changed(session)
    audit.record(session, "matter_created", actor=actor, target=f"matter:{code}", detail=matter_dict(m), ip=ip)
    return m


def matter_dict(m: Matter) -> dict:
    return {
        "code": m.code, "name": m.name, "kind": m.kind, "major_code": m.major_code, "major_name": m.major_name,
        "component_code": m.component_code, "legacy_code": m.legacy_code, "line": m.line,
        "default_urgency": m.default_urgency, "filing_criteria": m.filing_criteria,
        "closing_criteria": m.closing_criteria, "local": m.local, "active": m.active,
        "limits": [{"urgency": x.urgency, "stage": x.stage, "amount": x.amount, "unit": x.unit} for x in m.limits],
    }
