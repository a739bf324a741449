"""An administrator's grid work: cutting unit grids and grouping them into responsibility grids, each
recorded in the audit log. The geometry is ``gridgen.py``'s; this adds who asked for it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from liandong import audit
from liandong.areas import gridgen
from liandong.areas.scope import EVERYTHING, Scope


def generate(session: Session, code: str, *, target_m2: float, replace: bool = False, scope: Scope = EVERYTHING,
             actor: audit.Actor | None = None, ip: str | None = None) -> dict:
    result = gridgen.generate(session, code, target_m2=target_m2, replace=replace, scope=scope)
    audit.record(session, "grids_generated", actor=actor, target=f"area:{code}",
                 detail={**result, "target_m2": target_m2}, ip=ip)
    return result


def group(session: Session, code: str, *, per_group: int, scope: Scope = EVERYTHING,
          actor: audit.Actor | None = None, ip: str | None = None) -> dict:
    result = gridgen.group_into_responsibility_grids(session, code, per_group=per_group, scope=scope)
    audit.record(session, "responsibility_grids_made", actor=actor, target=f"area:{code}", detail=result, ip=ip)
    return result
