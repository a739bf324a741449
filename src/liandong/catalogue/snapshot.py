"""The catalogue as every case action reads it: a per-process snapshot, rebuilt when it changes.

Each report, transition and answer needs its matter's line and time limits; the catalogue changes a
few times a year. So each process keeps plain frozen copies of all matters and compares the catalogue
revision (``meta``) at most every ``check_seconds``; an edit in this process is seen at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.service import bump_revision, get_revision
from liandong.catalogue.models import Matter, TimeLimit

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


_holders: dict[str, tuple[Catalogue | None, float]] = {}
_lock = threading.Lock()


def current(session: Session) -> Catalogue:
    """This process's snapshot for the session's database, checked against the revision now and then."""
    key = str(session.get_bind().url)
    snap, checked = _holders.get(key, (None, 0.0))
    if snap is not None and time.monotonic() - checked < CHECK_SECONDS:
        return snap
    with _lock:
        revision = get_revision(session, REVISION_KEY)
        snap = _holders.get(key, (None, 0.0))[0]
        if snap is None or snap.revision != revision:
            snap = build(session)
        _holders[key] = (snap, time.monotonic())
        return snap


def changed(session: Session) -> None:
    """The catalogue was edited in this transaction: move the revision on and drop this process's copy."""
    bump_revision(session, REVISION_KEY)
    with _lock:
        _holders.pop(str(session.get_bind().url), None)
