"""Many reports and actions on the screening registers (hazards, disputes) in one transaction — the simulated year's
day: the batch form of ``hazards.open_hazard``, ``disputes.open_dispute`` and ``register_table.Register.act``.

It runs their very path — the action table, roles, guards, payload models, effects and events — and only takes the
round trips once per batch: the rows it will act on and their last event numbers are read together (``load``);
whether the caller sees a row is decided by the visibility rule's predicate (``visibility.Viewer``, the twin of the
SQL filter a single action reads through); a day's count of numbers is read once (``numbers``); a new row goes in
with one INSERT (its id at once, nothing else flushed); the changed rows, then the events, are written by ``flush``.
Until then nothing is flushed by the way.

Use it as ``with Batch(session) as batch:`` — the block flushes at its end — inside the caller's transaction; a
refusal leaves the batch half-applied in the session: roll the transaction back (the batch does not follow
savepoints: one rolled back within it would leave its events waiting). A row's version moves on once a batch (at its
flush), not once an action, so a ``version`` in a payload is checked against the row as the batch found it. A
concurrent action on a row (every action moves the row's version) is caught at the flush as ``StaleDataError``: roll
back and run the batch again. An effect that opens a case or an incident writes those at once, as it does alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.cases.batch import CHUNK, Batching
from liandong.cases.visibility import Viewer
from liandong.db import insert_stored
from liandong.screening.hazards import Log, entry
from liandong.screening.register_table import Register


class Batch(Batching):
    """The batch's rows, their last event numbers, the day's numbers given, and the events waiting for ``flush``."""

    def __init__(self, session: Session, viewers: dict[Identity, Viewer] | None = None):
        super().__init__(session, viewers)
        self.rows: dict[tuple[type, int], Any] = {}
        self.seq: dict[tuple[type, int], int] = {}
        self.events: dict[Log, list[dict]] = {}
        self.numbers: dict[str, int] = {}
        """A register number's stem (``YH-20120105-``) → the last number given under it."""

    def load(self, log: Log, ids: Iterable[int]) -> None:
        """Read the rows the batch will act on, and their last event numbers, in two statements a chunk."""
        todo = sorted({i for i in ids if (log.model, i) not in self.rows})
        parent = log.events.__table__.c[log.parent]
        seq = log.events.__table__.c.seq
        for k in range(0, len(todo), CHUNK):
            chunk = todo[k:k + CHUNK]
            for row in self.session.scalars(select(log.model).where(log.model.id.in_(chunk))):
                self.rows[(log.model, row.id)] = row
            self.seq.update(((log.model, i), n) for i, n in self.session.execute(
                select(parent, func.max(seq)).where(parent.in_(chunk)).group_by(parent)))

    def row(self, register: Register, row_id: int, caller: Identity) -> Any:
        """A row of ``register`` the caller may see (``Register.get``'s 404 otherwise)."""
        log = register.log
        if (log.model, row_id) not in self.rows:
            self.load(log, [row_id])
        row = self.rows.get((log.model, row_id))
        if row is None or not register.sees(self._viewer(caller), row):
            raise log.missing(row_id)
        return row

    def add(self, log: Log, row: Any) -> None:
        """A new row of the register: inserted now (its id is needed by its events and its audit entry)."""
        insert_stored(self.session, row)
        self.rows[(log.model, row.id)] = row
        self.seq[(log.model, row.id)] = 0

    def record(self, log: Log, row: Any, caller: Identity, action: str, from_state: str | None, payload: dict,
               now: dt.datetime) -> None:
        """The event of an action on ``row``, numbered after its last and appended at ``flush``."""
        key = (log.model, row.id)
        seq = self.seq[key] = self.seq.get(key, 0) + 1
        self.events.setdefault(log, []).append(entry(log, row, caller, action, from_state, payload, now, seq))

    def flush(self) -> int:
        """Write the changed rows (version-checked), then the events; returns how many events went in."""
        events, self.events = self.events, {}
        self.session.flush()
        conn = self.session.connection()
        for log, rows in events.items():
            conn.execute(insert(log.events.__table__), rows)
        return sum(len(rows) for rows in events.values())
