"""Video-analytics webhooks and their sources (thin router over intake/video/service.py and sources.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, client_ip, get_session, require
from liandong.errors import TooLarge
from liandong.intake.video import service, sources

router = APIRouter(prefix="/api/v1/video", tags=["video"])
MAX_BODY = 15 * 1024 * 1024


async def _body(request: Request) -> bytes:
    """The event's bytes, read in the loop (an await, no blocking) so that ``event`` can be a plain ``def``
    whose database work runs in FastAPI's threadpool."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise TooLarge("the event is larger than 15 MB")
    return body


@router.post("/events/{source}", status_code=201, summary="A signed video-analytics event (HMAC-SHA256)")
def event(request: Request, source: str = Path(max_length=64),
          x_liandong_timestamp: str | None = Header(default=None, max_length=20),
          x_liandong_signature: str | None = Header(default=None, max_length=100),
          session: Session = Depends(get_session), body: bytes = Depends(_body)):
    now = request.app.state.clock()
    src = service.verify(session, source, x_liandong_timestamp, x_liandong_signature, body, now)
    settings = request.app.state.settings
    case, _ = service.receive(session, request.app.state.grid_index.get(session), src, body,
                              upload_dir=settings.uploads(), max_bytes=settings.max_upload_bytes, now=now,
                              calendar=request.app.state.calendar.get(session), settings=settings)
    return {"case_id": case.id, "number": case.number}


class SourceIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    matters: dict[str, str] | None = None


@router.post("/sources", status_code=201, summary="Register a video source; its secret is shown once (admin)")
def create_source(body: SourceIn, request: Request, principal: Principal = Depends(require("admin")),
                  session: Session = Depends(get_session)):
    return sources.create(session, body.name, body.matters, actor=principal.user, ip=client_ip(request))


@router.get("/sources", summary="Video sources (admin)")
def list_sources(principal: Principal = Depends(require("admin")), session: Session = Depends(get_session)):
    return sources.list_sources(session)


@router.delete("/sources/{name}", status_code=204, summary="Revoke a video source (admin)")
def revoke_source(request: Request, name: str = Path(max_length=64), principal: Principal = Depends(require("admin")),
                  session: Session = Depends(get_session)):
    sources.revoke(session, name, request.app.state.clock(), actor=principal.user, ip=client_ip(request))
