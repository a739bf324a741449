"""Notification endpoints: a unit's in-app notices addressed to the caller's roles (overdue stages, urging, an
incident's plan and tasks), grouped per case or incident, and marking them read one by one or in bulk."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, get_session, request_time
from liandong.cases import notifications as notices
from liandong.cases.payloads import Id

router = APIRouter(prefix="/api/v1/notifications", tags=["cases"])


class BulkRead(BaseModel):
    """Exactly one of: ``ids``, ``case_id``, ``incident_id``, ``all`` (true)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Id] | None = Field(default=None, min_length=1, max_length=notices.BULK_LIMIT)
    case_id: Id | None = None
    incident_id: Id | None = None
    everything: bool = Field(default=False, alias="all", strict=True)

    @model_validator(mode="after")
    def _one(self) -> BulkRead:
        given = [self.ids is not None, self.case_id is not None, self.incident_id is not None, self.everything]
        if sum(given) != 1:
            raise ValueError("give exactly one of ids, case_id, incident_id, all")
        return self


@router.get("", summary="Notices for the caller's unit addressed to the caller's roles, newest first")
def notifications(unread: bool = False, limit: int = Query(50, ge=1, le=500),
                  principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return notices.for_unit(session, principal.unit_id, unread=unread, limit=limit, roles=principal.roles)


@router.get("/groups", summary="The notices per case or incident (one row each: count, newest wording, drill mark)")
def groups(unread: bool = True, limit: int = Query(20, ge=1, le=200),
           principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return notices.groups(session, principal.unit_id, roles=principal.roles, unread=unread, limit=limit)


@router.get("/unread-count", summary="How many notices of real work wait unread (the badge; a drill's are counted "
                                     "apart in `/groups`)")
def unread_count(principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return {"unread": notices.unread_count(session, principal.unit_id, principal.roles)}


@router.post("/read", summary="Mark read in bulk: `ids`, or all of a `case_id` or `incident_id`, or `all`: true")
def mark_many_read(body: BulkRead, principal: Principal = Depends(current_principal),
                   session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    n = notices.mark_many_read(session, principal.unit_id, now, roles=principal.roles, ids=body.ids,
                               case_id=body.case_id, incident_id=body.incident_id, everything=body.everything)
    return {"read": n}


@router.post("/{notification_id}/read", status_code=204, summary="Mark a notice read")
def mark_read(notification_id: Annotated[int, Path(ge=1, le=2**31)], principal: Principal = Depends(current_principal),
              session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    notices.mark_read(session, principal.unit_id, notification_id, now, roles=principal.roles)
