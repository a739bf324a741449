"""CAP tables: the warnings issued from incidents (the documents as published) and the warnings received from
other issuers (as they came, with what the map needs)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base, UTCDateTime, utcnow


class IssuedWarning(Base):
    """One CAP message issued from an incident (Alert, Update or Cancel). The identifier is unique, so two issuers
    racing for one second's sequence number cannot both take it (``issue.py`` takes the next)."""

    __tablename__ = "cap_warnings"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"), index=True)
    identifier: Mapped[str] = mapped_column(String(31), unique=True)
    """GB/T 35965.1-2018: ``ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N``."""
    sender: Mapped[str] = mapped_column(String(120))
    sent: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    sent_text: Mapped[str] = mapped_column(String(25))
    """``sent`` as the document writes it (Beijing time), for the ``references`` of later messages."""
    status: Mapped[str] = mapped_column(String(10))
    """Actual, or Exercise for a drill."""
    msg_type: Mapped[str] = mapped_column(String(8))
    references: Mapped[str | None] = mapped_column(Text)
    headline: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    instruction: Mapped[str | None] = mapped_column(Text)
    expires: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    areas: Mapped[dict] = mapped_column(JSON, default=dict)
    """The area sent, as a GeoJSON FeatureCollection (lon,lat) for the map."""
    document: Mapped[str] = mapped_column(Text)
    """The XML exactly as published (signed when a key is configured): served byte for byte."""
    signed: Mapped[bool] = mapped_column(Boolean, default=False)
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When a later Update or Cancel of the same incident replaced it; None while it is the latest."""
    exercise: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))


class ReceivedWarning(Base):
    """A CAP message received (uploaded or polled), stored once per (sender, identifier, sent): the key CAP gives
    every message and its ``references`` use. Updates and Cancels mark the messages they reference."""

    __tablename__ = "cap_received"
    __table_args__ = (UniqueConstraint("sender", "identifier", "sent"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sender: Mapped[str] = mapped_column(String(255))
    identifier: Mapped[str] = mapped_column(String(255))
    sent: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    sent_text: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(4))
    """CAP 1.1 or 1.2."""
    status: Mapped[str] = mapped_column(String(10))
    msg_type: Mapped[str] = mapped_column(String(8))
    scope: Mapped[str] = mapped_column(String(12))
    references: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), index=True)
    """active (an Alert or Update in force unless expired) | updated | cancelled (by a later message referencing it)
    | notice (a Cancel, Ack or Error itself: nothing to show on the map)."""
    superseded_by: Mapped[int | None] = mapped_column(Integer)
    """The received message that updated or cancelled this one."""
    headline: Mapped[str | None] = mapped_column(String(500))
    event: Mapped[str | None] = mapped_column(String(500))
    sender_name: Mapped[str | None] = mapped_column(String(500))
    severity: Mapped[str | None] = mapped_column(String(10))
    urgency: Mapped[str | None] = mapped_column(String(10))
    certainty: Mapped[str | None] = mapped_column(String(10))
    expires: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    """The latest ``expires`` of its info blocks; None when one has none (in force until updated or cancelled)."""
    infos: Mapped[list] = mapped_column(JSON, default=list)
    """Each ``info`` block summarised (language, categories, event, levels, texts, parameters, times)."""
    areas: Mapped[dict] = mapped_column(JSON, default=dict)
    """Every ``area`` as a GeoJSON FeatureCollection: polygons, circles (a point with ``radius_km``), geocodes."""
    document: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(500), index=True)
    """``upload``, ``cli`` or the URL the document was fetched from."""
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_by: Mapped[int | None] = mapped_column(Integer)
