"""Receiving CAP messages: the one service that writes ``cap_received``.

A document is refused whole (400 with the element at fault) unless it is safe XML (``safe.py``), valid against
the schema of its version (``xsd.py``) and CAP's own rules (``rules.py``). A message is stored once per
(sender, identifier, sent): the unique key settles two processes receiving it at once (the second finds the first's
row). Updates and Cancels mark the messages of the same sender they reference as ``updated`` / ``cancelled``;
one arriving before its Alert (feeds are not ordered) marks the Alert when it comes. Another sender cannot
update or cancel someone's alert.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from liandong import audit
from liandong.auth.identity import Identity
from liandong.emergency.cap import rules, safe, xsd
from liandong.emergency.cap.identifiers import parse_time
from liandong.emergency.cap.models import ReceivedWarning
from liandong.errors import Invalid, NotFound, TooLarge, role_needed

IMPORT_ROLES = frozenset({"admin", "commander", "leader", "shift_leader"})
"""Who may upload CAP documents: the command centre's leading roles and administrators."""
STATES = ("active", "expired", "updated", "cancelled", "notice")
SHOWN = frozenset({"Alert", "Update"})


def may_import(caller: Identity) -> None:
    if IMPORT_ROLES.isdisjoint(caller.roles):
        raise role_needed("cap_import", IMPORT_ROLES, "importing CAP")


def receive(session: Session, data: bytes, *, source: str, now: dt.datetime, max_bytes: int,
            caller: Identity | None = None) -> tuple[ReceivedWarning, bool]:
    """Store the document ``data`` unless stored already: (the row, whether it is new). The caller commits."""
    if len(data) > max_bytes:
        raise TooLarge(f"the document has {len(data)} bytes; at most {max_bytes} are accepted",
                       code="cap_too_large", params={"max_bytes": max_bytes})
    root = safe.parse(data)
    namespace = xsd.namespace_of(root)
    version = xsd.validate(root)
    alert = rules.read(root, namespace)
    found = _find(session, alert.sender, alert.identifier, alert.sent)
    if found is not None:
        return found, False
    main = _main_info(alert.infos)
    expiries = [i["expires"] for i in alert.infos]
    row = ReceivedWarning(
        sender=alert.sender, identifier=alert.identifier, sent=alert.sent, sent_text=alert.sent_text[:40],
        version=version, status=alert.status, msg_type=alert.msg_type, scope=alert.scope,
        references=alert.references_text, state="active" if alert.msg_type in SHOWN else "notice",
        headline=_cut(main.get("headline")), event=_cut(main.get("event")), sender_name=_cut(main.get("sender_name")),
        severity=main.get("severity"), urgency=main.get("urgency"), certainty=main.get("certainty"),
        expires=max(parse_time(e) for e in expiries) if expiries and all(expiries) else None,
        infos=alert.infos, areas={"type": "FeatureCollection", "features": alert.features},
        document=_text(data, root), source=source[:500], received_at=now,
        received_by=caller.user_id if caller else None)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # another process stored it meanwhile
        found = _find(session, alert.sender, alert.identifier, alert.sent)
        if found is None:
            raise
        return found, False
    _apply(session, row, alert.references)
    _applied_before(session, row)
    audit.record(session, "cap_imported", actor_id=caller.user_id if caller else None,
                 actor_name=caller.name if caller else "cap-poller", target=f"cap:{row.id}",
                 detail={"sender": row.sender, "identifier": row.identifier, "msg_type": row.msg_type,
                         "status": row.status, "source": row.source})
    return row, True


def _find(session: Session, sender: str, identifier: str, sent: dt.datetime) -> ReceivedWarning | None:
    return session.scalar(select(ReceivedWarning).where(ReceivedWarning.sender == sender,
                                                        ReceivedWarning.identifier == identifier,
                                                        ReceivedWarning.sent == sent))


def _main_info(infos: list[dict]) -> dict:
    """The info block the lists show: the first in Chinese, else the first."""
    for info in infos:
        if info["language"].lower().startswith("zh"):
            return info
    return infos[0] if infos else {}


def _cut(value: str | None, size: int = 500) -> str | None:
    return value[:size] if value else value


def _text(data: bytes, root) -> str:
    encoding = root.getroottree().docinfo.encoding or "utf-8"
    try:
        return data.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return data.decode("utf-8", errors="replace")


def _apply(session: Session, row: ReceivedWarning, references: list[rules.Reference]) -> None:
    """An Update or Cancel marks the messages it references (of its own sender)."""
    if row.msg_type not in ("Update", "Cancel"):
        return
    own = [r for r in references if r.sender == row.sender]
    if not own:
        return
    targets = session.scalars(select(ReceivedWarning).where(
        ReceivedWarning.sender == row.sender, ReceivedWarning.identifier.in_({r.identifier for r in own}),
        ReceivedWarning.id != row.id))
    keys = {(r.identifier, r.sent) for r in own}
    for target in targets:
        if (target.identifier, target.sent) in keys:
            _mark(target, row)


def _mark(target: ReceivedWarning, by: ReceivedWarning) -> None:
    if by.msg_type == "Cancel" and target.state in ("active", "updated"):
        target.state, target.superseded_by = "cancelled", by.id
    elif by.msg_type == "Update" and target.state == "active":
        target.state, target.superseded_by = "updated", by.id


def _applied_before(session: Session, row: ReceivedWarning) -> None:
    """An Update or Cancel of this message that came before it marks it now."""
    if row.state != "active":
        return
    later = session.scalars(select(ReceivedWarning).where(
        ReceivedWarning.sender == row.sender, ReceivedWarning.msg_type.in_(("Update", "Cancel")),
        ReceivedWarning.references.contains(f"{row.sender},{row.identifier},", autoescape=True),
        ReceivedWarning.id != row.id).order_by(ReceivedWarning.sent))
    for other in later:
        refs = rules.parse_references(other.references)
        if any(r.identifier == row.identifier and r.sent == row.sent for r in refs):
            _mark(row, other)


def known_sources(session: Session, urls: list[str]) -> set[str]:
    """Which of the document URLs were received already (a poll need not fetch them again)."""
    if not urls:
        return set()
    return set(session.scalars(select(ReceivedWarning.source).where(ReceivedWarning.source.in_(urls))))


def state_at(row: ReceivedWarning, now: dt.datetime) -> str:
    """The message's state now: ``expired`` once an active message's expiry is past."""
    if row.state == "active" and row.expires is not None and row.expires <= now:
        return "expired"
    return row.state


def page(session: Session, now: dt.datetime, *, state: str | None = None, status: str | None = None,
         limit: int = 100, offset: int = 0) -> tuple[list[ReceivedWarning], int]:
    """Received messages newest first; ``state`` ``active`` (in force now) or ``expired`` (no longer: expired,
    updated or cancelled), or one of ``STATES``; ``status`` a CAP status (Actual, Exercise…)."""
    stmt = select(ReceivedWarning)
    in_force = (ReceivedWarning.state == "active") & or_(ReceivedWarning.expires.is_(None),
                                                          ReceivedWarning.expires > now)
    if state == "active":
        stmt = stmt.where(in_force)
    elif state == "expired":
        stmt = stmt.where(ReceivedWarning.state.in_(("active", "updated", "cancelled")), ~in_force)
    elif state in ("updated", "cancelled", "notice"):
        stmt = stmt.where(ReceivedWarning.state == state)
    elif state is not None:
        raise Invalid(f"state must be one of {', '.join(STATES)}", code="unknown_state", params={"state": state})
    if status is not None:
        stmt = stmt.where(ReceivedWarning.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(ReceivedWarning.sent.desc(), ReceivedWarning.id.desc())
                           .limit(limit).offset(offset))
    return list(rows), int(total or 0)


def get(session: Session, received_id: int) -> ReceivedWarning:
    row = session.get(ReceivedWarning, received_id)
    if row is None:
        raise NotFound(f"received warning {received_id} not found", code="cap_not_found",
                       params={"id": received_id})
    return row
