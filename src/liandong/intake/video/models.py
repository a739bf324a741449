"""Registered video-analytics sources, each with the shared secret its webhooks are signed with."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base, UTCDateTime, utcnow


class VideoSource(Base):
    __tablename__ = "video_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    secret: Mapped[str] = mapped_column(String(128))
    """HMAC key; needed in clear to check signatures, so it is shown to admins only when issued."""
    matters: Mapped[dict] = mapped_column(JSON, default=dict)
    """This source's event types → matter codes, over the defaults (service.DEFAULT_MATTERS)."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
