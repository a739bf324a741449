"""Open311 API keys as district administrators manage them: the list, a key issued (shown once) and a key
revoked, each change audited. The key rules themselves are ``service.py``'s."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong import audit
from liandong.intake.open311 import service
from liandong.intake.open311.models import ApiKey


def key_dict(k: ApiKey) -> dict:
    return {"id": k.id, "name": k.name, "prefix": k.prefix, "created_by": k.created_by,
            "created_at": k.created_at.isoformat(), "revoked": k.revoked_at is not None}


def list_keys(session: Session) -> list[dict]:
    return [key_dict(k) for k in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def issue(session: Session, name: str, *, actor: audit.Actor, ip: str | None = None) -> dict:
    """A new key; the answer is the only place its secret is ever shown."""
    row, key = service.create_key(session, name, actor.username)
    audit.record(session, "open311_key_created", actor=actor, target=f"api_key:{row.id}", detail={"name": row.name},
                 ip=ip)
    return {**key_dict(row), "key": key}


def revoke(session: Session, key_id: int, now: dt.datetime, *, actor: audit.Actor, ip: str | None = None) -> None:
    row = service.revoke_key(session, key_id, now)
    audit.record(session, "open311_key_revoked", actor=actor, target=f"api_key:{row.id}", ip=ip)
