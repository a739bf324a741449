"""``GET /api/v1/live/events``: the case events the caller may see, as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from liandong.auth.deps import streaming_identity
from liandong.auth.identity import Identity
from liandong.cases.visibility import Viewer, viewer
from liandong.live.feed import Feed, read_events
from liandong.live.feed import last_event_id as last_event_id_of

router = APIRouter(prefix="/api/v1/live", tags=["live"])
HEARTBEAT_SECONDS = 15.0
REPLAY_LIMIT = 500
RECENT_WINDOW = 2000


def _frame(item: dict) -> str:
    return f"id: {item['id']}\nevent: case\ndata: {json.dumps(item, ensure_ascii=False)}\n\n"


@router.get("/events", summary="Live case events (text/event-stream); resumes after Last-Event-ID",
            response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def events(request: Request, identity: Identity = Depends(streaming_identity),
                 last_event_id: str | None = Header(default=None, max_length=20),
                 recent: int = Query(0, ge=0, le=100, description="on a fresh connect, first send this many of "
                                                                  "the latest events (a screen never starts empty)"),
                 ) -> StreamingResponse:
    feed: Feed = request.app.state.live
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None

    def load_viewer() -> Viewer:
        with request.app.state.sessionmaker() as session:
            return viewer(session, identity)

    sub = await feed.subscribe(await asyncio.to_thread(load_viewer))

    def replay() -> list[dict]:
        with request.app.state.sessionmaker() as session:
            if after is not None:
                return [i for i in read_events(session, after, limit=REPLAY_LIMIT) if sub.sees(i)]
            start = max(0, last_event_id_of(session) - RECENT_WINDOW)  # the latest events, then keep the visible
            return [i for i in read_events(session, start, limit=RECENT_WINDOW) if sub.sees(i)][-recent:]

    async def stream() -> AsyncIterator[str]:
        sent: set[int] = set()
        try:
            yield "retry: 2000\n: connected\n\n"
            if after is not None or recent:  # subscribed first, so nothing falls between replay and live
                for item in await asyncio.to_thread(replay):
                    sent.add(item["id"])
                    yield _frame(item)
            while True:
                if sub.overflowed:
                    yield "event: reload\ndata: {}\n\n"
                    return
                try:
                    item = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": ping\n\n"
                    continue
                if item["id"] not in sent:
                    yield _frame(item)
        finally:
            feed.unsubscribe(sub)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
