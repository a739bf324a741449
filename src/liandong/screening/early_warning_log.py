"""An early warning's history (``early_warning_events``, append-only): appending, and the figures read from it —
how many scans found a warning, its latest decision, the whole history as the API answers it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.screening.early_warning_models import SCAN_KINDS, EarlyWarning, EarlyWarningEvent

DECISION_KINDS = ("watch", "dismiss", "promote")


def append(session: Session, warning: EarlyWarning, kind: str, at: dt.datetime, *, actor_id: int | None = None,
           actor: str = "scan", note: str | None = None, payload: dict | None = None) -> EarlyWarningEvent:
    """The next entry of ``warning``'s history. The caller holds the warning's row (a store runs under the
    serialising lock with the rows read FOR UPDATE; a decision has flushed its versioned UPDATE), so the numbering
    does not race; (warning, seq) is unique besides."""
    seq = (session.scalar(select(func.max(EarlyWarningEvent.seq))
                          .where(EarlyWarningEvent.warning_id == warning.id)) or 0) + 1
    event = EarlyWarningEvent(warning_id=warning.id, seq=seq, at=at, kind=kind, actor_id=actor_id, actor=actor,
                              note=note, payload=payload or {})
    session.add(event)
    session.flush()
    return event


def scanned_at(session: Session, warning_id: int, at: dt.datetime) -> bool:
    """Whether a scan at ``at`` is already in the warning's history (a rerun, or two processes at once)."""
    return session.scalar(select(func.count()).where(
        EarlyWarningEvent.warning_id == warning_id, EarlyWarningEvent.kind.in_(SCAN_KINDS),
        EarlyWarningEvent.at == at)) > 0


def scans(session: Session, ids: list[int]) -> dict[int, int]:
    """Warning id → how many scans found it (its found and rescanned events)."""
    if not ids:
        return {}
    return dict(session.execute(select(EarlyWarningEvent.warning_id, func.count()).where(
        EarlyWarningEvent.warning_id.in_(ids), EarlyWarningEvent.kind.in_(SCAN_KINDS))
        .group_by(EarlyWarningEvent.warning_id)).all())


def decisions(session: Session, ids: list[int]) -> dict[int, EarlyWarningEvent]:
    """Warning id → its latest decision event."""
    if not ids:
        return {}
    latest = {}
    for e in session.scalars(select(EarlyWarningEvent).where(
            EarlyWarningEvent.warning_id.in_(ids), EarlyWarningEvent.kind.in_(DECISION_KINDS))
            .order_by(EarlyWarningEvent.warning_id, EarlyWarningEvent.seq)):
        latest[e.warning_id] = e
    return latest


def history(session: Session, warning_id: int) -> list[dict]:
    return [{"seq": e.seq, "at": e.at, "kind": e.kind, "actor_id": e.actor_id, "actor": e.actor, "note": e.note,
             "payload": e.payload}
            for e in session.scalars(select(EarlyWarningEvent).where(EarlyWarningEvent.warning_id == warning_id)
                                     .order_by(EarlyWarningEvent.seq))]
