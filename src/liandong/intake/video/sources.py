"""Video-analytics sources as administrators manage them: one registered (its secret shown once), the list,
one revoked; each change audited. Signing and the events themselves are ``service.py``'s."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong import audit
from liandong.errors import NotFound
from liandong.intake.video import service
from liandong.intake.video.models import VideoSource


def source_dict(s: VideoSource) -> dict:
    """A source with its event types mapped to matter codes (its own on top of the defaults)."""
    return {"name": s.name, "matters": {**service.DEFAULT_MATTERS, **s.matters}, "revoked": s.revoked_at is not None}


def create(session: Session, name: str, matters: dict | None, *, actor: audit.Actor, ip: str | None = None) -> dict:
    row, secret = service.create_source(session, name, matters)
    audit.record(session, "video_source_created", actor=actor, target=f"video_source:{row.name}", ip=ip)
    return {"name": row.name, "secret": secret, "matters": source_dict(row)["matters"]}


def list_sources(session: Session) -> list[dict]:
    return [source_dict(s) for s in session.scalars(select(VideoSource).order_by(VideoSource.name))]


def revoke(session: Session, name: str, now: dt.datetime, *, actor: audit.Actor, ip: str | None = None) -> None:
    """Its events are refused from now on; revoking it again keeps the first time."""
    row = session.scalar(select(VideoSource).where(VideoSource.name == name))
    if row is None:
        raise NotFound(f"no video source {name!r}")
    row.revoked_at = row.revoked_at or now
    audit.record(session, "video_source_revoked", actor=actor, target=f"video_source:{name}", ip=ip)
