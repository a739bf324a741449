"""The case event log: the one place that appends an event (numbered 1, 2, 3… per case), and with it the
stage facts projected from it (``cases/facts.py``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.cases.models import Case, CaseEvent
from liandong.db import insert_values


def append(session: Session, case_id: int, action: str, from_state: str | None, to_state: str, payload: dict,
           now: dt.datetime, *, actor: str = "system", actor_id: int | None = None,
           unit_id: int | None = None, seq: int | None = None) -> CaseEvent:
    """Add the next event; its (case, seq) pair is unique, so two writers can never both take a number.

    ``seq`` may be given when the caller knows it (1 for a case just created). The event returned is a
    plain copy of the row written, not tracked by the session."""
    seq = seq or (session.connection().execute(_LAST_SEQ, {"case_id": case_id}).scalar() or 0) + 1
    values = {"case_id": case_id, "seq": seq, "at": now, "actor_id": actor_id, "actor": actor, "unit_id": unit_id,
              "action": action, "from_state": from_state, "to_state": to_state, "payload": payload}
    # a Core INSERT: events are never changed, so the unit of work has nothing to track on them
    values["id"] = session.connection().execute(_INSERT, values).scalar_one()
    _facts().on_events(session, [values])  # the stage facts move with the log, in the same transaction
    return CaseEvent(**values)


# built once (they run on every action)
_INSERT = CaseEvent.__table__.insert().returning(CaseEvent.__table__.c.id)
_LAST_SEQ = select(func.max(CaseEvent.seq)).where(CaseEvent.case_id == bindparam("case_id"))


def record(session: Session, case: Case, caller: Identity, action: str, from_state: str | None, to_state: str,
           payload: dict, now: dt.datetime, seq: int | None = None) -> CaseEvent:
    """Append an event done by ``caller`` (a user, or a system channel)."""
    return append(session, case.id, action, from_state, to_state, payload, now, actor=caller.name,
                  actor_id=caller.user_id, unit_id=caller.unit_id, seq=seq)


def append_many(session: Session, events: list[dict]) -> None:
    """Append many events at once (history imports, batch intake): each dict has the columns of ``append``
    (case_id, seq, at, action, from_state, to_state, payload, and optionally actor, actor_id, unit_id). A case's
    events must come in the order of their numbers: on PostgreSQL the number guard refuses one at or below the
    case's last (migration 0031)."""
    if not events:
        return
    rows = [{"actor": "system", "actor_id": None, "unit_id": None, **e} for e in events]
    insert_values(session, CaseEvent.__table__, _EVENT_COLUMNS, ([r[c] for c in _EVENT_COLUMNS] for r in rows))
    _facts().on_events(session, sorted(rows, key=lambda r: (r["case_id"], r["seq"])))


_EVENT_COLUMNS = ("case_id", "seq", "at", "actor", "actor_id", "unit_id", "action", "from_state", "to_state", "payload")


def _facts():
    """The projection (imported late: it reads the clock rules, which append events themselves)."""
    from liandong.cases import facts

    return facts
