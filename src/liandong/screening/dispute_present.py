"""Disputes as the API shows them: parties masked unless the caller's role calls them (an unmasked read is
audited), the tier, mediator, outcome, the linked incident, the history (mediation records, callbacks) from the
log, the 三单 list it stands on, and the actions the caller may take now."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.emergency.models import Incident
from liandong.privacy import mask_id_number, mask_name, mask_phone, reads_unmasked
from liandong.screening import dispute_actions, disputes
from liandong.screening import dispute_states as ds
from liandong.screening.dispute_models import Dispute, DisputeEvent


def _at(t) -> str | None:
    return t.isoformat() if t else None


def list_of(state: str) -> str | None:
    return next((name for name, states in ds.LISTS.items() if state in states), None)


def brief(x: Dispute) -> dict:
    """A dispute in a list (no personal data)."""
    return {"id": x.id, "number": x.number, "title": x.title, "type": x.type, "risk": x.risk, "tier": x.tier,
            "state": x.state, "list": list_of(x.state), "version": x.version, "lon": x.lon, "lat": x.lat,
            "mediator": x.mediator, "outcome": x.outcome, "incident_id": x.incident_id,
            "parties": len(x.parties or []), "created_at": _at(x.created_at), "closed_at": _at(x.closed_at)}


def event_dict(e: DisputeEvent) -> dict:
    return {"seq": e.seq, "at": _at(e.at), "actor": e.actor, "action": e.action, "from_state": e.from_state,
            "to_state": e.to_state, "payload": e.payload}


def parties(x: Dispute, unmasked: bool) -> list[dict]:
    if unmasked:
        return [{"name": p.get("name"), "phone": p.get("phone"), "id_number": p.get("id_number")}
                for p in x.parties or []]
    return [{"name": mask_name(p.get("name")), "phone": mask_phone(p.get("phone")),
             "id_number": mask_id_number(p.get("id_number"))} for p in x.parties or []]


def dispute_dict(session: Session, x: Dispute, caller: Identity) -> dict:
    unmasked = reads_unmasked(session, caller, ds.UNMASKED_ROLES, f"dispute:{x.id}",
                              ("party_name", "party_phone", "party_id_number"), has_data=bool(x.parties))
    grid = session.execute(select(Area.code, Area.name).where(Area.id == x.grid_id)).first()
    incident = session.get(Incident, x.incident_id) if x.incident_id else None
    return {
        **brief(x), "description": x.description, "grid_code": grid.code if grid else None,
        "grid_name": grid.name if grid else None, "parties": parties(x, unmasked), "parties_masked": not unmasked,
        "incident": {"id": incident.id, "number": incident.number, "state": incident.state} if incident else None,
        "history": [event_dict(e) for e in disputes.entries(session, x.id)], "updated_at": _at(x.updated_at),
        "allowed_actions": dispute_actions.allowed_for(x, caller),
        "needs": {a: list(f) for a, f in dispute_actions.NEEDS.items()},
    }
