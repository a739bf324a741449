"""Hazards as the API shows them: the row, place, responsible unit, 五落实, the reporter masked unless the caller's
role calls reporters back (an unmasked read is audited), the reward decision, the linked case, evidence photos and
the history from the log, and the actions the caller may take now."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.auth.models import User
from liandong.cases.models import Case
from liandong.privacy import mask_name, mask_phone, reads_unmasked
from liandong.screening import hazard_actions, hazards
from liandong.screening import hazard_states as hs
from liandong.screening.hazard_models import Hazard, HazardEvent
from liandong.units.models import Unit


def _at(t) -> str | None:
    return t.isoformat() if t else None


def brief(h: Hazard) -> dict:
    """A hazard in a list (no personal data)."""
    return {"id": h.id, "number": h.number, "title": h.title, "sector": h.sector, "type": h.type, "grade": h.grade,
            "state": h.state, "version": h.version, "lon": h.lon, "lat": h.lat,
            "deadline": h.deadline.isoformat() if h.deadline else None, "reward_wanted": h.reward_wanted,
            "rewarded": h.reward_amount is not None, "case_id": h.case_id, "created_at": _at(h.created_at),
            "closed_at": _at(h.closed_at)}


def event_dict(e: HazardEvent) -> dict:
    return {"seq": e.seq, "at": _at(e.at), "actor": e.actor, "action": e.action, "from_state": e.from_state,
            "to_state": e.to_state, "payload": e.payload}


def hazard_dict(session: Session, h: Hazard, caller: Identity) -> dict:
    unmasked = reads_unmasked(session, caller, hs.UNMASKED_ROLES, f"hazard:{h.id}", ("reporter_name", "reporter_phone"),
                              has_data=bool(h.reporter_name or h.reporter_phone))
    grid = session.execute(select(Area.code, Area.name).where(Area.id == h.grid_id)).first()
    unit = session.get(Unit, h.responsible_unit_id) if h.responsible_unit_id else None
    case = session.get(Case, h.case_id) if h.case_id else None
    approver = session.get(User, h.reward_by) if h.reward_by else None
    events = hazards.entries(session, h.id)
    evidence = [ref for e in events for ref in e.payload.get("evidence", [])]
    return {
        **brief(h), "description": h.description, "grid_code": grid.code if grid else None,
        "grid_name": grid.name if grid else None,
        "responsible_unit": {"id": unit.id, "name": unit.name} if unit else None,
        "five": {f: (getattr(h, f).isoformat() if f == "deadline" and h.deadline else getattr(h, f))
                 for f in hs.FIVE},
        "five_missing": hazards.missing_five({f: getattr(h, f) for f in hs.FIVE}),
        "reporter": {"kind": h.reporter_kind,
                     "name": h.reporter_name if unmasked else mask_name(h.reporter_name),
                     "phone": h.reporter_phone if unmasked else mask_phone(h.reporter_phone),
                     "masked": not unmasked},
        "reward": {"wanted": h.reward_wanted, "amount": h.reward_amount,
                   "approver": approver.username if approver else None, "paid": h.reward_paid},
        "case": {"id": case.id, "number": case.number, "state": case.state} if case else None,
        "evidence": evidence,
        "history": [event_dict(e) for e in events],
        "updated_at": _at(h.updated_at),
        "allowed_actions": hazard_actions.allowed_for(h, caller),
        "needs": {a: list(f) for a, f in hazard_actions.NEEDS.items()},
    }
