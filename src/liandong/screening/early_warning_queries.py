"""Who sees which early warning, and reading them: a warning is visible when its centre grid lies in the caller's
jurisdiction (the case rule's decision, ``cases/visibility.rule``; a department's unit, which sees only cases
assigned to it, sees no warning), among the roles that deal with warnings. One rule, as a SQL filter and as a
predicate."""

from __future__ import annotations

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.cases.visibility import narrowed, rule
from liandong.errors import Invalid, NotFound
from liandong.screening.early_warning_models import EarlyWarning
from liandong.screening.early_warning_states import READ_ROLES, STATUSES


def visible(stmt, caller: Identity):
    """``stmt`` (a select over early warnings) narrowed to those ``caller`` may see."""
    if READ_ROLES.isdisjoint(caller.roles):
        return stmt.where(false())
    return narrowed(stmt, caller, lambda path: EarlyWarning.area_path.startswith(path, autoescape=True))


def sees(caller: Identity, area_path: str) -> bool:
    """The same decision as ``visible`` for a warning centred under ``area_path``."""
    r = rule(caller)
    if READ_ROLES.isdisjoint(caller.roles):
        return False
    return r.everything or (r.path is not None and area_path.startswith(r.path))


def get(session: Session, warning_id: int, caller: Identity) -> EarlyWarning:
    warning = session.scalar(visible(select(EarlyWarning).where(EarlyWarning.id == warning_id), caller))
    if warning is None:
        raise NotFound(f"early warning {warning_id} not found", code="early_warning_not_found",
                       params={"early_warning_id": warning_id})
    return warning


def page(session: Session, caller: Identity, *, status: str | None = None, limit: int = 50,
         offset: int = 0) -> tuple[list[EarlyWarning], int]:
    """Newest first; ``status`` one of STATUSES, or ``open`` for new and watching."""
    stmt = visible(select(EarlyWarning), caller)
    if status == "open":
        stmt = stmt.where(EarlyWarning.status.in_(("new", "watching")))
    elif status is not None:
        if status not in STATUSES:
            raise Invalid(f"unknown status {status!r}: one of {', '.join(STATUSES)} or open", code="bad_status",
                          params={"status": status})
        stmt = stmt.where(EarlyWarning.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(EarlyWarning.detected_at.desc(), EarlyWarning.id.desc())
                           .limit(limit).offset(offset)).all()
    return list(rows), int(total or 0)
