"""Video-analytics webhooks and their sources (thin router over intake/video/service.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.auth import audit
from liandong.auth.deps import Principal, client_ip, get_session, require
from liandong.cases import attachments
from liandong.errors import NotFound, TooLarge
from liandong.intake.video import service
from liandong.intake.video.models import VideoSource

router = APIRouter(prefix="/api/v1/video", tags=["video"])
MAX_BODY = 15 * 1024 * 1024


@router.post("/events/{source}", status_code=201, summary="A signed video-analytics event (HMAC-SHA256)")
async def event(request: Request, source: str = Path(max_length=64),
                x_liandong_timestamp: str | None = Header(default=None, max_length=20),
                x_liandong_signature: str | None = Header(default=None, max_length=100),
                session: Session = Depends(get_session)):
    body = await request.body()
    if len(body) > MAX_BODY:
        raise TooLarge("the event is larger than 15 MB")
    now = request.app.state.clock()
    src = service.verify(session, source, x_liandong_timestamp, x_liandong_signature, body, now)
    settings = request.app.state.settings
    case, path = service.receive(session, request.app.state.grid_index.get(session), src, body,
                                 upload_dir=settings.uploads(), max_bytes=settings.max_upload_bytes, now=now,
                                 calendar=request.app.state.calendar.get(session), settings=settings)
    attachments.commit_or_drop_file(session, path)
    return {"case_id": case.id, "number": case.number}


class SourceIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    matters: dict[str, str] | None = None


@router.post("/sources", status_code=201, summary="Register a video source; its secret is shown once (admin)")
def create_source(body: SourceIn, request: Request, principal: Principal = Depends(require("admin")),
                  session: Session = Depends(get_session)):
    row, secret = service.create_source(session, body.name, body.matters)
    audit.record(session, "video_source_created", actor=principal.user, target=f"video_source:{row.name}",
                 ip=client_ip(request))
    session.commit()
    return {"name": row.name, "secret": secret, "matters": {**service.DEFAULT_MATTERS, **row.matters}}


@router.get("/sources", summary="Video sources (admin)")
def list_sources(principal: Principal = Depends(require("admin")), session: Session = Depends(get_session)):
    return [{"name": s.name, "matters": {**service.DEFAULT_MATTERS, **s.matters}, "revoked": s.revoked_at is not None}
            for s in session.scalars(select(VideoSource).order_by(VideoSource.name))]


@router.delete("/sources/{name}", status_code=204, summary="Revoke a video source (admin)")
def revoke_source(request: Request, name: str = Path(max_length=64), principal: Principal = Depends(require("admin")),
                  session: Session = Depends(get_session)):
    row = session.scalar(select(VideoSource).where(VideoSource.name == name))
    if row is None:
        raise NotFound(f"no video source {name!r}")
    row.revoked_at = row.revoked_at or request.app.state.clock()
    audit.record(session, "video_source_revoked", actor=principal.user, target=f"video_source:{name}",
                 ip=client_ip(request))
    session.commit()
