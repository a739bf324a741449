"""Open311 GeoReport v2 rules: services from the catalogue, requests from cases, API keys.

The catalogue's matters are the services (groups = major categories); each service takes two optional
attributes, the urgency and the 17-digit code of the component (部件) concerned. A request is a case
reported through the ``open311`` channel; its ``service_request_id`` is the case number, and its
``expected_datetime`` is the case deadline (or, before filing, what the catalogue's stage limits
give on the working calendar). Requests show no reporter data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import intake
from liandong.cases.calendar import WorkCalendar
from liandong.cases.models import Case
from liandong.cases.states import CLOSED_STATES
from liandong.catalogue import snapshot
from liandong.catalogue.models import STAGES
from liandong.errors import Forbidden, Invalid, NotFound
from liandong.intake.open311.models import ApiKey

MAX_DAYS = 90
MAX_RECORDS = 1000
TOKEN_PREFIX = "o311-"
ATTRIBUTES = [
    {"variable": True, "code": "urgency", "datatype": "singlevaluelist", "required": False,
     "datatype_description": None, "order": 1, "description": "紧急程度 Urgency",
     "values": [{"key": "normal", "name": "一般 normal"}, {"key": "urgent", "name": "紧急 urgent"}]},
    {"variable": True, "code": "component_code", "datatype": "string", "required": False,
     "datatype_description": "17-digit component code (部件编码)", "order": 2,
     "description": "部件编码 Component code"},
]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# --- keys ------------------------------------------------------------------------------------------

def create_key(session: Session, name: str, created_by: str, key: str | None = None) -> tuple[ApiKey, str]:
    """A new key (returned once, in clear); ``key`` may be given (the demo's LIANDONG_DEMO_OPEN311_KEY)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise Invalid("a key needs a name of 1–100 characters")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise Invalid(f"a key named {name!r} exists")
    key = key or secrets.token_urlsafe(24)
    if len(key) < 16:
        raise Invalid("an API key needs at least 16 characters")
    row = ApiKey(name=name, key_hash=_digest(key), prefix=key[:6], created_by=created_by)
    session.add(row)
    session.flush()
    return row, key


def check_key(session: Session, key: str | None) -> ApiKey:
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _digest(key))) if key else None
    if row is None or row.revoked_at is not None:
        raise Forbidden("a valid api_key is required")
    return row


def revoke_key(session: Session, key_id: int, now: dt.datetime) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"api key {key_id} not found")
    row.revoked_at = row.revoked_at or now
    return row


# --- services --------------------------------------------------------------------------------------

def services(session: Session) -> list[dict]:
    cat = snapshot.current(session)
    return [{"service_code": m.code, "service_name": m.name, "description": f"{m.major_name} · {m.name}",
             "metadata": True, "type": "realtime", "keywords": m.kind, "group": m.major_name}
            for m in sorted(cat.by_code.values(), key=lambda m: m.code) if m.active]


def definition(session: Session, code: str) -> dict:
    m = snapshot.current(session).by_code.get(code)
    if m is None or not m.active:
        raise NotFound(f"service {code} not found")
    return {"service_code": m.code, "attributes": ATTRIBUTES}


# --- requests --------------------------------------------------------------------------------------

def submit(session: Session, index: GridIndex, key: ApiKey, form: dict, now: dt.datetime,
           calendar: WorkCalendar | None = None, settings=None) -> dict:
    """A POST requests body (already flattened: attribute[code] → attributes[code]) → a new case."""
    code = form.get("service_code")
    m = snapshot.current(session).by_code.get(code or "")
    if m is None or not m.active:
        raise NotFound(f"service {code!r} not found")
    lat, lon = form.get("lat"), form.get("long")
    if lat in (None, "") or lon in (None, ""):
        if form.get("address_string") or form.get("address_id"):
            raise Invalid("addresses are not geocoded here: send lat and long (WGS84)")
        raise Invalid("a location is required: lat and long")
    try:
        lat, lon = float(lat), float(lon)
    except ValueError:
        raise Invalid("lat and long must be numbers") from None
    description = (form.get("description") or "").strip() or m.name
    if len(description) > 4000:
        raise Invalid("description has more than 4000 characters")
    attrs = form.get("attributes", {})
    name = " ".join(x for x in (form.get("first_name"), form.get("last_name")) if x) or None
    media_url = (form.get("media_url") or "").strip() or None
    if media_url and (len(media_url) > 500 or not media_url.lower().startswith(("http://", "https://"))):
        raise Invalid("media_url must be an http(s) URL of at most 500 characters")
    token = uuid.uuid4().hex
    try:
        case = intake.open_case(
            session, index, _client(key), matter_code=m.code, description=description[:2000], lon=lon, lat=lat,
            channel="open311", crs=form.get("crs") or "wgs84",  # the spec's lat/long are WGS84; apps in China: gcj02
            urgency=attrs.get("urgency") or None, reporter={"name": name and name[:100],
                                                            "phone": (form.get("phone") or "")[:32] or None},
            component_code=attrs.get("component_code") or None, idempotency_key=TOKEN_PREFIX + token,
            fields={"media_url": media_url}, now=now, calendar=calendar, settings=settings).case
    except Invalid as exc:
        if exc.code == "outside_district":
            raise Invalid("the location lies outside this jurisdiction") from None
        raise
    return {"service_request_id": case.number, "token": token,
            "service_notice": "已受理登记 Received; follow it with service_request_id", "account_id": None}


def _client(key: ApiKey) -> Identity:
    """An Open311 client app, as the caller of what it sends: reports like a citizen, named by its key."""
    return Identity(roles=frozenset({"citizen"}), unit_id=None, username=f"open311:{key.name}")


def by_token(session: Session, token: str) -> dict:
    number = session.scalar(select(Case.number).where(Case.idempotency_key == TOKEN_PREFIX + token))
    if number is None:
        raise NotFound(f"token {token} not found")
    return {"service_request_id": number, "token": token}


def _expected(case: Case, matter, cal: WorkCalendar) -> dt.datetime | None:
    if case.state in CLOSED_STATES:
        return None
    if case.case_deadline:
        return case.case_deadline
    total = 0.0
    for stage in STAGES:
        amount, unit = matter.limit(case.urgency, stage) or (1, "day")
        total += cal.minutes(amount, unit)
    return cal.add(case.created_at, total)[0]


def request_dict(case: Case, session: Session, cal: WorkCalendar, agencies: dict[int, str]) -> dict:
    """A case as a request; one merged into another shows that one's progress (its reporter follows it)."""
    m = snapshot.current(session).by_id[case.matter_id]
    followed = session.get(Case, case.master_id) if case.master_id else case
    expected = _expected(followed, m, cal)
    closed = followed.state in CLOSED_STATES
    notes = {"closed": "已办结", "rejected": "不予受理", "voided": "已作废"}
    return {
        "service_request_id": case.number, "status": "closed" if closed else "open",
        "status_notes": _notes(case, followed, notes),
        "service_name": m.name, "service_code": m.code,
        "description": case.description, "agency_responsible": agencies.get(followed.lead_unit_id or 0),
        "service_notice": None, "requested_datetime": case.created_at.isoformat(),
        "updated_datetime": max(case.updated_at, followed.updated_at).isoformat(),
        "expected_datetime": expected.isoformat() if expected else None,
        "address": None, "address_id": None, "zipcode": None, "lat": case.lat, "long": case.lon,
        "media_url": case.media_url,
    }


def _notes(case: Case, followed: Case, notes: dict[str, str]) -> str | None:
    if followed is case:
        return notes.get(case.state)
    tail = f"：{notes[followed.state]}" if followed.state in notes else ""
    return f"与 {followed.number} 合并处理 (handled with {followed.number}){tail}"


def _parse_date(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{name} must be a W3C date-time, e.g. 2026-11-27T08:00:00+08:00") from None
    if parsed.tzinfo is None:
        raise Invalid(f"{name} needs a time zone")
    if not 1970 <= parsed.year <= 2100:
        raise Invalid(f"{name} must lie between 1970 and 2100")
    return parsed


def query(session: Session, cal: WorkCalendar, params: dict, now: dt.datetime) -> list[dict]:
    """GET requests: every filter of the spec, its defaults (90 days, 1,000 records) and page/page_size."""
    stmt = select(Case).where(Case.master_id.is_(None))
    ids = [x.strip() for x in (params.get("service_request_id") or "").split(",") if x.strip()]
    if ids:
        stmt = stmt.where(Case.number.in_(ids[:MAX_RECORDS]))  # overrides every other filter
    else:
        codes = [x.strip() for x in (params.get("service_code") or "").split(",") if x.strip()]
        if codes:
            cat = snapshot.current(session).by_code
            stmt = stmt.where(Case.matter_id.in_([cat[c].id for c in codes if c in cat] or [-1]))
        end = _parse_date(params.get("end_date"), "end_date") or now
        start = _parse_date(params.get("start_date"), "start_date") or end - dt.timedelta(days=MAX_DAYS)
        if end < start:
            raise Invalid("end_date is before start_date")
        if end - start > dt.timedelta(days=MAX_DAYS):
            raise Invalid(f"start_date and end_date may span at most {MAX_DAYS} days")
        stmt = stmt.where(Case.created_at >= start, Case.created_at <= end)
        statuses = {x.strip() for x in (params.get("status") or "").split(",") if x.strip()}
        if statuses - {"open", "closed"}:
            raise Invalid("status must be open or closed")
        if statuses == {"open"}:
            stmt = stmt.where(Case.state.not_in(CLOSED_STATES))
        elif statuses == {"closed"}:
            stmt = stmt.where(Case.state.in_(CLOSED_STATES))
    try:
        page = int(params.get("page") or 1)
        size = int(params.get("page_size") or MAX_RECORDS)
    except ValueError:
        raise Invalid("page and page_size must be whole numbers") from None
    if page < 1 or not 1 <= size <= MAX_RECORDS:
        raise Invalid(f"page starts at 1; page_size is 1–{MAX_RECORDS}")
    rows = list(session.scalars(stmt.order_by(Case.created_at.desc(), Case.id.desc())
                                .limit(size).offset((page - 1) * size)))
    agencies = _agencies(session, rows)
    return [request_dict(c, session, cal, agencies) for c in rows]


def one(session: Session, cal: WorkCalendar, number: str) -> list[dict]:
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None:
        raise NotFound(f"request {number} not found")
    return [request_dict(case, session, cal, _agencies(session, [case]))]


def _agencies(session: Session, rows: list[Case]) -> dict[int, str]:
    from liandong.units.models import Unit

    masters = [session.get(Case, c.master_id) for c in rows if c.master_id]
    ids = {c.lead_unit_id for c in (*rows, *masters) if c.lead_unit_id}
    return dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(ids))).all()) if ids else {}


# --- FixMyStreet extension: request updates ----------------------------------------------------------

FMS_STATUS = {
    "reported": "OPEN", "accepted": "OPEN", "verifying": "INVESTIGATING", "filed": "ACTION_SCHEDULED",
    "dispatched": "ACTION_SCHEDULED", "in_progress": "IN_PROGRESS", "returned": "INTERNAL_REFERRAL",
    "suspended": "ACTION_SCHEDULED", "disposed": "IN_PROGRESS", "checking": "IN_PROGRESS", "checked": "FIXED",
    "closed": "CLOSED", "rejected": "NOT_COUNCILS_RESPONSIBILITY", "voided": "CANCELLED", "merged": "DUPLICATE",
}
"""Our states in the FixMyStreet extended statuses."""
UPDATE_NOTES = {"OPEN": "已受理", "INVESTIGATING": "核实中", "ACTION_SCHEDULED": "已立案派遣",
                "IN_PROGRESS": "处置中", "INTERNAL_REFERRAL": "转办中", "FIXED": "已处置并核查",
                "CLOSED": "已办结", "NOT_COUNCILS_RESPONSIBILITY": "不属受理范围", "CANCELLED": "已作废",
                "DUPLICATE": "与其他报告合并处理"}


def updates(session: Session, params: dict, now: dt.datetime) -> list[dict]:
    """Every change of state between start_date and end_date (default: the last 24 hours), oldest first."""
    from liandong.cases.models import CaseEvent

    end = _parse_date(params.get("end_date"), "end_date") or now
    start = _parse_date(params.get("start_date"), "start_date") or end - dt.timedelta(days=1)
    if end < start or end - start > dt.timedelta(days=MAX_DAYS):
        raise Invalid(f"start_date must come before end_date, at most {MAX_DAYS} days apart")
    rows = session.execute(
        select(CaseEvent.id, CaseEvent.at, CaseEvent.to_state, CaseEvent.payload, Case.number)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(CaseEvent.at >= start, CaseEvent.at <= end,
               CaseEvent.from_state.is_distinct_from(CaseEvent.to_state) | (CaseEvent.action == "comment"))
        .order_by(CaseEvent.at, CaseEvent.id).limit(MAX_RECORDS)).all()
    out = []
    for event_id, at, state, payload, number in rows:
        status = FMS_STATUS.get(state, "OPEN")
        note = (payload or {}).get("note") if state in ("closed", "checked", "disposed") or (
            payload or {}).get("client") else None
        out.append({"update_id": str(event_id), "service_request_id": number, "status": status,
                    "updated_datetime": at.isoformat(), "description": note or UPDATE_NOTES[status],
                    "media_url": None})
    return out


def post_update(session: Session, key: ApiKey, form: dict, now: dt.datetime) -> dict:
    """An update from a client's user (FixMyStreet extension): kept as a ``comment`` event on the case.

    A client cannot move our case: a status it sends (FIXED, REOPEN…) is recorded as what the reporter says,
    and a REOPEN of a closed case tells the command centre, which decides."""
    from liandong.cases.models import Notification
    from liandong.units.models import Unit

    number = (form.get("service_request_id") or "").strip()
    case = session.scalar(select(Case).where(Case.number == number)) if number else None
    if case is None:
        raise NotFound(f"request {number!r} not found")
    status = (form.get("status") or "").strip().upper() or None
    if status is not None and status not in set(FMS_STATUS.values()) | {"REOPEN"}:
        raise Invalid(f"unknown status {status!r}")
    description = (form.get("description") or "").strip()
    if not description and status is None:
        raise Invalid("an update needs a description or a status")
    if len(description) > 4000:
        raise Invalid("description has more than 4000 characters")
    name = " ".join(x for x in (form.get("first_name"), form.get("last_name")) if x) or None
    event = intake.follow_up(session, case, _client(key), "comment", {
        "note": description[:2000] or None, "status_claimed": status, "client": key.name,
        "client_update_id": (form.get("update_id") or None), "by": name, "media_url": form.get("media_url")}, now)
    if status == "REOPEN" and case.state in CLOSED_STATES:
        centre = session.scalar(select(Unit.id).where(Unit.kind == "centre").order_by(Unit.id).limit(1))
        if centre:
            session.add(Notification(unit_id=centre, case_id=case.id, kind="reopen", created_at=now,
                                     details={"note": description[:300] or None}))
    session.flush()
    return {"update_id": str(event.id)}
