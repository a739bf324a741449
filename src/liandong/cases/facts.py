"""Stage facts: the event log projected to one row per stage a case went through.

``fold`` is the one rule: given a case's open stage (or none) and its next event, it says which stage
ends, which begins and what changes on the running one. The live path (``on_events``, called by the event
appender in the same transaction) and ``rebuild`` (the whole log replayed) both run it, so a rebuild gives
the rows the live path wrote. Facts come from the events alone — their actions, times and payloads (the
deadline an event set is in its payload) — never from the case row, which only holds the present.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import uuid
from collections.abc import Iterable, Iterator

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.orm import Session

from liandong.areas.models import Meta
from liandong.cases import sla
from liandong.cases.calendar import WorkCalendar, cached, calendar_for
from liandong.cases.models import CaseEvent, StageFact
from liandong.config import get_settings
from liandong.db import insert_values, is_postgres

STAGE_OF_STATE = {**sla.STAGE_OF_STATE, "reported": "accept", "verifying": "verify", "accepted": "file",
                  "disposed": "await_check", "checked": "close"}
"""The stage a case is in while in each state (a suspended case stays in the stage it was in). The deadline's check
stage (disposed → checking → checked) is two facts here: ``await_check`` until the receptionist asks for the check
(核查派发, judged by assessment), then ``check`` (核查); the second inherits the deadline the first carried."""
JUDGED = frozenset(sla.STAGE_OF_STATE.values())
"""Stages judged on time against their deadline (``await_check`` carries the check deadline for the ``check`` fact
and is not judged by it)."""
OUTCOMES = {"return": "returned", "check_failed": "reworked", "reject": "rejected", "void": "voided",
            "merge": "merged"}
"""How a stage ended, by the action that ended it; any other action: done."""
LEAD_STAGES = frozenset({"sign", "dispose"})
RULES = "4"
"""The version of ``fold``: change it whenever what ``fold`` writes changes, and ``liandong migrate`` rebuilds
the stored facts with the new rules (``cases/upkeep.py``; ``rules`` adds the settings the facts depend on). 4: working
time counted on the calendar's day sums, which may round the last digit otherwise."""
GENERATION = "stage_facts_generation"
"""``meta``: a new value at each rebuild (and when archived months are dropped or restored, ``ops/partitions.py``),
so that what was derived from the old rows (the assessment's month figures) knows it is outdated."""


def rules() -> str:
    """What stored facts are computed by: ``fold``'s version, the working hours and time zone (working time
    used), and how extension requests of old paused the clocks."""
    s = get_settings()
    return f"{RULES}; hours {s.work_hours}; {s.timezone}; pause_on_extension {s.pause_on_extension}"


@dataclasses.dataclass
class Fact:
    case_id: int
    seq: int
    stage: str
    started_at: dt.datetime
    lead_unit_id: int | None = None
    deadline: dt.datetime | None = None
    actor_id: int | None = None
    ended_at: dt.datetime | None = None
    paused_minutes: float = 0.0
    paused_since: dt.datetime | None = None
    pauses: str = ""
    used_minutes: float | None = None
    on_time: bool | None = None
    ended_by: str | None = None
    outcome: str | None = None
    extensions: int = 0
    escalations: int = 0
    late_before: bool = False
    id: int | None = None


@dataclasses.dataclass(frozen=True)
class Event:
    """What ``fold`` reads of an event."""

    case_id: int
    action: str
    from_state: str | None
    to_state: str
    at: dt.datetime
    payload: dict
    actor_id: int | None = None


def _when(value) -> dt.datetime | None:
    if not value:
        return None
    t = dt.datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _pause(fact: Fact, why: str, at: dt.datetime) -> None:
    reasons = set(filter(None, fact.pauses.split(",")))
    if not reasons:
        fact.paused_since = at
    fact.pauses = ",".join(sorted(reasons | {why}))


def _unpause(fact: Fact, why: str, at: dt.datetime, cal: WorkCalendar) -> None:
    reasons = set(filter(None, fact.pauses.split(","))) - {why}
    if fact.paused_since is not None and not reasons:
        fact.paused_minutes += cal.between(fact.paused_since, at)
        fact.paused_since = None
    fact.pauses = ",".join(sorted(reasons))


def _end(fact: Fact, e: Event, cal: WorkCalendar) -> None:
    judged_at = e.at  # a stage ending while its clock stands still is judged where the clock stopped
    if fact.paused_since is not None:
        judged_at = fact.paused_since
        fact.paused_minutes += cal.between(fact.paused_since, e.at)
    fact.paused_since, fact.pauses = None, ""
    fact.ended_at, fact.actor_id, fact.ended_by = e.at, e.actor_id, e.action
    fact.outcome = OUTCOMES.get(e.action, "done")
    fact.used_minutes = max(0.0, cal.between(fact.started_at, e.at) - fact.paused_minutes)
    fact.on_time = None if fact.deadline is None or fact.stage not in JUDGED else not sla.late(fact.deadline,
                                                                                                judged_at)


ACCEPT_SEQ = 1
"""A case's first stage, begun by its report: the acceptance (受理), which a count can look up by key."""


def fold(fact: Fact | None, e: Event, cal: WorkCalendar) -> tuple[Fact | None, Fact | None]:
    """Apply event ``e`` to the case's running stage ``fact``: returns (the running stage after it, a new stage
    begun by it or None). The fact passed in is changed in place (it may end)."""
    if e.action == "report":
        return None, Fact(e.case_id, ACCEPT_SEQ, "accept", e.at)
    if fact is None or fact.ended_at is not None:
        return fact, None
    if e.at < fact.started_at:
        # an event stamped before the stage began (two hosts' clocks apart) counts as at its start: a case's stages
        # then follow one another in time, which lets a period's counts skip the months that cannot hold them
        e = dataclasses.replace(e, at=fact.started_at)
    p = e.payload or {}
    if e.action == "suspend":
        _pause(fact, "suspend", e.at)
        return fact, None
    if e.action == "resume":
        _unpause(fact, "suspend", e.at, cal)
        fact.deadline = _when(p.get("stage_deadline")) or fact.deadline
        return fact, None
    if e.action == "request_extension":
        # events written before the flag existed paused the clock when the setting said so and a deadline ran
        if p.get("paused", "stage_deadline" in p and get_settings().pause_on_extension):
            _pause(fact, "extension", e.at)
        return fact, None
    if e.action in ("approve_extension", "reject_extension"):
        _unpause(fact, "extension", e.at, cal)
        fact.extensions += e.action == "approve_extension"
        fact.deadline = _when(p.get("stage_deadline")) or fact.deadline
        return fact, None
    if e.action == "escalate":
        fact.escalations += 1
        return fact, None
    if e.from_state == e.to_state and e.action not in sla.RESTARTS:
        # urging, photos, an assisting unit's own part, a rating: the stage runs on
        return fact, None
    stage = STAGE_OF_STATE.get(e.to_state)
    if stage == fact.stage and e.action not in sla.RESTARTS:
        return fact, None  # the same stage goes on (disposed → checking)
    _end(fact, e, cal)
    if stage is None:  # closed, rejected, voided, merged
        return fact, None
    lead = p.get("lead_unit_id", fact.lead_unit_id)
    deadline = _when(p.get("stage_deadline")) if stage in sla.STAGE_OF_STATE.values() or stage == "await_check" \
        else None
    if fact.stage == "await_check" and stage == "check" and deadline is None:
        deadline = fact.deadline  # the same deadline's stage goes on
    return fact, Fact(e.case_id, fact.seq + 1, stage, e.at, lead_unit_id=lead, deadline=deadline,
                      late_before=fact.late_before or fact.on_time is False)


# --- where the rows are kept -------------------------------------------------------------------------

_COLUMNS = tuple(f.name for f in dataclasses.fields(Fact) if f.name != "id")


class _LazyCalendar:
    """Loads the calendar on first use, so events that count no working time cost no query."""

    def __init__(self, session: Session):
        self.session, self._cal = session, None

    def between(self, start: dt.datetime, end: dt.datetime) -> float:
        if self._cal is None:
            self._cal = cached(self.session)  # the process's copy, which a calendar edit forgets
        return self._cal.between(start, end)


STAGE_EVENTS = frozenset({"report", "suspend", "resume", "request_extension", "approve_extension",
                          "reject_extension", "escalate"})
"""Events that change a stage without changing the case's state (``fold`` reads them); any other event
that leaves the state as it was (urging, photos, a unit's own part…) leaves the facts as they were."""


def on_events(session: Session, events: Iterable[dict]) -> None:
    """Project freshly appended events (column dicts as the appender wrote them) in the same transaction."""
    events = [e for e in events if e["action"] in STAGE_EVENTS | sla.RESTARTS or e.get("from_state") != e["to_state"]]
    if not events:
        return
    conn = session.connection()
    ids = {e["case_id"] for e in events if e["action"] != "report"}
    running: dict[int, Fact] = {}
    if ids:
        for row in conn.execute(_RUNNING, {"ids": list(ids)}).mappings():
            running[row["case_id"]] = Fact(**{k: row[k] for k in (*_COLUMNS, "id")})
    cal = _LazyCalendar(session)
    changed: dict[int, Fact] = {}
    new: list[Fact] = []
    for e in events:
        fact = running.get(e["case_id"])
        fact, begun = fold(fact, Event(e["case_id"], e["action"], e.get("from_state"), e["to_state"], e["at"],
                                       e.get("payload") or {}, e.get("actor_id")), cal)
        if fact is not None and fact.id is not None:
            changed[fact.id] = fact
        if begun is not None:
            new.append(begun)
            running[e["case_id"]] = begun
    if changed:
        conn.execute(_UPDATE, [{"fact_id": f.id, **{k: getattr(f, k) for k in _COLUMNS}} for f in changed.values()])
    _insert(session, [f for f in new if f.id is None])


# built once: the event path runs them on every stage change, and a statement built anew costs more in Python
# than the database takes to run it
_TABLE = StageFact.__table__
_RUNNING = select(_TABLE).where(_TABLE.c.case_id.in_(bindparam("ids", expanding=True)), _TABLE.c.ended_at.is_(None))
_UPDATE = _TABLE.update().where(_TABLE.c.id == bindparam("fact_id"), _TABLE.c.ended_at.is_(None))
"""Only running stages are changed (read by ``_RUNNING``); saying so lets PostgreSQL look in the one partition that
holds them (migration 0031) instead of every month's."""


def _insert(session: Session, facts: list[Fact]) -> None:
    """New stages; one that ended within the same batch goes in already ended."""
    insert_values(session, _TABLE, _COLUMNS, ([getattr(f, k) for k in _COLUMNS] for f in facts))


def derive(events: Iterable[Event], cal: WorkCalendar) -> list[Fact]:
    """Every stage fact of the events given (one case's or many, each case's in order)."""
    out: list[Fact] = []
    running: dict[int, Fact | None] = {}
    for e in events:
        fact, begun = fold(running.get(e.case_id), e, cal)
        if begun is not None:
            out.append(begun)
            running[e.case_id] = begun
    return out


_BEGUN = select(CaseEvent.case_id).where(CaseEvent.seq == 1)
"""The cases whose log still begins with their report. One whose first months were archived and dropped
(``ops/partitions.py``) cannot be derived again from what is left: rebuild and check leave its stored facts alone."""


def _derived(session: Session, cal: WorkCalendar, batch: int) -> Iterator[Fact]:
    """Every stage fact the event log gives, case by case, each case's in order (of the cases in ``_BEGUN``)."""
    stmt = (select(CaseEvent.seq, CaseEvent.case_id, CaseEvent.action, CaseEvent.from_state, CaseEvent.to_state,
                   CaseEvent.at, CaseEvent.payload, CaseEvent.actor_id)
            .order_by(CaseEvent.case_id, CaseEvent.seq).execution_options(yield_per=batch))
    for _, rows in itertools.groupby(session.execute(stmt), key=lambda r: r[1]):  # case by case, in order
        first = next(rows)
        if first[0] == 1:
            yield from derive((Event(*r[1:]) for r in itertools.chain([first], rows)), cal)


def rebuild(session: Session, batch: int = 20_000) -> int:
    """Replace every stage fact with those derived from the event log (those of a case whose log no longer
    begins with its report stay: ``_BEGUN``); returns how many rows it wrote. The caller commits (the figures
    see the old rows or the new ones, never a mix).

    Writers of events wait until the caller commits (on PostgreSQL a SHARE lock on the log; SQLite has one
    writer anyway): an event appended meanwhile would move a fact this rebuild is about to replace."""
    if is_postgres(session):
        session.execute(text("LOCK TABLE case_events IN SHARE MODE"))
    cal = calendar_for(session)
    session.execute(delete(StageFact).where(StageFact.case_id.in_(_BEGUN)))
    written, pending = 0, []
    for fact in _derived(session, cal, batch):
        pending.append(fact)
        if len(pending) >= batch:
            _insert(session, pending)
            written, pending = written + len(pending), []
    _insert(session, pending)
    session.merge(Meta(key=GENERATION, value=uuid.uuid4().hex))  # whatever was derived from the old rows is outdated
    session.flush()
    return written + len(pending)


def check(session: Session, batch: int = 20_000, show: int = 10) -> dict:
    """Compare the stored facts with those the log gives (of the cases in ``_BEGUN``), writing nothing and
    locking nothing: both are read in (case, seq) order and matched by that key. Returns the counts and the
    first ``show`` keys that differ (a row missing on either side, or any column unequal)."""
    if session.in_transaction():
        raise ValueError("facts.check reads in a snapshot of its own: give it a session that has not begun")
    if is_postgres(session):  # both reads see one snapshot, whatever commits meanwhile
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:  # pysqlite begins no transaction for reads: begin one, and WAL keeps its snapshot for both
        session.connection().exec_driver_sql("BEGIN")
    cal = calendar_for(session)
    stored_rows = session.execute(select(*(_TABLE.c[k] for k in _COLUMNS)).where(_TABLE.c.case_id.in_(_BEGUN))
                                  .order_by(_TABLE.c.case_id, _TABLE.c.seq).execution_options(yield_per=batch))
    stored = (tuple(r) for r in stored_rows)
    derived = (tuple(getattr(f, k) for k in _COLUMNS) for f in _derived(session, cal, batch))
    counts = {"stored": 0, "derived": 0, "differing": 0}
    first: list[list[int]] = []
    a, b = next(stored, None), next(derived, None)
    while a is not None or b is not None:
        key_a, key_b = (a[:2] if a else None), (b[:2] if b else None)
        if b is None or (a is not None and key_a < key_b):
            counts["stored"] += 1
            bad, a = key_a, next(stored, None)
        elif a is None or key_b < key_a:
            counts["derived"] += 1
            bad, b = key_b, next(derived, None)
        else:
            counts["stored"], counts["derived"] = counts["stored"] + 1, counts["derived"] + 1
            bad = key_a if a != b else None
            a, b = next(stored, None), next(derived, None)
        if bad is not None:
            counts["differing"] += 1
            if len(first) < show:
                first.append(list(bad))
    return {**counts, "first_differing": first}


def of_case(session: Session, case_id: int) -> list[StageFact]:
    return list(session.scalars(select(StageFact).where(StageFact.case_id == case_id).order_by(StageFact.seq)))
