"""Case photos (before / after handling): type checked by content, size capped, stored on disk.

The file's own bytes decide its type (JPEG, PNG or WebP), never the name or the declared type. A file
is written under a random name after its row, and deleted again if the transaction does not commit (the
caller's unit of work commits; ``transaction.unless_committed`` watches it), so a failed upload leaves
nothing behind: no row without a file, no file without a row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.cases import log
from liandong.cases.models import Attachment, Case
from liandong.errors import Invalid, NotFound, TooLarge
from liandong.transaction import unless_committed

KINDS = ("before", "after", "other")
SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg", "jpg"), (b"\x89PNG\r\n\x1a\n", "image/png", "png"))


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the first bytes, or None for anything but JPEG/PNG/WebP."""
    for magic, ctype, ext in SIGNATURES:
        if head.startswith(magic):
            return ctype, ext
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def add(session: Session, case: Case, data: bytes, filename: str, kind: str, actor_name: str, actor_id: int | None,
        upload_dir: Path, max_bytes: int, now: dt.datetime) -> tuple[Attachment, Path | None]:
    """Store a photo; returns the row and the path of the file written (deleted again unless the caller's
    transaction commits).

    The same bytes sent again for the same case and kind (a phone retrying after a lost answer) return the
    photo already stored, and no path: one photo, one ``attach`` event."""
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}")
    if len(data) > max_bytes:
        raise TooLarge(f"the file has {len(data)} bytes; at most {max_bytes} are accepted", code="file_too_large",
                       params={"size": len(data), "max": max_bytes})
    if not data:
        raise Invalid("the file is empty", code="empty_file")
    found = sniff(data[:16])
    if found is None:
        raise Invalid("only JPEG, PNG and WebP photos are accepted", code="photo_type")
    ctype, ext = found
    digest = hashlib.sha256(data).hexdigest()
    same = session.scalar(select(Attachment).where(Attachment.case_id == case.id, Attachment.kind == kind,
                                                   Attachment.sha256 == digest))
    if same is not None:
        return same, None
    safe_name = re.sub(r"[^\w.\-]+", "_", Path(filename or "photo").name)[:200] or "photo"
    stored = f"{case.id}/{uuid.uuid4().hex}.{ext}"
    path = upload_dir / stored
    row = Attachment(case_id=case.id, kind=kind, filename=safe_name, content_type=ctype, size=len(data),
                     sha256=digest, stored_as=stored, uploaded_by=actor_name,
                     uploaded_at=now)
    session.add(row)
    log.append(session, case.id, "attach", case.state, case.state,
               {"kind": kind, "filename": safe_name, "size": len(data)}, now, actor=actor_name, actor_id=actor_id)
    session.flush()  # the row first: if the file cannot be written, the transaction rolls back
    unless_committed(session, lambda: path.unlink(missing_ok=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return row, path


def list_for(session: Session, case: Case) -> list[Attachment]:
    return list(session.scalars(select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id)))


def get(session: Session, case: Case, attachment_id: int) -> Attachment:
    row = session.get(Attachment, attachment_id)
    if row is None or row.case_id != case.id:
        raise NotFound(f"attachment {attachment_id} not found")
    return row


def as_dict(a: Attachment) -> dict:
    return {"id": a.id, "kind": a.kind, "filename": a.filename, "content_type": a.content_type, "size": a.size,
            "sha256": a.sha256, "uploaded_by": a.uploaded_by, "uploaded_at": a.uploaded_at.isoformat(),
            "url": f"/api/v1/cases/{a.case_id}/attachments/{a.id}"}
