"""Citizen reports without an account: report with a map pin and a photo, follow it, rate the result.

A report returns its tracking number and a secret key; only the pair opens the report again, so the
sequential numbers cannot be walked. What a citizen sees is the public part of the case: the matter,
the state and when it changed — never who handled it or other reporters' details.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from functools import lru_cache
from pathlib import Path

from pypinyin import Style, lazy_pinyin
from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import actions, intake
from liandong.cases.calendar import WorkCalendar
from liandong.cases.models import Case, CaseEvent
from liandong.catalogue import snapshot
from liandong.errors import Conflict, Invalid, NotFound

CITIZEN = Identity(roles=frozenset({"citizen"}), unit_id=None, username="citizen")
PUBLIC_STATES = {
    "reported": "reported", "accepted": "accepted", "verifying": "accepted", "filed": "in_hand",
    "dispatched": "in_hand", "in_progress": "in_hand", "returned": "in_hand", "suspended": "in_hand",
    "disposed": "in_hand", "checking": "in_hand", "checked": "in_hand", "closed": "closed",
    "rejected": "rejected", "voided": "rejected", "merged": "merged",
}
"""What a citizen is told: a handful of plain stages instead of the command centre's states."""
PHONE_PATTERN = r"[0-9 +\(\)\-]{5,20}"
"""A phone number a citizen may leave: the report page's input carries the same pattern (valid in Python and in
an HTML ``pattern``), so the browser says it before sending; the server refuses anything else."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def submit(session: Session, index: GridIndex, *, matter_code: str, description: str, lon: float, lat: float,
           crs: str = "wgs84", name: str | None = None, phone: str | None = None, photo: bytes | None = None,
           filename: str = "", upload_dir: Path, max_bytes: int, now: dt.datetime,
           calendar: WorkCalendar | None = None, settings=None) -> tuple[Case, str, Path | None]:
    """A new case from the citizen web channel; returns it, its secret key and the stored photo's path.

    Staff take any phone text (a desk types what a caller says); a form anyone can fill is held to a number
    the case's handlers can call back."""
    phone = (phone or "").strip() or None
    if phone is not None and not re.fullmatch(PHONE_PATTERN, phone):
        raise Invalid("phone must have 5–20 characters: digits, spaces and + - ( ) only", code="bad_phone")
    key = secrets.token_urlsafe(12)
    opened = intake.open_case(
        session, index, CITIZEN, matter_code=matter_code, description=description, lon=lon, lat=lat, crs=crs,
        channel="citizen_web", reporter={"name": name, "phone": phone}, fields={"tracking_key_hash": _digest(key)},
        photo=intake.Photo(photo, filename, upload_dir, max_bytes) if photo else None, now=now, calendar=calendar,
        settings=settings)
    return opened.case, key, opened.photo_path


def find(session: Session, number: str, key: str) -> Case:
    """The report behind a tracking number and key; the same 404 for a wrong number or a wrong key."""
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None or not case.tracking_key_hash or not hmac.compare_digest(case.tracking_key_hash, _digest(key)):
        raise NotFound("no report with this tracking number and key", code="report_not_found")
    return case


def view(session: Session, case: Case) -> dict:
    """The public part of a report; a report merged into another follows that one's progress."""
    if case.master_id is not None:
        master = session.get(Case, case.master_id)
        out = view(session, master)
        return {**out, "number": case.number, "description": case.description, "merged_into": master.number,
                "can_rate": _can_rate(session, case), "satisfaction": case.satisfaction}
    matter = snapshot.current(session).by_id.get(case.matter_id)
    steps = session.execute(select(CaseEvent.at, CaseEvent.to_state).where(
        CaseEvent.case_id == case.id, CaseEvent.from_state.is_distinct_from(CaseEvent.to_state))
        .order_by(CaseEvent.seq)).all()
    shown: list[dict] = []
    for at, state in steps:
        stage = PUBLIC_STATES.get(state, "in_hand")
        if not shown or shown[-1]["stage"] != stage:
            shown.append({"stage": stage, "at": at.isoformat()})
    return {"number": case.number, "stage": PUBLIC_STATES.get(case.state, "in_hand"),
            "matter_name": matter.name if matter else None, "description": case.description,
            "created_at": case.created_at.isoformat(),
            "closed_at": case.closed_at.isoformat() if case.closed_at else None,
            "steps": shown, "satisfaction": case.satisfaction,
            "can_rate": _can_rate(session, case)}


def _can_rate(session: Session, case: Case) -> bool:
    """What the case service would take from the citizen now: closed (or merged into a closed case), unrated."""
    return "rate" in actions.allowed_for(session, case, CITIZEN)


def rate(session: Session, index: GridIndex, case: Case, satisfaction: str, calendar: WorkCalendar) -> Case:
    """Rated once, by the case service's rule; a second rating is this channel's 422, as it always was."""
    try:
        return actions.act(session, index, case.id, "rate", CITIZEN, {"satisfaction": satisfaction},
                           calendar=calendar)
    except Conflict as exc:
        if exc.code != "already_rated":
            raise
        raise Invalid("this report was rated already", code="already_rated") from None


@lru_cache(maxsize=4)
def _initials(revision: int, names: tuple[str, ...]) -> dict[str, str]:
    return {n: re.sub(r"[^a-z0-9]", "", "".join(lazy_pinyin(n, style=Style.FIRST_LETTER)).lower()) for n in names}


def matters(session: Session, q: str | None = None, limit: int = 30) -> list[dict]:
    """Active matters for pickers, matched by name, code or pinyin initials (暴露垃圾 → blj)."""
    snap = snapshot.current(session)
    active = sorted((m for m in snap.by_code.values() if m.active), key=lambda m: m.code)
    initials = _initials(snap.revision, tuple(m.name for m in active))
    q = (q or "").strip().lower()
    out = []
    for m in active:
        ini = initials[m.name]
        if q and not (q in m.name or m.code.startswith(q) or ini.startswith(q) or q in ini):
            continue
        out.append({"code": m.code, "name": m.name, "major_name": m.major_name, "initials": ini})
        if len(out) >= limit:
            break
    return out
