"""Many reports and actions in one transaction (the simulated year, bulk tools): the batch form of the case service.

It runs the very path a single report or action takes — ``intake.report`` and ``actions.act`` with their table, roles,
guards, payload models, effects and clocks — and only takes the round trips once per batch: the cases it will act on,
their units' parts, their waiting extension requests and their last event numbers are read together up front (``load``),
and so are the Idempotency-Keys of the reports it will open (``look_up_keys``) and the ids of their cases (``reserve``,
or ``use_ids`` where the caller owns ids); a unit a dispatch names is found among every unit's id, read once a batch
(``units_there``); whether the caller sees a case is decided by the visibility rule's predicate (``visibility.Viewer``),
the twin of the SQL filter a single action uses. At ``flush`` the cases reported within the batch go in as the batch
left them, in one statement (``settle``: not one INSERT a report and an UPDATE for each change the same day), then the
changed rows, then the events and the stage facts projected from them, together; until then nothing is written — nothing
flushed by the way (the session's autoflush would write every changed row before each read), and a rule that would read
the cases table after a change asks the batch instead (a merge's master and followers: ``Standing.visible``,
``Standing.move_followers``) — so that on SQLite, with ids given (``use_ids``), a batch takes the write lock only at its
flush, and batches of several processes compute side by side.

Use it as ``with Batch(session) as batch:`` — the block flushes at its end — inside the caller's transaction; a
refusal leaves the batch half-applied in the session: roll the transaction back. A case's version moves on once a
batch (at its flush), not once an action — a case reported within the batch goes in at version 1 — so a ``version``
in a payload is checked against the case as the batch found it; a concurrent writer is caught at the flush —
``StaleDataError`` when it moved the case's version (the case rows are written first), an IntegrityError on the event
number when it only added an event (a photo, a channel's follow-up): roll back and run the batch again. On SQLite a
batch that reserves ids takes the write lock with the first (``db.reserve_ids``), so other writers wait for its
commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Self

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from liandong.auth.identity import Identity
from liandong.cases import log
from liandong.cases.actions import Standing
from liandong.cases.models import Case, CaseEvent, CaseUnit, Extension
from liandong.cases.visibility import Viewer, viewer
from liandong.db import insert_values, reserve_ids, stored, update_values
from liandong.db import reserve_block as reserve_id_block
from liandong.errors import NotFound
from liandong.units.models import Unit

_CASES = Case.__table__
_CASE_COLUMNS = tuple(c.key for c in _CASES.columns)
_PARTS = CaseUnit.__table__
_PART_COLUMNS = tuple(c.key for c in _PARTS.columns)
HOLDING_IDS = "cases.batch_holds_ids"
"""``session.info``: a batch holds case ids for rows it has not written yet. A case reported one at a time in the
same transaction meanwhile is refused (``intake.report``): on SQLite its row would take one of those ids."""


def no_ids_held(session: Session) -> None:
    """Refuse a case row written outside a batch of this transaction while the batch holds ids for rows it has not
    written yet (``intake.report`` one at a time, ``history.replay``): on SQLite it would take one of them."""
    if session.info.get(HOLDING_IDS):
        raise RuntimeError("a batch of this transaction holds case ids for rows it has not written: report through "
                           "the batch, or after its block")


def reserve_block(session: Session, n: int) -> int:
    """The first of ``n`` case ids in a row that a job will give its batches (``Batch.use_ids``) over many
    transactions (``db.reserve_block``: the sequence moved past them on PostgreSQL)."""
    return reserve_id_block(session, _CASES, n)


CHUNK = 900
"""Ids per IN list (SQLite's default limit on bound parameters is 999)."""


class Batching:
    """What every batch form shares (this one, the screening registers'): nothing flushed by the way — the session's
    autoflush would write every changed row before each read — until the batch's own ``flush`` at the block's end;
    and each caller's sight resolved once (``visibility.Viewer``)."""

    def __init__(self, session: Session, viewers: dict[Identity, Viewer] | None = None):
        """``viewers`` may be shared by the batches of one job: who sees what does not change within it."""
        self.session = session
        self._viewers = viewers if viewers is not None else {}
        self._no_autoflush = None

    def __enter__(self) -> Self:
        self._no_autoflush = self.session.no_autoflush
        self._no_autoflush.__enter__()
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None:
                self.flush()  # still without autoflush: a read within the flush must not write half of it
        finally:
            self._no_autoflush.__exit__(kind, value, traceback)
            self.close()

    def flush(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        """Let go of what the batch holds in the session beyond its block (nothing here)."""

    def _viewer(self, caller: Identity) -> Viewer:
        if caller not in self._viewers:
            self._viewers[caller] = viewer(self.session, caller)
        return self._viewers[caller]


class Batch(Batching):
    """The batch's cases and what the rules read of them, and the events waiting for ``flush``."""

    def __init__(self, session: Session, viewers: dict[Identity, Viewer] | None = None):
        super().__init__(session, viewers)
        self.cases: dict[int, Case] = {}
        self.parts: dict[int, list[CaseUnit]] = {}
        self.pending: dict[int, Extension | None] = {}
        self.seq: dict[int, int] = {}
        self.events: list[dict] = []
        self.keys: dict[str, int | None] = {}
        """Idempotency-Keys looked up together (``look_up_keys``; ``intake.report`` asks here first) and those of
        the batch's own reports (``opened``): key → the case it made, None for a key not used yet."""
        self.new: list[Case] = []
        """Cases reported within the batch whose rows are not written yet (``settle``)."""
        self.new_parts: list[CaseUnit] = []
        """Units dispatched within the batch whose rows are not written yet (``settle``)."""
        self.followers: dict[int, set[int]] = {}
        """Case → the cases merged into it within the batch, or moved to it (``move_followers``)."""
        self._ids: list[int] = []
        self._given = False
        self._last_id = 0
        self._units: set[int] | None = None

    def load(self, case_ids: Iterable[int]) -> None:
        """Read the cases the batch will act on, with what the rules ask of them, in a few statements."""
        ids = sorted({i for i in case_ids if i not in self.cases})
        s = self.session
        for k in range(0, len(ids), CHUNK):
            chunk = ids[k:k + CHUNK]
            for case in s.scalars(select(Case).where(Case.id.in_(chunk))):
                self.cases[case.id], self.parts[case.id], self.pending[case.id] = case, [], None
            for part in s.scalars(select(CaseUnit).where(CaseUnit.case_id.in_(chunk))
                                  .order_by(CaseUnit.case_id, CaseUnit.role.desc(), CaseUnit.unit_id)):
                self.parts[part.case_id].append(part)
            for ext in s.scalars(select(Extension).where(Extension.case_id.in_(chunk),
                                                         Extension.status == "pending")):
                self.pending[ext.case_id] = ext
            self.seq.update(s.execute(select(CaseEvent.case_id, func.max(CaseEvent.seq))
                                      .where(CaseEvent.case_id.in_(chunk)).group_by(CaseEvent.case_id)).all())

    def look_up_keys(self, keys: Iterable[str]) -> None:
        """Find the cases some Idempotency-Keys (as ``intake.creator_key`` makes them) made already, in a few
        statements: a resumed run finds its reports, a new one learns that none is there."""
        todo = sorted(set(keys) - set(self.keys))
        for k in range(0, len(todo), CHUNK):
            chunk = todo[k:k + CHUNK]
            found = dict(self.session.execute(select(Case.idempotency_key, Case.id)
                                              .where(Case.idempotency_key.in_(chunk))).all())
            self.keys.update((key, found.get(key)) for key in chunk)

    def case_of_key(self, key: str) -> tuple[bool, int | None]:
        """(whether ``key`` was looked up or used in the batch, the case it made or None)."""
        return key in self.keys, self.keys.get(key)

    def reserve(self, n: int) -> None:
        """Ids for the ``n`` reports the batch is about to open, taken in one statement."""
        if n > len(self._ids):
            self._take_ids(n - len(self._ids))

    def use_ids(self, ids: Iterable[int]) -> None:
        """Ids the caller owns for the reports the batch is about to open, in the order it opens them (the simulated
        year gives each report the id its ordinal in the year's plan gives it, whichever process plays it). A row
        written by anyone else with one of them meanwhile fails the flush (an IntegrityError)."""
        self._ids += ids
        self._given = True
        if self._ids:
            self._last_id = max(self._last_id, max(self._ids))
            self.session.info[HOLDING_IDS] = True

    def new_case_id(self) -> int:
        """The id of a case reported within the batch (one more statement when none is reserved)."""
        if not self._ids:
            if self._given:  # another would be one of the caller's own, or a write before the flush
                raise RuntimeError("the batch opened more reports than the ids it was given")
            self._take_ids(1)
        return self._ids.pop(0)

    def _take_ids(self, n: int) -> None:
        self._ids += reserve_ids(self.session, _CASES, n, after=self._last_id)
        self._last_id = self._ids[-1]
        self.session.info[HOLDING_IDS] = True

    def close(self) -> None:
        """The ids not used are given up (on SQLite the next batch takes them again); the transaction may report
        cases one at a time again."""
        self._ids.clear()
        self.session.info.pop(HOLDING_IDS, None)

    def opened(self, case: Case) -> None:
        """A case reported within the batch (not in the session yet: its row is written by ``settle``)."""
        self.cases[case.id], self.parts[case.id], self.pending[case.id] = case, [], None
        self.seq.setdefault(case.id, 0)
        self.new.append(case)
        if case.idempotency_key is not None:
            self.keys[case.idempotency_key] = case.id

    def settle(self) -> None:
        """Write the rows of the cases reported and the units dispatched within the batch as they are now — one
        INSERT of many rows instead of one a report and an UPDATE for each change the same day — and hand them to the
        session as stored, before anything refers to them (their extensions and events at ``flush``)."""
        for table, columns, rows in ((_CASES, _CASE_COLUMNS, self.new), (_PARTS, _PART_COLUMNS, self.new_parts)):
            # the objects' attributes are named as their columns' keys (intake and dispatch build them from them)
            insert_values(self.session, table, columns, ([o.__dict__[k] for k in columns] for o in rows))
            for obj in rows:
                stored(self.session, obj)
        self.new, self.new_parts = [], []

    def add_part(self, part: CaseUnit) -> None:
        """A unit dispatched within the batch (its row is written by ``settle``)."""
        self.new_parts.append(part)

    def standing(self, case_id: int, caller: Identity) -> Standing:
        """The caller's part of a case the batch holds (``queries.get``'s 404 where the caller may not see it)."""
        if case_id not in self.cases:
            self.load([case_id])
        case = self.cases.get(case_id)
        if case is None or not self._viewer(caller).sees(
                case.area_path, [p.unit_id for p in self.parts[case_id] if p.status != "withdrawn"]):
            raise NotFound(f"case {case_id} not found", code="case_not_found", params={"case_id": case_id})
        st = _Held(self.session, case, caller, self)
        st.parts = self.parts[case_id]
        return st

    def move_followers(self, from_id: int, to_id: int) -> int:
        """``Standing.move_followers`` on what the batch holds, writing nothing before its flush: the followers are
        those the table gives (as committed: the batch has written nothing yet) and those merged into the case or
        moved to it within the batch, each taken if it still names the case as its master; they are read into the
        batch and changed there."""
        in_table = self.session.scalars(select(Case.id).where(Case.master_id == from_id)).all()
        self.load(in_table)
        moving = [c for i in sorted({*in_table, *self.followers.pop(from_id, ())})
                  if (c := self.cases.get(i)) is not None and c.master_id == from_id]
        for c in moving:
            c.master_id = to_id
        self.followers.setdefault(to_id, set()).update(c.id for c in moving)
        return len(moving)

    def units_there(self, ids: list[int]) -> set[int]:
        """Which of ``ids`` are units: every unit's id read once a batch (a district has a few thousand; a day's
        dispatches name hundreds of them). A unit made within the batch is not among them."""
        if self._units is None:
            self._units = set(self.session.scalars(select(Unit.id)))
        return {i for i in ids if i in self._units}

    def record(self, case: Case, caller: Identity, action: str, from_state: str | None, to_state: str,
               payload: dict, now: dt.datetime) -> None:
        """The event of an action, numbered after the case's last and appended at ``flush``."""
        seq = self.seq[case.id] = self.seq.get(case.id, 0) + 1
        if action == "merge":
            self.followers.setdefault(case.master_id, set()).add(case.id)
        self.events.append({"case_id": case.id, "seq": seq, "at": now, "actor": caller.name,
                            "actor_id": caller.user_id, "unit_id": caller.unit_id, "action": action,
                            "from_state": from_state, "to_state": to_state, "payload": payload})

    def _write_changed(self) -> None:
        """The changed rows of the batch's cases and their units, as the unit of work would write them — the changed
        columns, and a case's version moved on where it is still the one read — but one statement for each set of
        changed columns instead of one a row (SQLAlchemy runs a versioned UPDATE a row at a time, and its bookkeeping
        of each row costs more than the row). The objects written stay in the session, marked as stored
        (``set_committed_value``), so that the session's flush does not write them again and a later change is
        written by the next flush. A case row whose version moved on meanwhile: the unit of work's
        ``StaleDataError``."""
        _write_rows(self.session, self.cases.values(), _CASES, ("id",), "version")
        _write_rows(self.session, (p for parts in self.parts.values() for p in parts), _PARTS, ("case_id", "unit_id"))

    def flush(self) -> int:
        """Write the new cases' rows (``settle``), the changed cases' rows (``_write_changed``), the session's other
        changed rows, then append the batch's events (the stage facts with them); returns how many events went
        in."""
        events, self.events = self.events, []
        self.settle()
        self._write_changed()  # the cases first: a version moved on meanwhile is told as such (StaleDataError)
        self.session.flush()
        log.append_many(self.session, events)
        return len(events)


def _write_rows(session: Session, objects: Iterable[object], table, keys: tuple[str, ...],
                version: str | None = None) -> None:
    """``Batch._write_changed`` for one table: its persistent ``objects``' changed columns, grouped by which, each row
    found by its ``keys`` (and its ``version``, which moves on by one)."""
    versioned = (version,) if version else ()
    changeable = tuple(c.key for c in table.columns if c.key not in keys and c.key != version)
    groups: dict[tuple[str, ...], list[tuple]] = {}
    written: list[tuple[object, tuple[str, ...]]] = []
    for obj in objects:
        state = inspect(obj)
        if not state.persistent:
            continue
        unmodified = state.unmodified
        changed = tuple(k for k in changeable if k not in unmodified)
        if changed:
            values = obj.__dict__
            now = tuple(values[k] for k in versioned)
            groups.setdefault(changed, []).append((*(values[k] for k in changed), *(v + 1 for v in now),
                                                   *(values[k] for k in keys), *now))
            written.append((obj, changed))
    for changed, rows in groups.items():
        matched = update_values(session, table, (*changed, *versioned), (*keys, *versioned), rows)
        if matched != len(rows):
            raise StaleDataError(f"UPDATE of {table.name} expected to match {len(rows)} rows, matched {matched}: "
                                 "a row was changed meanwhile")
    for obj, changed in written:
        values = obj.__dict__
        for k in changed:
            set_committed_value(obj, k, values[k])
        for k in versioned:
            set_committed_value(obj, k, values[k] + 1)


class _Held(Standing):
    """A standing whose waiting extension request is the batch's: what an action does to it, the next action on
    the case within the batch sees."""

    def __init__(self, session: Session, case: Case, caller: Identity, batch: Batch):
        super().__init__(session, case, caller)
        self._batch = batch

    @property
    def pending(self) -> Extension | None:
        return self._batch.pending.get(self.case.id)

    @pending.setter
    def pending(self, value: Extension | None) -> None:
        self._batch.pending[self.case.id] = value

    def units_there(self, ids: list[int]) -> set[int]:
        return self._batch.units_there(ids)

    def add_part(self, part: CaseUnit) -> None:
        self._batch.add_part(part)

    def visible(self, case_id: int) -> Case:
        return self._batch.standing(case_id, self.caller).case

    def move_followers(self, to: Case) -> int:
        return self._batch.move_followers(self.case.id, to.id)
