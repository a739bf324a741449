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
flush), not once an action, so a ``version`` in a payload is checked against the row as the batch found it — unless
an effect flushed the session on its way (``raise_incident`` opens an incident, ``to_case`` a case: they write at
once, as they do alone, and the rows changed so far with them). Every row acted on is claimed, so a concurrent
action on it is caught at the flush as ``StaleDataError``; a concurrent writer that only appends to a row's log
(``link_incident``) fails it as an IntegrityError on the event number. Either way: roll back and run the batch
again.
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
from liandong.screening.register_table import Register
from liandong.screening.registers import Spec, entry


class Batch(Batching):
    """The batch's rows, their last event numbers, the day's numbers given, and the events waiting for ``flush``."""

    def __init__(self, session: Session, viewers: dict[Identity, Viewer] | None = None):
        super().__init__(session, viewers)
        self.rows: dict[tuple[type, int], Any] = {}
        self.seq: dict[tuple[type, int], int] = {}
        self.events: dict[Spec, list[dict]] = {}
        self.numbers: dict[str, int] = {}
        """A register number's stem (``YH-20120105-``) → the last number given under it."""

    def load(self, spec: Spec, ids: Iterable[int]) -> None:
        """Read the rows the batch will act on, and their last event numbers, in two statements a chunk."""
        todo = sorted({i for i in ids if (spec.model, i) not in self.rows})
        parent = spec.events.__table__.c[spec.parent]
        seq = spec.events.__table__.c.seq
        for k in range(0, len(todo), CHUNK):
            chunk = todo[k:k + CHUNK]
            for row in self.session.scalars(select(spec.model).where(spec.model.id.in_(chunk))):
                self.rows[(spec.model, row.id)] = row
            self.seq.update(((spec.model, i), n) for i, n in self.session.execute(
                select(parent, func.max(seq)).where(parent.in_(chunk)).group_by(parent)))

    def row(self, register: Register, row_id: int, caller: Identity) -> Any:
        """A row of ``register`` the caller may see (``Register.get``'s 404 otherwise)."""
        spec = register.spec
        if (spec.model, row_id) not in self.rows:
            self.load(spec, [row_id])
        row = self.rows.get((spec.model, row_id))
        if row is None or not register.sees(self._viewer(caller), row):
            raise spec.missing(row_id)
        return row

    def add(self, spec: Spec, row: Any) -> None:
        """A new row of the register: inserted now (its id is needed by its events and its audit entry)."""
        insert_stored(self.session, row)
        self.rows[(spec.model, row.id)] = row
        self.seq[(spec.model, row.id)] = 0

    def record(self, spec: Spec, row: Any, caller: Identity, action: str, from_state: str | None, payload: dict,
               now: dt.datetime) -> None:
        """The event of an action on ``row``, numbered after its last and appended at ``flush``."""
        key = (spec.model, row.id)
        seq = self.seq[key] = self.seq.get(key, 0) + 1
        self.events.setdefault(spec, []).append(entry(spec, row, caller, action, from_state, payload, now, seq))

    def flush(self) -> int:
        """Write the changed rows (version-checked), then the events; returns how many events went in."""
        events, self.events = self.events, {}
        self.session.flush()
        conn = self.session.connection()
        for spec, rows in events.items():
            conn.execute(insert(spec.events.__table__), rows)
        return sum(len(rows) for rows in events.values())
