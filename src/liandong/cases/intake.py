"""Opening a case: the one way a report from any channel becomes a case row and its first event.

Every channel (the cases API, citizens, the 12345 hotline, sensors, Open311, cameras, the demo) calls
``open_case``: the report itself, what a channel brings with it (a photo, a tracking key, a media URL) and
duplicate handling run here once, so no channel repeats the sequence or writes case or event rows itself.
What a channel adds later without moving the case (a corrected hotline order, a device back to normal, an
Open311 client's comment) goes through ``amend`` and ``follow_up``. The live feed reads the event log, so
the report event is the live event. Foreign history comes in through ``cases/history.py``.

Idempotency-Keys make a retried report return the first case. The row and its event go in with Core
statements (the busiest write there is), and the row is handed to the session as already stored; in a batch
(``cases/batch.py``) the case takes an id the batch holds and its row goes in with the batch's others.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import attachments, dedupe, log, states
from liandong.cases.calendar import WorkCalendar, cached
from liandong.cases.models import Case, CaseEvent
from liandong.catalogue import snapshot
from liandong.catalogue.models import URGENCIES
from liandong.config import Settings
from liandong.db import stored, utcnow
from liandong.errors import Conflict, Invalid
from liandong.privacy import id_number_problem

if TYPE_CHECKING:
    from liandong.cases.batch import Batch

CHANNEL_FIELDS = frozenset({"tracking_key_hash", "media_url"})
"""Columns a channel may fill on the row it opens (a citizen's tracking key, an Open311 app's photo URL)."""
AMENDABLE_STATES = frozenset({"reported", "accepted", "verifying"})
"""A report may still be corrected by its channel until it is filed: after that, people work from it."""
FOLLOW_UPS = frozenset({"sensor_normal", "comment"})
"""Events a channel adds to a case without moving it (a device back to normal, an Open311 client's update)."""


@dataclass(frozen=True)
class Photo:
    """A photo sent with the report (a citizen's, a camera's snapshot): kept as the case's "before" photo."""

    data: bytes
    filename: str
    upload_dir: Path
    max_bytes: int


class Opened(NamedTuple):
    case: Case
    created: bool
    """False when an Idempotency-Key named a case opened before: nothing else was done."""
    photo_path: Path | None
    """The stored photo's file (None without a photo); ``attachments.add`` ties it to the transaction."""
    duplicate: dict
    """What duplicate handling did: ``merged_into`` (a master case id or None), ``queued`` (review pairs)."""


def open_case(session: Session, index: GridIndex, caller: Identity, *, matter_code: str, description: str,
              lon: float, lat: float, crs: str = "wgs84", channel: str, urgency: str | None = None,
              reporter: dict | None = None, idempotency_key: str | None = None, component_code: str | None = None,
              fields: dict | None = None, photo: Photo | None = None, now: dt.datetime | None = None,
              calendar: WorkCalendar | None = None, settings: Settings | None = None,
              duplicates: bool = True, batch: Batch | None = None) -> Opened:
    """The one way in: report the case, store what the channel sent with it, then merge it into an older
    case about the same problem at once or queue the pair for review. The caller commits.

    ``duplicates=False`` is for generated activity only (the demo's month, the simulated year), which must not
    merge into itself. A ``batch`` (``cases/batch.py``) holds the case's row and its report event until its
    ``flush``: until then the case is the batch's, not in the session nor in the table."""
    now = now or utcnow()
    if batch is not None and (photo is not None or duplicates):
        raise ValueError("a batch opens bare reports: no photo, duplicates=False (both write events of their own)")
    case, created = report(session, index, caller, matter_code=matter_code, description=description, lon=lon,
                           lat=lat, crs=crs, channel=channel, urgency=urgency, reporter=reporter,
                           idempotency_key=idempotency_key, component_code=component_code, fields=fields, now=now,
                           batch=batch)
    if not created:
        return Opened(case, False, None, {"merged_into": case.master_id, "queued": 0})
    path = None
    if photo is not None:
        _, path = attachments.add(session, case, photo.data, photo.filename, "before", caller.name, caller.user_id,
                                  photo.upload_dir, photo.max_bytes, now)
    found = {"merged_into": None, "queued": 0}
    if duplicates:  # the same problem from another channel: merged at once, or queued for review
        found = dedupe.after_report(session, index, case, calendar or cached(session), settings, now=now)
    return Opened(case, True, path, found)


class NotAmendable(Invalid):
    """The report is being worked on: its channel can no longer change it."""


def amend(session: Session, case: Case, caller: Identity, *, description: str | None = None,
          reporter: dict | None = None, now: dt.datetime, source: str) -> list[str]:
    """A channel's corrected report (a hotline order sent again): the description and the reporter's name
    and phone change while nobody has filed the case, with one ``update`` event naming what changed (not the
    reporter's data). Returns the changed fields; nothing changed, nothing written."""
    reporter = reporter or {}
    changes: dict[str, str] = {}
    if description and description != case.description:
        changes["description"] = description[:2000]
    if reporter.get("phone") and reporter["phone"] != case.reporter_phone:
        changes["reporter_phone"] = str(reporter["phone"])[:32]
    if reporter.get("name") and reporter["name"] != case.reporter_name:
        changes["reporter_name"] = str(reporter["name"])[:100]
    if not changes:
        return []
    if case.state not in AMENDABLE_STATES:
        raise NotAmendable(f"case {case.number} is already {case.state}; its report can no longer be changed")
    for key, value in changes.items():
        setattr(case, key, value)
    case.updated_at = now
    log.record(session, case, caller, "update", case.state, case.state,
               {"fields": sorted(k for k in changes if not k.startswith("reporter_")) or ["reporter"],
                "source": source}, now)
    return sorted(changes)


def follow_up(session: Session, case: Case, caller: Identity, action: str, payload: dict,
              now: dt.datetime) -> CaseEvent:
    """An event a channel adds to a case it reported, leaving its state as it is (``FOLLOW_UPS``)."""
    if action not in FOLLOW_UPS:
        raise ValueError(f"{action!r} is not a channel follow-up; case actions go through actions.act")
    return log.record(session, case, caller, action, case.state, case.state, payload, now)


def _hash(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def report(session: Session, index: GridIndex, actor: Identity, *, matter_code: str, description: str, lon: float,
           lat: float, crs: str = "wgs84", channel: str, urgency: str | None = None, reporter: dict | None = None,
           idempotency_key: str | None = None, component_code: str | None = None, fields: dict | None = None,
           now: dt.datetime | None = None, batch: Batch | None = None) -> tuple[Case, bool]:
    """Create a case in state ``reported``; returns (case, created). A repeated Idempotency-Key with the
    same request returns the first case; with a different request it is a Conflict. Channels call
    ``open_case``; this is its first step (and what tests and benchmarks use to make bare cases)."""
    from liandong.areas.index import place

    now = now or utcnow()
    body = {"matter_code": matter_code, "description": description, "lon": lon, "lat": lat, "crs": crs,
            "channel": channel, "urgency": urgency, "reporter": reporter, "component_code": component_code}
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 100:
            raise Invalid("Idempotency-Key must have 1–100 characters")
        idempotency_key = creator_key(actor, idempotency_key)
        looked_up, found = batch.case_of_key(idempotency_key) if batch is not None else (False, None)
        if not looked_up:
            found = session.connection().execute(_BY_KEY, {"key": idempotency_key}).scalar()  # built once
        existing = None
        if found is not None:  # a case made earlier in the batch is the batch's (its row may not be written yet)
            existing = (batch.cases.get(found) if batch is not None else None) or session.get(Case, found)
        if existing is not None:
            if existing.request_hash != _hash(body):
                raise Conflict("this Idempotency-Key was used for a different request", code="idempotency_key_reused")
            return existing, False
    if fields and not set(fields) <= CHANNEL_FIELDS:
        raise ValueError(f"a channel fills only {', '.join(sorted(CHANNEL_FIELDS))} on a new case")
    if channel not in states.CHANNELS:
        raise Invalid(f"unknown channel {channel!r}; use one of {', '.join(states.CHANNELS)}")
    matter = snapshot.current(session).by_code.get(matter_code)
    if matter is None or not matter.active:
        raise Invalid(f"unknown matter {matter_code!r}", code="unknown_matter", params={"matter": matter_code})
    component = None
    if component_code is not None:
        from liandong.components.models import Component

        component = session.scalar(select(Component).where(Component.code == component_code))
        if component is None or not actor.scope.covers_path(component.area_path):
            raise Invalid(f"unknown component {component_code!r}")
        if matter.component_code != component.type_code:
            raise Invalid(f"component {component_code} is a {component.name}; matter {matter_code} is about "
                          f"{matter.name}")
    urgency = urgency or matter.default_urgency
    if urgency not in URGENCIES:
        raise Invalid(f"urgency must be one of {', '.join(URGENCIES)}")
    description = (description or "").strip()
    if not 1 <= len(description) <= 2000:
        raise Invalid("description must have 1–2000 characters", code="bad_description")
    reporter = reporter or {}
    name, phone, id_number = reporter.get("name"), reporter.get("phone"), reporter.get("id_number")
    if (name is not None and (not isinstance(name, str) or len(name) > 100)) or (
            phone is not None and (not isinstance(phone, str) or len(phone) > 32)):
        raise Invalid("reporter name must be text of at most 100 characters, phone at most 32", code="bad_reporter")
    if id_number is not None:
        id_number = str(id_number).strip().upper()
        problem = id_number_problem(id_number)
        if problem:
            raise Invalid(f"reporter id_number: {problem}", code=problem.code)
    grid, lon, lat = place(index, lon, lat, crs, actor.scope)
    values = dict(
        NEW_CASE, **(fields or {}), state="reported", version=1, matter_id=matter.id, urgency=urgency,
        channel=channel, component_id=component.id if component else None,
        description=description, lon=lon, lat=lat, grid_id=grid.id,
        area_path=grid.path, reporter_name=name, reporter_phone=phone, reporter_id_number=id_number,
        idempotency_key=idempotency_key, request_hash=_hash(body) if idempotency_key else None,
        created_by=actor.user_id, created_at=now, updated_at=now,
    )
    reported = {"channel": channel, "matter": matter_code}
    if batch is not None:  # its id taken from the batch's; its row written with the batch's others (``Batch.settle``)
        case_id = batch.new_case_id()
        case = Case(**{**values, "id": case_id, "number": number(grid.code, now, case_id)})
        batch.opened(case)
        batch.record(case, actor, "report", None, "reported", reported, now)
        return case, True
    from liandong.cases.batch import no_ids_held

    no_ids_held(session)
    # Core statements, then the row handed to the session as already stored: the intake path is the busiest
    # write there is, and a unit-of-work flush of a 40-column row costs several times the INSERT itself
    conn = session.connection()
    case_id = conn.execute(_INSERT_CASE, {**values, "number": f"T{uuid.uuid4().hex[:24]}"}).scalar_one()
    values.update(id=case_id, number=number(grid.code, now, case_id))
    conn.execute(_NUMBER_CASE, {"case_id": case_id, "new_number": values["number"]})
    case = stored(session, Case(**values))
    log.record(session, case, actor, "report", None, "reported", reported, now, seq=1)
    return case, True


def number(grid_code: str, at: dt.datetime, case_id: int) -> str:
    """A case's number: its town's code, the day it was reported and its id (unique by the id)."""
    return f"{grid_code[:6]}-{at:%Y%m%d}-{case_id:07d}"


_CASES = Case.__table__
NEW_CASE = {c.key: None for c in _CASES.c if c.key != "id"} | {
    "out_of_area": False, "rework_count": 0, "escalation_count": 0, "escalation_level": 0}
"""Every column of a new case row (a Core INSERT names them all), with the model's defaults."""
_INSERT_CASE = _CASES.insert().returning(_CASES.c.id)
_BY_KEY = select(_CASES.c.id).where(_CASES.c.idempotency_key == bindparam("key"))
_NUMBER_CASE = _CASES.update().where(_CASES.c.id == bindparam("case_id")).values(number=bindparam("new_number"))


def creator_key(actor: Identity, key: str) -> str:
    """Idempotency-Keys belong to whoever sent them: a user's key is stored under their id (hashed to fit),
    so two users' keys never collide; system channels already namespace theirs ("hotline:…")."""
    if actor.user_id is None:
        return key
    return f"u{actor.user_id}:{hashlib.sha256(key.encode()).hexdigest()[:48]}"

