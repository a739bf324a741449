"""Signed video-analytics events → cases, each once.

A source signs every delivery: ``X-Liandong-Timestamp`` (Unix seconds) and ``X-Liandong-Signature:
sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under the source's secret. A signature that
does not match, a timestamp more than ``MAX_SKEW`` seconds away, or an event id already delivered is
refused — so a captured delivery cannot be replayed. The event's type picks the matter; its snapshot
(JPEG/PNG/WebP, base64) becomes the case's "before" photo.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import intake
from liandong.cases.models import Case
from liandong.errors import Conflict, Invalid, NotFound, Unauthorized
from liandong.intake.video.models import VideoSource

MAX_SKEW = 300
DEFAULT_MATTERS = {
    "street_vending": "09006", "unlicensed_vendor": "09001", "exposed_garbage": "06010",
    "garbage_overflow": "06042", "illegal_parking": "09009", "bicycle_parking": "09010",
    "stacked_debris": "06036", "outdoor_advertising": "07003", "shop_front_business": "09005",
    "construction_dust": "08004", "burning": "06020",
}


def create_source(session: Session, name: str, matters: dict | None = None) -> tuple[VideoSource, str]:
    name = (name or "").strip()
    if not 1 <= len(name) <= 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise Invalid("a source name has 1–64 letters, digits, - or _")
    if session.scalar(select(VideoSource.id).where(VideoSource.name == name)) is not None:
        raise Conflict(f"a source named {name!r} exists")
    if matters is not None and not (isinstance(matters, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in matters.items())):
        raise Invalid("matters must map event types to matter codes")
    secret = secrets.token_urlsafe(32)
    row = VideoSource(name=name, secret=secret, matters=matters or {})
    session.add(row)
    session.flush()
    return row, secret


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a source sends (also what its integrators can compute to test)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(session: Session, name: str, timestamp: str | None, signature: str | None, body: bytes,
           now: dt.datetime) -> VideoSource:
    src = session.scalar(select(VideoSource).where(VideoSource.name == name))
    if src is None or src.revoked_at is not None:
        raise NotFound(f"no video source {name!r}")
    if not timestamp or not signature:
        raise Unauthorized("X-Liandong-Timestamp and X-Liandong-Signature are required")
    if not hmac.compare_digest(sign(src.secret, timestamp, body), signature):
        raise Unauthorized("the signature does not match")
    try:
        sent = int(timestamp)
    except ValueError:
        raise Unauthorized("X-Liandong-Timestamp must be Unix seconds") from None
    if abs(now.timestamp() - sent) > MAX_SKEW:
        raise Unauthorized(f"the timestamp is more than {MAX_SKEW} s away: a delayed or replayed delivery")
    return src


def receive(session: Session, index: GridIndex, src: VideoSource, body: bytes, *, upload_dir: Path,
            max_bytes: int, now: dt.datetime, calendar=None, settings=None) -> tuple[Case, Path | None]:
    try:
        event = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Invalid("the body must be a JSON object") from None
    if not isinstance(event, dict):
        raise Invalid("the body must be a JSON object")
    event_id = str(event.get("event_id") or "").strip()
    if not 1 <= len(event_id) <= 64:
        raise Invalid("event_id (1–64 characters) is required")
    key = f"video:{src.name}:{event_id}"
    if session.scalar(select(Case.id).where(Case.idempotency_key == key)) is not None:
        raise Conflict(f"event {event_id} was delivered already (replay refused)")
    kind = str(event.get("type") or "")
    code = {**DEFAULT_MATTERS, **(src.matters or {})}.get(kind)
    if code is None:
        known = ", ".join(sorted({**DEFAULT_MATTERS, **(src.matters or {})}))
        raise Invalid(f"unknown event type {kind!r}; this source maps: {known}")
    try:
        lon, lat = float(event["lon"]), float(event["lat"])
    except (KeyError, TypeError, ValueError):
        raise Invalid("lon and lat must be numbers") from None
    camera = str(event.get("camera_id") or "")[:64]
    description = f"视频智能识别：{kind}" + (f"（摄像头 {camera}）" if camera else "")
    photo = None
    if event.get("snapshot"):
        try:
            data = base64.b64decode(str(event["snapshot"]), validate=True)
        except (binascii.Error, ValueError):
            raise Invalid("snapshot must be base64") from None
        photo = intake.Photo(data, f"{event_id}.img", upload_dir, max_bytes)
    actor = Identity(roles=frozenset({"receptionist"}), unit_id=None, username=f"video:{src.name}")
    opened = intake.open_case(session, index, actor, matter_code=code, description=description, lon=lon, lat=lat,
                              crs=str(event.get("crs") or "wgs84"), channel="video", idempotency_key=key,
                              photo=photo, now=now, calendar=calendar, settings=settings)
    return opened.case, opened.photo_path
