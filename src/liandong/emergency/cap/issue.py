"""Issuing a CAP warning from an incident: the one service that writes ``cap_warnings``.

A warning series starts with an Alert; Updates and Cancels refer to every earlier message of the series in
``references`` (``sender,identifier,sent`` each, as CAP asks) and supersede them; a Cancel ends the series, and a
new Alert may start another once nothing is in force. Only those who command incidents issue: the action table's
``COMMAND`` roles, on an incident they command (``visibility.commands``). The document is composed, signed when
a key is configured, validated against the OASIS schema, stored and logged in the incident's log, in the caller's
transaction.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.config import Settings
from liandong.emergency import log, queries, visibility
from liandong.emergency.actions import COMMAND
from liandong.emergency.cap import areas, compose, identifiers, mapping, safe, signing, xsd
from liandong.emergency.cap.errors import CapRefused, WarningConflict
from liandong.emergency.cap.models import IssuedWarning
from liandong.emergency.cap.payloads import WarningIn
from liandong.emergency.models import Incident
from liandong.emergency.states import CLOSED_STATES
from liandong.errors import Invalid, role_needed

CANCEL_EXPIRES = dt.timedelta(hours=1)
LONGEST = dt.timedelta(days=31)
"""A warning must be renewed (an Update) at least monthly."""


def issue(session: Session, incident_id: int, caller: Identity, body: WarningIn, now: dt.datetime,
          settings: Settings, url_of: str | None = None) -> IssuedWarning:
    """Issue ``body`` for the incident; ``url_of`` is the public document URL with ``{identifier}`` in it (the
    document's ``web``). The caller commits."""
    incident = queries.get(session, incident_id, caller)
    if COMMAND.isdisjoint(caller.roles):
        raise role_needed("warn", COMMAND, "issuing a warning")
    if not visibility.commands(session, incident, caller):
        raise visibility.not_commanding("warn")
    log.lock(session, [incident.id])  # the series is read and extended under the incident's lock: one Alert in force
    sent = now.astimezone(dt.UTC).replace(microsecond=0)
    series = _series(session, incident.id)
    references = _references(incident, series, body.msg_type, sent)
    expires = _expires(body, sent, settings)
    area = areas.of_incident(session, incident, settings.cap_admin_code)
    message = compose.Message(
        identifier="", sender=identifiers.sender(settings), sender_name=settings.cap_sender_name, sent=sent,
        status="Exercise" if incident.exercise else "Actual", msg_type=body.msg_type, references=references,
        incident_number=incident.number, category=mapping.category(incident.category, incident.type),
        incident_category=incident.category, event=incident.type, grade=incident.grade,
        warning_level=incident.warning_level, response_level=incident.response_level, headline=body.headline,
        description=body.description, instruction=body.instruction, expires=expires, web=None, area=area)
    row = _store(session, message, settings, url_of, incident, caller)
    for earlier in series:
        if earlier.superseded_at is None and body.msg_type != "Alert":
            earlier.superseded_at = sent
    log.add(session, incident, caller, kind="warning", now=now, from_state=incident.state, text=body.headline,
            payload={"identifier": row.identifier, "msg_type": row.msg_type, "status": row.status,
                     "expires": expires.isoformat(), **({"references": references} if references else {})})
    return row


def _series(session: Session, incident_id: int) -> list[IssuedWarning]:
    """The incident's messages since its last Alert, oldest first (empty before its first Alert)."""
    rows = list(session.scalars(select(IssuedWarning).where(IssuedWarning.incident_id == incident_id)
                                .order_by(IssuedWarning.sent, IssuedWarning.identifier)))
    starts = [i for i, w in enumerate(rows) if w.msg_type == "Alert"]
    return rows[starts[-1]:] if starts else []


def _references(incident: Incident, series: list[IssuedWarning], msg_type: str, sent: dt.datetime) -> str | None:
    latest = series[-1] if series else None
    closed = incident.state in CLOSED_STATES
    if msg_type == "Alert":
        if closed:
            raise WarningConflict(f"incident {incident.number} is closed: no new alert", code="incident_closed",
                                  params={"state": incident.state})
        if latest is not None and latest.msg_type != "Cancel" and latest.expires > sent:
            raise WarningConflict(f"warning {latest.identifier} is in force: issue an Update or a Cancel",
                                  code="warning_in_force", params={"identifier": latest.identifier})
        return None
    if latest is None:
        raise WarningConflict(f"an {msg_type} refers to an earlier Alert, and incident {incident.number} has none",
                              code="no_alert", params={"msg_type": msg_type})
    if latest.msg_type == "Cancel":
        raise WarningConflict(f"the incident's warning was cancelled ({latest.identifier}): issue a new Alert",
                              code="warning_cancelled", params={"identifier": latest.identifier})
    if msg_type == "Update" and closed:
        raise WarningConflict(f"incident {incident.number} is closed: cancel its warning instead",
                              code="incident_closed", params={"state": incident.state})
    return " ".join(f"{w.sender},{w.identifier},{w.sent_text}" for w in series)


def _expires(body: WarningIn, sent: dt.datetime, settings: Settings) -> dt.datetime:
    if body.expires is None:
        if body.msg_type != "Cancel":
            raise Invalid("expires is required for an Alert or Update", code="missing_field",
                          params={"field": "expires"})
        return sent + CANCEL_EXPIRES
    expires = body.expires
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=ZoneInfo(settings.timezone))
    expires = expires.astimezone(dt.UTC).replace(microsecond=0)
    if expires <= sent:
        raise Invalid("expires must lie after the time the warning is sent", code="expires_in_past",
                      params={"field": "expires"})
    if expires > sent + LONGEST:
        raise Invalid(f"expires may lie at most {LONGEST.days} days ahead; renew the warning with an Update",
                      code="expires_too_far", params={"field": "expires"})
    return expires


def _store(session: Session, message: compose.Message, settings: Settings, url_of: str | None,
           incident: Incident, caller: Identity) -> IssuedWarning:
    """Take the second's next free sequence number N (0–9): the unique identifier settles a race between two
    issuers in one savepoint each; ten in one second is refused (try again a second later)."""
    prefix = identifiers.second_prefix(settings, message.sent)
    taken = {int(i[-1]) for i in session.scalars(select(IssuedWarning.identifier)
                                                 .where(IssuedWarning.identifier.startswith(prefix)))}
    for n in range(max(taken, default=-1) + 1, 10):
        message.identifier = identifiers.identifier(settings, message.sent, n)
        message.web = url_of.format(identifier=message.identifier) if url_of else None
        document = compose.document(message)
        if signing.enabled(settings):
            document = signing.sign(document, settings)
        try:
            xsd.validate(safe.parse(document))
        except CapRefused as exc:  # our own document: a failure here is our bug, never the caller's
            raise RuntimeError(f"an issued CAP document failed validation: {exc.message}") from exc
        row = IssuedWarning(
            incident_id=incident.id, identifier=message.identifier, sender=message.sender, sent=message.sent,
            sent_text=identifiers.cap_time(message.sent), status=message.status, msg_type=message.msg_type,
            references=message.references, headline=message.headline, description=message.description,
            instruction=message.instruction, expires=message.expires, areas=message.area.geojson,
            document=document.decode("utf-8"), signed=signing.enabled(settings), exercise=incident.exercise,
            created_by=caller.user_id, actor=caller.name)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            continue
        return row
    raise WarningConflict("ten warnings were issued in this second already; try again in a second",
                          code="identifier_sequence_full", params={"prefix": prefix})
