"""``GET /api/v1/live/events``, ``/incidents`` and ``/early-warnings``: the case events, the incident events and the
early-warning events the caller may see, as Server-Sent Events (one stream per log, resumable by
``Last-Event-ID``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from functools import partial

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from liandong.auth import principals
from liandong.auth.deps import stream_identity_now, streaming_identity
from liandong.auth.identity import Identity
from liandong.cases.visibility import viewer
from liandong.db import utcnow
from liandong.emergency import live_events
from liandong.emergency.visibility import watcher
from liandong.live.feed import Feed, case_predicate
from liandong.screening import early_warning_live

router = APIRouter(prefix="/api/v1/live", tags=["live"])
HEARTBEAT_SECONDS = 15.0
CHECK_SECONDS = 1.0
"""How often an idle stream looks whether its caller is still signed in (a number compared: no database unless
users or tokens changed)."""
REPLAY_LIMIT = 500
RECENT_WINDOW = 2000
LAST_ID = Header(default=None, max_length=20)
RECENT = Query(0, ge=0, le=100, description="on a fresh connect, first send this many of the latest events (a "
                                            "screen never starts empty)")
SSE = {"response_class": StreamingResponse, "responses": {200: {"content": {"text/event-stream": {}}}}}


@router.get("/events", summary="Live case events (text/event-stream); resumes after Last-Event-ID", **SSE)
async def events(request: Request, identity: Identity = Depends(streaming_identity),
                 last_event_id: str | None = LAST_ID, recent: int = RECENT) -> StreamingResponse:
    return await _stream(request, request.app.state.live, "case", identity, partial(_case_rule, identity),
                         last_event_id, recent)


@router.get("/incidents", summary="Live incident events (state changes, command log, tasks, warnings) of the "
                                  "incidents the caller sees (text/event-stream)", **SSE)
async def incidents(request: Request, identity: Identity = Depends(streaming_identity),
                    last_event_id: str | None = LAST_ID, recent: int = RECENT) -> StreamingResponse:
    return await _stream(request, request.app.state.live_incidents, "incident", identity,
                         partial(_incident_rule, identity), last_event_id, recent)


@router.get("/early-warnings", summary="Live early-warning events (found, re-found, watched, dismissed, promoted) "
                                       "of the warnings the caller sees (text/event-stream)", **SSE)
async def early_warnings(request: Request, identity: Identity = Depends(streaming_identity),
                         last_event_id: str | None = LAST_ID, recent: int = RECENT) -> StreamingResponse:
    return await _stream(request, request.app.state.live_early_warnings, "early_warning", identity,
                         partial(_early_warning_rule, identity), last_event_id, recent)


def _case_rule(identity: Identity, db) -> Callable[[dict], bool]:
    """The case visibility rule as a predicate over the case feed's items (run in a worker thread)."""
    return case_predicate(viewer(db, identity))


def _incident_rule(identity: Identity, db) -> Callable[[dict], bool]:
    """The incident visibility rule as a predicate over the incident feed's items (run in a worker thread)."""
    return live_events.predicate(watcher(db, identity))


def _early_warning_rule(identity: Identity, db) -> Callable[[dict], bool]:
    """The early-warning visibility rule as a predicate over the feed's items (no database needed)."""
    return early_warning_live.predicate(identity)


async def _stream(request: Request, feed: Feed, kind: str, identity: Identity,
                  predicate: Callable[..., Callable[[dict], bool]], last_event_id: str | None,
                  recent: int) -> StreamingResponse:
    """Subscribe first, then replay what the screen missed (after ``Last-Event-ID``) or the latest ``recent``
    items it may see, then go on live; a heartbeat keeps proxies from closing the connection. When users or
    tokens changed anywhere, the caller is looked up again: signed out, disabled, expired or given other roles,
    the stream ends (the browser reconnects under its rule of now, or is refused)."""
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    seen_generation = principals.generation()

    def load() -> Callable[[dict], bool]:
        with request.app.state.sessionmaker() as session:
            return predicate(session)

    sub = await feed.subscribe(await asyncio.to_thread(load))

    def replay() -> list[dict]:
        with request.app.state.sessionmaker() as session:
            if after is not None:
                return [i for i in feed.read(session, after, limit=REPLAY_LIMIT) if sub.sees(i)]
            start = max(0, feed.last(session) - RECENT_WINDOW)  # the latest events, then keep the visible
            return [i for i in feed.read(session, start, limit=RECENT_WINDOW) if sub.sees(i)][-recent:]

    def frame(item: dict) -> str:
        return f"id: {item['id']}\nevent: {kind}\ndata: {json.dumps(item, ensure_ascii=False)}\n\n"

    async def stream() -> AsyncIterator[str]:
        nonlocal seen_generation
        sent: set[int] = set()
        try:
            yield "retry: 2000\n: connected\n\n"
            if after is not None or recent:  # subscribed first, so nothing falls between replay and live
                for item in await asyncio.to_thread(replay):
                    sent.add(item["id"])
                    yield frame(item)
            quiet = 0.0
            while True:
                if sub.overflowed:
                    yield "event: reload\ndata: {}\n\n"
                    return
                if principals.generation() != seen_generation:
                    seen_generation = principals.generation()
                    if await asyncio.to_thread(stream_identity_now, request) != identity:
                        return
                if identity.token_expires_at is not None and identity.token_expires_at <= utcnow():
                    return  # the token ran out: the browser's reconnect is refused until it signs in again
                try:
                    item = await asyncio.wait_for(sub.queue.get(), CHECK_SECONDS)
                except TimeoutError:
                    quiet += CHECK_SECONDS
                    if quiet >= HEARTBEAT_SECONDS:
                        quiet = 0.0
                        yield ": ping\n\n"
                    continue
                if item["id"] not in sent:
                    yield frame(item)
        finally:
            feed.unsubscribe(sub)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
