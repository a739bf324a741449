"""Many reports and actions in one transaction (the simulated year, bulk tools): the batch form of the case service.

It runs the very path a single report or action takes — ``intake.report`` and ``actions.act`` with their table,
roles, guards, payload models, effects and clocks — and only takes the round trips once per batch: the cases it will
act on, their units' parts, their waiting extension requests and their last event numbers are read together up
front (``load``), and so are the Idempotency-Keys of the reports it will open (``look_up_keys``) and the ids of
their cases (``reserve``); a unit a dispatch names is found among every unit's id, read once a batch
(``units_there``); whether the caller sees a case is decided by the visibility rule's predicate
(``visibility.Viewer``), the twin of the SQL filter a single action uses. At ``flush`` the cases reported within the
batch go in as the batch left them, in one statement (``settle``: not one INSERT a report and an UPDATE for each
change the same day), then the changed rows, then the events and the stage facts projected from them, together;
until then nothing is flushed by the way (the session's autoflush would write every changed row before each read).

Use it as ``with Batch(session) as batch:`` — the block flushes at its end — inside the caller's transaction; a
refusal leaves the batch half-applied in the session: roll the transaction back. A case's version moves on once a
batch (at its flush), not once an action — a case reported within the batch goes in at version 1 — so a ``version``
in a payload is checked against the case as the batch found it; a concurrent writer is caught at the flush —
``StaleDataError`` when it moved the case's version (the case rows are written first), an IntegrityError on the event
number when it only added an event (a photo, a channel's follow-up): roll back and run the batch again. On SQLite the
batch takes the write lock with its first new case's id (``db.reserve_ids``), so other writers wait for its commit.

A rule of the case service that reads the cases table by SQL while a batch runs calls ``Standing.settle`` first
(the merge does): the rows of the cases reported within the batch are not in the table before.
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
from liandong.errors import NotFound
from liandong.units.models import Unit

_CASES = Case.__table__
_CASE_COLUMNS = tuple(c.key for c in _CASES.columns)
_CHANGEABLE = tuple(k for k in _CASE_COLUMNS if k not in ("id", "version"))
HOLDING_IDS = "cases.batch_holds_ids"
"""``session.info``: a batch holds case ids for rows it has not written yet. A case reported one at a time in the
same transaction meanwhile is refused (``intake.report``): on SQLite its row would take one of those ids."""
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
        self._ids: list[int] = []
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

    def new_case_id(self) -> int:
        """The id of a case reported within the batch (one more statement when none is reserved)."""
        if not self._ids:
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
        """Write the rows of the cases reported within the batch as they are now — one INSERT of many rows instead of
        one a report and an UPDATE for each change the same day — and hand them to the session as stored. Before
        anything refers to them (their units, extensions and events at ``flush``) or reads the cases table
        (a merge finds its master and its followers there)."""
        new, self.new = self.new, []
        # a Case's attributes are named as its columns' keys (intake builds it from them)
        insert_values(self.session, _CASES, _CASE_COLUMNS, ([c.__dict__[k] for k in _CASE_COLUMNS] for c in new))
        for case in new:
            stored(self.session, case)

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
        self.events.append({"case_id": case.id, "seq": seq, "at": now, "actor": caller.name,
                            "actor_id": caller.user_id, "unit_id": caller.unit_id, "action": action,
                            "from_state": from_state, "to_state": to_state, "payload": payload})

    def _write_changed(self) -> None:
        """The changed rows of the batch's cases, as the unit of work would write them — the changed columns and the
        version moved on, where the version is still the one read — but one statement for each set of changed
        columns instead of one a case (SQLAlchemy runs a versioned UPDATE a row at a time); the cases written stay
        in the session, marked as stored with their new version (``set_committed_value``), so that the session's
        flush does not write them again and a later change is written by the next flush. A row whose version moved on
        meanwhile: the unit of work's ``StaleDataError``."""
        groups: dict[tuple[str, ...], list[tuple]] = {}
        written: list[tuple[Case, tuple[str, ...], int]] = []
        for case in self.cases.values():
            state = inspect(case)
            if not state.persistent:
                continue
            unmodified = state.unmodified
            changed = tuple(k for k in _CHANGEABLE if k not in unmodified)
            if changed:
                version = case.version
                groups.setdefault(changed, []).append((*(case.__dict__[k] for k in changed), version + 1, case.id,
                                                       version))
                written.append((case, changed, version + 1))
        for changed, rows in groups.items():
            matched = update_values(self.session, _CASES, (*changed, "version"), ("id", "version"), rows)
            if matched != len(rows):
                raise StaleDataError(f"UPDATE of cases expected to match {len(rows)} rows, matched {matched}: "
                                     "a case was changed meanwhile")
        for case, changed, version in written:
            for k in changed:
                set_committed_value(case, k, case.__dict__[k])
            set_committed_value(case, "version", version)

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

    def settle(self) -> None:
        self._batch.settle()
