"""Issued and received warnings as the API shows them (plain dicts; areas as GeoJSON for the map)."""

from __future__ import annotations

import datetime as dt

from liandong.emergency.cap import issued, receive
from liandong.emergency.cap.models import IssuedWarning, ReceivedWarning
from liandong.emergency.models import Incident


def _at(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t else None


def issued_dict(w: IssuedWarning, incident: Incident, now: dt.datetime, url: str) -> dict:
    return {"id": w.id, "identifier": w.identifier, "url": url,
            "incident": {"id": incident.id, "number": incident.number, "title": incident.title,
                         "state": incident.state, "exercise": incident.exercise},
            "status": w.status, "msg_type": w.msg_type, "state": issued.state_at(w, now), "sender": w.sender,
            "sent": _at(w.sent), "expires": _at(w.expires), "superseded_at": _at(w.superseded_at),
            "headline": w.headline, "description": w.description, "instruction": w.instruction,
            "references": w.references.split() if w.references else [], "signed": w.signed, "actor": w.actor,
            "areas": w.areas}


def received_dict(r: ReceivedWarning, now: dt.datetime, *, full: bool = False) -> dict:
    out = {"id": r.id, "identifier": r.identifier, "sender": r.sender, "sent": _at(r.sent), "version": r.version,
           "status": r.status, "msg_type": r.msg_type, "scope": r.scope, "state": receive.state_at(r, now),
           "superseded_by": r.superseded_by, "references": r.references.split() if r.references else [],
           "headline": r.headline, "event": r.event, "sender_name": r.sender_name, "urgency": r.urgency,
           "severity": r.severity, "certainty": r.certainty, "expires": _at(r.expires), "source": r.source,
           "received_at": _at(r.received_at), "areas": r.areas, "infos": r.infos}
    if full:
        out["document"] = r.document
    return out
