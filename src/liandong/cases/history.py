"""Foreign history (another city's 311 export, an older system's cases): each record replayed as the events
the transition table allows, at the record's own times.

A record is a case as it was reported and the steps it went through afterwards (accept, file, dispatch, …
close), each with its time. Every step must be one the table allows from the state the step before left,
with the payload the table's action needs, and none may come before the step it follows: a record that
breaks any of these is refused with the reason. No roles are checked: the foreign system's staff acted,
not ours. The events go in through the one event appender (its batch form); the case rows, one statement
per batch, show where their history ended (state, closed_at, satisfaction, rework count, lead unit).

Imported cases get no clocks of ours: no stage deadline and no case limit (``case_limit_minutes``), so the
deadline sweep, which only looks at clocks started here, never escalates history. The record's own target
date may be kept as the case deadline, for comparison.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.cases import actions, log, payloads
from liandong.cases.batch import no_ids_held
from liandong.cases.intake import NEW_CASE
from liandong.cases.models import Case
from liandong.errors import Invalid


@dataclass(frozen=True)
class Step:
    action: str
    at: dt.datetime
    payload: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    case: dict
    """The case row as it was reported: number (the record's own, unique here too), matter_id, urgency,
    channel, description, lon, lat, grid_id, area_path, out_of_area, created_at (the report's time), and
    whatever else is known (case_deadline, reporter, idempotency_key…)."""
    steps: list[Step]
    """What happened after the report, oldest first."""


def check(path: list[str], start: str = "reported") -> str:
    """The state a path of actions leads to from ``start``; Invalid naming the first one the table refuses.
    (A mapping's path is checked once with this; each record is checked again with its times.)"""
    state = start
    for name in path:
        action = actions.TABLE.get(name)
        if action is None or state not in action.moves:
            allowed = ", ".join(n for n, a in actions.TABLE.items() if state in a.moves)
            raise Invalid(f"{name!r} is not allowed in state {state!r} (allowed: {allowed})",
                          code="not_allowed_in_state", params={"action": name, "state": state})
        state = action.moves[state] or state  # None: an event on the running stage, the state stays
    return state


def walk(record: Record) -> list[str]:
    """The states the record passes through, the report's first; Invalid when the table, the action's payload
    model, the clock or "rated once" refuses a step."""
    return _walk(record)[0]


def _walk(record: Record) -> tuple[list[str], list[dict]]:
    """``walk``, and each step's payload as its event keeps it: the fields the action's model knows as the live
    path records them (validated, blanks dropped), and the foreign system's facts beyond them (the queue a case
    was routed to…) as they are."""
    passed, last, rated = ["reported"], record.case["created_at"], record.case.get("satisfaction") is not None
    kept = []
    for step in record.steps:
        state = check([step.action], passed[-1])
        if step.at < last:
            raise Invalid(f"{step.action!r} at {step.at.isoformat()} comes before the step it follows "
                          f"({last.isoformat()})", code="history_out_of_order")
        fields = actions.TABLE[step.action].payload.model_fields
        body = payloads.parse(step.action, actions.TABLE[step.action].payload,
                              {k: v for k, v in step.payload.items() if k in fields})
        if step.action == "rate":
            if rated:
                raise Invalid("the case was rated already: a rating is given once", code="already_rated")
            rated = True
        kept.append({**{k: v for k, v in step.payload.items() if k not in fields}, **body.record()})
        passed.append(state)
        last = step.at
    return passed, kept


def replay(session: Session, records: list[Record], source: str) -> list[int]:
    """Write the records' cases and events (actor ``import:<source>``); returns the new case ids in order.
    A record the table refuses refuses the batch (Invalid naming its case number); the caller commits."""
    if not records:
        return []
    walked, kept = [], []
    for r in records:
        try:
            passed, recorded = _walk(r)
        except Invalid as exc:
            raise Invalid(f"case {r.case.get('number')}: {exc.message}", code=exc.code, params=exc.params) from None
        walked.append(passed)
        kept.append(recorded)
    rows = [_row(r, passed) for r, passed in zip(records, walked, strict=True)]
    no_ids_held(session)
    conn = session.connection()
    conn.execute(_CASES.insert(), rows)  # one executemany; RETURNING in order would go row by row on SQLite
    found = dict(conn.execute(select(_CASES.c.number, _CASES.c.id).where(_CASES.c.number.in_(
        [row["number"] for row in rows]))).all())
    ids = [found[row["number"]] for row in rows]
    actor = f"import:{source}"
    events = []
    for case_id, r, passed, recorded, row in zip(ids, records, walked, kept, rows, strict=True):
        events.append({"case_id": case_id, "seq": 1, "at": row["created_at"], "actor": actor, "action": "report",
                       "from_state": None, "to_state": "reported",
                       "payload": {"channel": row["channel"], "imported": True}})
        events += [{"case_id": case_id, "seq": seq, "at": step.at, "actor": actor, "action": step.action,
                    "from_state": before, "to_state": after, "payload": {**payload, "imported": True}}
                   for seq, ((step, before, after), payload) in enumerate(zip(_pairs(r, passed), recorded,
                                                                              strict=True), start=2)]
    log.append_many(session, events)
    return ids


def _pairs(r: Record, passed: list[str]):
    """Each step with the state it left and the state it reached."""
    return zip(r.steps, passed, passed[1:], strict=False)  # passed has one state more than there are steps


def _row(r: Record, passed: list[str]) -> dict:
    """The case row as its history leaves it (the projection ``actions.act`` keeps for live cases)."""
    row = {**NEW_CASE, **r.case, "version": 1, "state": passed[-1],
           "updated_at": r.steps[-1].at if r.steps else r.case["created_at"]}
    for step, before, after in _pairs(r, passed):
        if after == "closed" and before != "closed":
            row["closed_at"] = step.at
        if step.action == "rate":
            row["satisfaction"] = step.payload["satisfaction"]
        elif step.action == "check_failed":
            row["rework_count"] += 1
        elif step.action in ("dispatch", "redispatch") and isinstance(step.payload.get("lead_unit_id"), int):
            row["lead_unit_id"] = step.payload["lead_unit_id"]
    if row["state"] != "closed":
        row["closed_at"] = None
    for clock in ("stage", "stage_deadline", "stage_limit_minutes", "case_limit_minutes"):
        row[clock] = None  # no clocks of ours on history: the sweep never raises it
    return row


_CASES = Case.__table__
