"""12345 work orders imported by a user: ``hotline.import_orders``, recorded in the audit log with who sent
them and what came of it (the CLI's imports are the operator's own)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from liandong import audit
from liandong.areas.index import GridIndex
from liandong.config import Settings
from liandong.intake import hotline


def import_orders(session: Session, index: GridIndex, raw: str, *, fmt: str, mode: str, crs: str,
                  now: dt.datetime, settings: Settings, actor: audit.Actor, ip: str | None = None) -> dict:
    result = hotline.import_orders(session, index, raw, fmt=fmt, mode=mode, crs=crs, now=now, settings=settings)
    audit.record(session, "hotline_imported", actor=actor,
                 detail={k: result[k] for k in ("read", "created", "updated", "skipped")}, ip=ip)
    return result
