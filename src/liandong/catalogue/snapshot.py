"""The catalogue as every case action reads it: a per-process snapshot, rebuilt when it changes.

Each report, transition and answer needs its matter's line and time limits; the catalogue changes a
few times a year. So each process keeps plain frozen copies of all matters and compares the catalogue
revision (``meta``) at most every ``CHECK_SECONDS``; an edit in this process is seen once it commits.
Requests read the snapshot without a lock; one of them rebuilds it while the others keep the old one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import Rebuilt
from liandong.areas.service import bump_revision, get_revision
from liandong.catalogue.models import Matter, TimeLimit
from liandong.db import database_key
from liandong.transaction import after_commit, unless_committed

REVISION_KEY = "catalogue_revision"
CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class Limit:
    urgency: str
    stage: str
    amount: float
    unit: str


@dataclass(frozen=True)
class MatterInfo:
    id: int
    code: str
    name: str
    kind: str
    major_code: str
    major_name: str
    component_code: str | None
    line: str
    default_urgency: str
    active: bool
    filing_criteria: str | None
    closing_criteria: str | None
    limits: tuple[Limit, ...]

    def limit(self, urgency: str, stage: str) -> tuple[float, str] | None:
        """(amount, 'hour' | 'day') for one stage at one urgency; None where the catalogue sets none."""
        for lim in self.limits:
            if lim.urgency == urgency and lim.stage == stage:
                return lim.amount, lim.unit
        return None


@dataclass(frozen=True)
class Catalogue:
    revision: int
    by_code: dict[str, MatterInfo]
    by_id: dict[int, MatterInfo]

    def family(self, major_code: str) -> list[int]:
        """Ids of the matters in one major category (a duplicate's 'same family')."""
        return [m.id for m in self.by_id.values() if m.major_code == major_code]


def build(session: Session) -> Catalogue:
    revision = get_revision(session, REVISION_KEY)
    limits: dict[int, list[Limit]] = {}
    t = TimeLimit.__table__.c
    for row in session.execute(select(t.matter_id, t.urgency, t.stage, t.amount, t.unit)
                               .order_by(t.urgency, t.stage)):
        limits.setdefault(row.matter_id, []).append(Limit(row.urgency, row.stage, row.amount, row.unit))
    fields = [f for f in MatterInfo.__dataclass_fields__ if f != "limits"]
    matters = [MatterInfo(**row._asdict(), limits=tuple(limits.get(row.id, ())))
               for row in session.execute(select(*(Matter.__table__.c[f] for f in fields)))]
    return Catalogue(revision, {m.code: m for m in matters}, {m.id: m for m in matters})


_holders: dict[str, Rebuilt[Catalogue]] = {}
"""One snapshot per database URL in this process (tests and tools open several databases)."""


def _holder(session: Session) -> Rebuilt[Catalogue]:
    key = database_key(session)
    holder = _holders.get(key)
    if holder is None:  # setdefault: two first callers end up sharing one holder, no lock needed
        holder = _holders.setdefault(key, Rebuilt(build, REVISION_KEY, CHECK_SECONDS))
    return holder


def current(session: Session) -> Catalogue:
    """This process's snapshot for the session's database, checked against the revision now and then.

    Waits for no other request: while one rebuilds it the others keep the old one (areas/index.py ``Rebuilt``);
    only a process's very first build is waited for."""
    return _holder(session).get(session, CHECK_SECONDS)


def changed(session: Session) -> None:
    """The catalogue was edited in this transaction: move the revision on, and check it again at the next
    use and once more when the edit commits (a check made before the commit still saw the old revision)."""
    bump_revision(session, REVISION_KEY)
    holder = _holder(session)
    holder.forget()
    after_commit(session, holder.forget)
    unless_committed(session, holder.forget)  # an edit rolled back must not stay in this process's snapshot
