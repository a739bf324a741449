"""Disputes: registering one (the one way a report becomes a dispute row and its first event), reading them within
the caller's sight (the case rule: the dispute's grid in the caller's jurisdiction), the 三单 views and the log.
The place, number, sight and log numbering are the helpers hazards use (``hazards.py``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from liandong import audit
from liandong.areas.index import GridIndex, place
from liandong.auth.identity import Identity
from liandong.cases.visibility import Viewer
from liandong.errors import Invalid, NotFound
from liandong.screening import dispute_states as ds
from liandong.screening.dispute_models import Dispute, DisputeEvent
from liandong.screening.dispute_payloads import DisputeIn
from liandong.screening.registers import Spec, needs, number, opened, seen, within

if TYPE_CHECKING:
    from liandong.screening.register_batch import Batch


def missing(dispute_id: int) -> NotFound:
    return NotFound(f"dispute {dispute_id} not found", code="dispute_not_found", params={"dispute_id": dispute_id})


SPEC = Spec("dispute", Dispute, DisputeEvent, "dispute_id", missing)


def visible(stmt, caller: Identity):
    return within(stmt, caller, Dispute)


def sees(viewer: Viewer, dispute: Dispute) -> bool:
    return seen(viewer, dispute.area_path)


def open_dispute(session: Session, index: GridIndex, caller: Identity, body: DisputeIn, now: dt.datetime,
                 batch: Batch | None = None) -> Dispute:
    """Register a dispute (state ``registered``: 挂单 on the problem list); the caller commits. A ``batch``
    (``register_batch.py``) numbers it from the day's count it keeps and holds its event until its flush."""
    needs(ds.REPORT_ROLES, caller, "create")
    grid, lon, lat = place(index, body.lon, body.lat, body.crs, caller.scope)
    taken = batch.numbers if batch is not None else None
    dispute = Dispute(number=number(session, Dispute, "MD", now, taken), title=body.title, type=body.type,
                      risk=body.risk, tier=body.tier, description=body.description,
                      parties=[p.model_dump(exclude_none=True) for p in body.parties], lon=lon, lat=lat,
                      grid_id=grid.id, area_path=grid.path, mediator=body.mediator, state="registered",
                      created_at=now, created_by=caller.user_id, updated_at=now)
    opened(session, SPEC, dispute, caller,
           {"type": body.type, "risk": body.risk, "tier": body.tier, "parties": len(body.parties)}, now, batch)
    audit.record(session, "dispute_created", actor_id=caller.user_id, actor_name=caller.name,
                 target=f"dispute:{dispute.id}", detail={"number": dispute.number})
    return dispute


def get(session: Session, dispute_id: int, caller: Identity) -> Dispute:
    dispute = session.scalar(visible(select(Dispute).where(Dispute.id == dispute_id), caller))
    if dispute is None:
        raise missing(dispute_id)
    return dispute


def page(session: Session, caller: Identity, *, state: str | None = None, type: str | None = None,
         risk: str | None = None, tier: str | None = None, list_name: str | None = None, q: str | None = None,
         limit: int = 50, offset: int = 0) -> tuple[list[Dispute], int]:
    """The visible disputes matching the filters (``list_name``: one of the 三单), newest first, and the total."""
    stmt = visible(select(Dispute), caller)
    for name, value, allowed in (("state", state, ds.STATES), ("type", type, ds.TYPES), ("risk", risk, ds.RISKS),
                                 ("tier", tier, ds.TIERS)):
        if value is not None:
            if value not in allowed:
                raise Invalid(f"{name} must be one of {', '.join(allowed)}", code=f"unknown_{name}",
                              params={name: value})
            stmt = stmt.where(getattr(Dispute, name) == value)
    if list_name is not None:
        if list_name not in ds.LISTS:
            raise Invalid(f"list must be one of {', '.join(ds.LISTS)}", code="unknown_list", params={"list": list_name})
        stmt = stmt.where(Dispute.state.in_(ds.LISTS[list_name]))
    if q:
        stmt = stmt.where(or_(Dispute.title.contains(q.strip(), autoescape=True),
                              Dispute.number.contains(q.strip(), autoescape=True)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(Dispute.created_at.desc(), Dispute.id.desc()).limit(limit).offset(offset))
    return list(rows), int(total or 0)


def entries(session: Session, dispute_id: int) -> list[DisputeEvent]:
    return list(session.scalars(select(DisputeEvent).where(DisputeEvent.dispute_id == dispute_id)
                                .order_by(DisputeEvent.seq)))
