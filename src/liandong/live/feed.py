"""The live feed: every new event of a log (case events; incident events, ``emergency/live_events.py``), fanned
out to the screens that may see it.

Each process runs one poller (only while someone listens) that reads the case events committed since
its last look, every ``interval`` seconds, and hands them to its subscribers' queues. Reading the
event log instead of publishing from the write path means every process sees the writes of every
other process — on SQLite as on PostgreSQL — and a reconnecting screen resumes from the last event id
it saw (SSE ``Last-Event-ID``) without gaps.

On PostgreSQL, ids are taken at insert but become visible at commit, so a smaller id can appear after
a larger one. The poller therefore re-reads a window of ``REORDER_WINDOW`` ids below the highest seen
and remembers which of them it has already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from liandong.cases.models import Case, CaseEvent, CaseUnit
from liandong.cases.visibility import Viewer
from liandong.catalogue import snapshot

REORDER_WINDOW = 500
QUEUE_LIMIT = 1000
log = logging.getLogger("liandong.live")


@dataclass(eq=False)
class Subscriber:
    sees: Callable[[dict], bool]
    """The screen's visibility rule, as a predicate over the feed's items."""
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False


def case_predicate(viewer: Viewer) -> Callable[[dict], bool]:
    """The case visibility rule over the items of ``read_events``."""
    return lambda item: viewer.sees(item["area_path"], item["unit_ids"])


def read_events(session: Session, after: int, limit: int = 1000) -> list[dict]:
    """Case events with an id above ``after``, oldest first, as the screens need them (no personal data)."""
    rows = session.execute(
        select(CaseEvent.id, CaseEvent.case_id, CaseEvent.action, CaseEvent.from_state, CaseEvent.to_state,
               CaseEvent.at, Case.number, Case.state, Case.matter_id, Case.channel, Case.lon, Case.lat,
               Case.area_path, Case.stage_deadline)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(CaseEvent.id > after).order_by(CaseEvent.id).limit(limit)
    ).all()
    matters = snapshot.current(session).by_id if rows else {}
    assigned: dict[int, list[int]] = {}
    for case_id, unit_id in session.execute(select(CaseUnit.case_id, CaseUnit.unit_id).where(
            CaseUnit.case_id.in_({r.case_id for r in rows}), CaseUnit.status != "withdrawn")) if rows else ():
        assigned.setdefault(case_id, []).append(unit_id)
    out = []
    for r in rows:
        m = matters.get(r.matter_id)
        out.append({
            "id": r.id, "case_id": r.case_id, "number": r.number, "action": r.action, "from": r.from_state,
            "to": r.to_state, "at": r.at.isoformat(), "state": r.state, "channel": r.channel,
            "matter_code": m.code if m else None, "matter_name": m.name if m else None,
            "major_name": m.major_name if m else None, "lon": r.lon, "lat": r.lat, "area_path": r.area_path,
            "stage_deadline": r.stage_deadline.isoformat() if r.stage_deadline else None,
            "unit_ids": assigned.get(r.case_id, []),
        })
    return out


def last_event_id(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.max(CaseEvent.id))) or 0)


class Feed:
    """One per app (process) and log: a poller that runs while at least one subscriber listens. ``read`` gives the
    log's items with an id above a given one (oldest first), ``last`` the highest id now."""

    def __init__(self, sessions: sessionmaker[Session], interval: float = 0.25,
                 read: Callable[..., list[dict]] | None = None, last: Callable[[Session], int] | None = None):
        self.sessions = sessions
        self.interval = interval
        self.read = read or read_events
        self.last = last or last_event_id
        self.subscribers: set[Subscriber] = set()
        self._task: asyncio.Task | None = None
        self._high = 0
        self._floor = 0  # events up to here existed before the poller started: never sent
        self._sent: set[int] = set()

    async def subscribe(self, sees: Callable[[dict], bool]) -> Subscriber:
        sub = Subscriber(sees)
        if self._task is None or self._task.done():
            self._high = self._floor = await asyncio.to_thread(self._last_id)
            self._sent = set()
            self._task = asyncio.create_task(self._run())
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _last_id(self) -> int:
        with self.sessions() as session:
            return self.last(session)

    def _poll(self) -> list[dict]:
        low = max(self._floor, self._high - REORDER_WINDOW)
        with self.sessions() as session:
            items = self.read(session, low, limit=REORDER_WINDOW + 1000)
        fresh = [i for i in items if i["id"] not in self._sent]
        if items:
            self._high = max(self._high, items[-1]["id"])
        self._sent = {i for i in self._sent if i > self._high - REORDER_WINDOW}
        self._sent.update(i["id"] for i in fresh)
        return fresh

    async def _run(self) -> None:
        while self.subscribers:
            try:
                items = await asyncio.to_thread(self._poll)
            except Exception:  # a failed poll (database restart…) is logged; the next one retries
                log.exception("live feed poll failed")
                items = []
            for item in items:
                for sub in list(self.subscribers):
                    if sub.sees(item):
                        try:
                            sub.queue.put_nowait(item)
                        except asyncio.QueueFull:  # a stalled screen: tell it to reload, drop the rest
                            sub.overflowed = True
            await asyncio.sleep(self.interval)
