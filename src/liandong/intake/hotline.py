"""12345 hotline work orders: imported from CSV or JSON, idempotent by the hotline's order id.

Each order becomes a case of the ``hotline`` channel at its original time; importing the same order
again updates what may still change (description, caller, urgency) and writes an ``update`` event,
never a second case. Two modes for bad rows: ``all`` (default) writes nothing when any row is bad;
``good`` keeps the good rows. Either way every bad row is named with its line (CSV) or item (JSON)
number and the reason. Callback results (回访) come back the same way and set the satisfaction of
closed cases.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import actions, intake
from liandong.cases.calendar import WorkCalendar, calendar_for
from liandong.cases.models import Case
from liandong.cases.states import SATISFACTION
from liandong.config import Settings, get_settings
from liandong.errors import Conflict, DomainError, Invalid

HOTLINE = Identity(roles=frozenset({"receptionist"}), unit_id=None, username="hotline-12345")
KEY_PREFIX = "12345:"
ORDER_COLUMNS = ("order_id", "received_at", "matter_code", "description", "lon", "lat")
CALLBACK_COLUMNS = ("order_id", "satisfaction")
MODES = ("all", "good")


def read(raw: str, fmt: str, required: tuple[str, ...]) -> list[tuple[str, dict]]:
    """(where, row) pairs: ``line N`` of a CSV (the header is line 1) or ``item N`` of a JSON list."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(raw.lstrip("\ufeff")))
        missing = set(required) - set(reader.fieldnames or [])
        if missing:
            raise Invalid(f"the CSV needs the columns {', '.join(sorted(missing))}")
        return [(f"line {i}", row) for i, row in enumerate(reader, start=2)]
    if fmt == "json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise Invalid(f"not JSON: {exc}") from None
        if not isinstance(data, list):
            raise Invalid("the JSON must be a list of orders")
        return [(f"item {i}", row if isinstance(row, dict) else {}) for i, row in enumerate(data, start=1)]
    raise Invalid("format must be csv or json")


def _time(value, tz: ZoneInfo) -> dt.datetime:
    text = str(value or "").strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"received_at {text!r} is not a date-time (e.g. 2026-11-27 09:30 or ISO 8601)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)  # hotline times are local when bare


def import_orders(session: Session, index: GridIndex, raw: str, *, fmt: str, mode: str = "all",
                  crs: str = "wgs84", now: dt.datetime, settings: Settings | None = None) -> dict:
    """Create or update a case per order; returns counts and every bad row. The caller commits."""
    if mode not in MODES:
        raise Invalid("mode must be 'all' (nothing written when a row is bad) or 'good' (keep the good rows)")
    rows = read(raw, fmt, ORDER_COLUMNS)
    settings = settings or get_settings()
    tz = ZoneInfo(settings.timezone)
    calendar = calendar_for(session)
    created = updated = 0
    errors: list[dict] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        order_id = str(row.get("order_id") or "").strip()
        try:
            if not order_id or len(order_id) > 60:
                raise Invalid("order_id is missing or longer than 60 characters")
            if order_id in seen:
                raise Invalid(f"order {order_id} appears twice (also {seen[order_id]})")
            seen[order_id] = where
            with session.begin_nested():  # one row, all or nothing
                if _one(session, index, order_id, row, crs, tz, now, calendar, settings):
                    created += 1
                else:
                    updated += 1
        except DomainError as exc:
            errors.append({"where": where, "order_id": order_id or None, "reason": exc.message})
    if errors and mode == "all":
        raise Invalid(f"{len(errors)} of {len(rows)} orders are bad; nothing was imported",
                      details=[f"{e['where']}: {e['reason']}" for e in errors], extra={"bad_rows": errors})
    return {"read": len(rows), "created": created, "updated": updated, "skipped": len(errors), "bad_rows": errors}


def _one(session: Session, index: GridIndex, order_id: str, row: dict, crs: str, tz: ZoneInfo,
         now: dt.datetime, calendar: WorkCalendar, settings: Settings) -> bool:
    """True when a case was created, False when an earlier import of the order was updated."""
    received = _time(row.get("received_at"), tz)
    if received > now + dt.timedelta(minutes=5):
        raise Invalid("received_at lies in the future")
    reporter = {"name": (row.get("caller_name") or None), "phone": (row.get("caller_phone") or None)}
    description = str(row.get("description") or "").strip()
    urgency = row.get("urgency") or None
    existing = session.scalar(select(Case).where(Case.idempotency_key == KEY_PREFIX + order_id))
    if existing is not None:
        try:
            intake.amend(session, existing, HOTLINE, description=description, reporter=reporter, now=now,
                         source="12345")
        except intake.NotAmendable:
            raise Invalid(f"order {order_id} is already {existing.state}; it can no longer be changed by "
                          "import") from None
        return False
    try:
        lon, lat = float(row.get("lon")), float(row.get("lat"))
    except (TypeError, ValueError):
        raise Invalid("lon and lat must be numbers") from None
    intake.open_case(session, index, HOTLINE, matter_code=str(row.get("matter_code") or "").strip(),
                     description=description, lon=lon, lat=lat, crs=str(row.get("crs") or crs), channel="hotline",
                     urgency=urgency, reporter=reporter, idempotency_key=KEY_PREFIX + order_id, now=received,
                     calendar=calendar, settings=settings)
    return True


def record_callbacks(session: Session, index: GridIndex, raw: str, *, fmt: str, calendar: WorkCalendar,
                     now: dt.datetime) -> dict:
    """Callback results (回访): each closed order gets the caller's satisfaction, once. Bad rows are listed
    and skipped (a callback cannot half-apply: each is one action)."""
    rows = read(raw, fmt, CALLBACK_COLUMNS)
    done, errors = 0, []
    for where, row in rows:
        order_id = str(row.get("order_id") or "").strip()
        try:
            satisfaction = str(row.get("satisfaction") or "").strip()
            if satisfaction not in SATISFACTION:
                raise Invalid(f"satisfaction must be one of {', '.join(SATISFACTION)}")
            case = session.scalar(select(Case).where(Case.idempotency_key == KEY_PREFIX + order_id))
            if case is None:
                raise Invalid(f"no imported order {order_id!r}")
            note = row.get("note") or "12345 回访"
            with session.begin_nested():  # a merged order is rated on its own report once its master is closed
                actions.act(session, index, case.id, "rate", HOTLINE, {"satisfaction": satisfaction, "note": note},
                            now=now, calendar=calendar)
            done += 1
        except Conflict as exc:  # the service's refusals, in this import's words
            reason = {"already_rated": f"order {order_id} was rated already",
                      "master_not_closed": f"order {order_id} is handled with {exc.params.get('master')}, which is "
                                           "not closed yet"}.get(exc.code, exc.message)
            errors.append({"where": where, "order_id": order_id or None, "reason": reason})
        except DomainError as exc:
            errors.append({"where": where, "order_id": order_id or None, "reason": exc.message})
    return {"read": len(rows), "rated": done, "skipped": len(errors), "bad_rows": errors}
