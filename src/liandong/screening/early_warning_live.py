"""Early-warning events for live screens (``live/api.py``, ``/api/v1/live/early-warnings``): each new entry of a
warning's history — a scan that found or re-found it, a decision (watch, dismiss, promote) — with the warning as the
command centre's panel shows it and its centre grid's path for the visibility rule (``early_warning_queries.sees``,
the Python twin of the SQL filter). No personal data and no actor: the panel needs neither."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.screening.early_warning_models import EarlyWarning, EarlyWarningEvent
from liandong.screening.early_warning_queries import sees


def read(session: Session, after: int, limit: int = 1000) -> list[dict]:
    """Warning events with an id above ``after``, oldest first (one query)."""
    rows = session.execute(
        select(EarlyWarningEvent.id, EarlyWarningEvent.warning_id, EarlyWarningEvent.kind, EarlyWarningEvent.at,
               EarlyWarning.detector, EarlyWarning.status, EarlyWarning.matter_codes, EarlyWarning.observed,
               EarlyWarning.expected, EarlyWarning.p_value, EarlyWarning.centre_grid_code, EarlyWarning.area_path)
        .join(EarlyWarning, EarlyWarning.id == EarlyWarningEvent.warning_id)
        .where(EarlyWarningEvent.id > after).order_by(EarlyWarningEvent.id).limit(limit)).all()
    return [{"id": r.id, "warning_id": r.warning_id, "kind": r.kind, "at": r.at.isoformat(), "detector": r.detector,
             "status": r.status, "matter_codes": r.matter_codes, "observed": r.observed, "expected": r.expected,
             "p_value": r.p_value, "centre_grid_code": r.centre_grid_code, "area_path": r.area_path} for r in rows]


def last(session: Session) -> int:
    return int(session.scalar(select(func.max(EarlyWarningEvent.id))) or 0)


def predicate(caller: Identity) -> Callable[[dict], bool]:
    """The early-warning visibility rule over the items of ``read``."""
    return lambda item: sees(caller, item["area_path"])
