"""Incident endpoints (thin router): report, list, read, act, the command log, cases, the 五早 figures, plan
activation and the incident's tasks. ``router`` also carries the plan library's and the tasks' own routes
(``plans_api.py``, ``tasks_api.py``), so the app includes the emergency domain as one router."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, get_session, request_time
from liandong.emergency import actions, five_early, intake, log, plans_api, present, queries, states, tasks, tasks_api
from liandong.emergency.payloads import CaseLinkIn, IncidentIn, LogEntryIn

incidents = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
IncidentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _limit(request: Request) -> int:
    return request.app.state.settings.incident_report_limit_minutes


@incidents.post("", status_code=201, summary="Report an incident (突发事件), or raise a case into one (`case_id`)")
def report(body: IncidentIn, request: Request, principal: Principal = Depends(current_principal),
           session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    caller = principal.identity
    incident = intake.open_incident(session, request.app.state.grid_index.get(session), caller, body, now)
    return JSONResponse(present.incident_dict(session, incident, caller, now, _limit(request)), status_code=201)


@incidents.get("", summary="Incidents visible to the caller, newest first")
def list_incidents(request: Request,
                   state: str | None = Query(None, max_length=16, description=" | ".join(states.STATES)),
                   category: str | None = Query(None, max_length=16, description=" | ".join(states.CATEGORIES)),
                   exercise: bool | None = None,
                   open_only: bool = Query(False, alias="open", description="only the incidents not closed"),
                   limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**7),
                   principal: Principal = Depends(current_principal),
                   session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    rows, total = queries.page(session, principal.identity, state=state, category=category, exercise=exercise,
                               open_only=open_only, limit=limit, offset=offset)
    return {"total": total, "items": present.briefs(session, rows, now, _limit(request))}


@incidents.get("/five-early", summary="五早 intervals of the period's incidents by category or town")
def five_early_figures(request: Request, date_from: dt.date | None = Query(None, description="default: 30 days ago"),
                       date_to: dt.date | None = Query(None, description="default: today (local days)"),
                       by: str = Query("category", max_length=16, description=" | ".join(five_early.GROUPINGS)),
                       exercise: bool = Query(False, description="the exercises' figures instead of the real ones"),
                       principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
                       now: dt.datetime = Depends(request_time)):
    return five_early.figures(session, principal.identity, date_from, date_to, by, exercise, now, _limit(request))


@incidents.get("/{incident_id}", summary="One incident with its allowed actions and 五早 clock")
def get_incident(request: Request, incident_id: IncidentId, principal: Principal = Depends(current_principal),
                 session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    incident = queries.get(session, incident_id, principal.identity)
    return present.incident_dict(session, incident, principal.identity, now, _limit(request))


PAYLOADS = ("The action's payload, checked by its model (422 names the field at fault). Every action takes "
            "`version` (a stale one is refused with 409 `stale`), `note` and `reason`; `verify` takes `grade` and "
            "`warning_level`, `regrade` at least one of `grade`, `warning_level`, `response_level`. Required: "
            + "; ".join(f"`{name}`: {', '.join(fields)}" for name, fields in actions.NEEDS.items()) + ".")


@incidents.post("/{incident_id}/actions/{action}",
                summary="Act on an incident; a refusal has a `code`, and 409 names the allowed actions")
def act(request: Request, incident_id: IncidentId,
        action: Annotated[str, Path(max_length=32, description=" | ".join(actions.NAMES))],
        payload: dict | None = Body(default=None, description=PAYLOADS),
        principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
        now: dt.datetime = Depends(request_time)):
    incident = actions.act(session, incident_id, action, principal.identity, payload or {}, now,
                           request.app.state.grid_index.get(session))
    return present.incident_dict(session, incident, principal.identity, now, _limit(request))


@incidents.get("/{incident_id}/log", summary="The log (actions, command-log entries, task events), oldest first")
def read_log(incident_id: IncidentId, principal: Principal = Depends(current_principal),
             session: Session = Depends(get_session)):
    incident = queries.get(session, incident_id, principal.identity)
    entries = log.entries(session, incident.id)
    names = present.actor_names(session, entries)
    return [present.event_dict(e, names) for e in entries]


@incidents.post("/{incident_id}/log", status_code=201, summary="Add a decision, order, situation report or note")
def write_log(body: LogEntryIn, incident_id: IncidentId, principal: Principal = Depends(current_principal),
              session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    incident = queries.get(session, incident_id, principal.identity)
    entry = log.write(session, incident, principal.identity, body.kind, body.text, now)
    return present.event_dict(entry, present.actor_names(session, [entry]))


@incidents.post("/{incident_id}/cases", summary="Link a further case to the incident (the case's log records it)")
def link_case(request: Request, body: CaseLinkIn, incident_id: IncidentId,
              principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
              now: dt.datetime = Depends(request_time)):
    incident = actions.act(session, incident_id, "link_case", principal.identity,
                           body.model_dump(exclude_none=True), now)
    return present.incident_dict(session, incident, principal.identity, now, _limit(request))


@incidents.post("/{incident_id}/plans/{code}/activate",
                summary="Activate a plan at a response level (commander, leader): tasks for real units, notices; "
                        "again at a higher level raises it")
def activate_plan(request: Request, incident_id: IncidentId,
                  code: Annotated[str, Path(max_length=40, description="plan code, e.g. typhoon-flood")],
                  payload: dict | None = Body(default=None, description="`response_level` (1–4, 1 the highest); "
                                                                      "optional `version`, `note`"),
                  principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
                  now: dt.datetime = Depends(request_time)):
    incident = actions.activate(session, incident_id, code, principal.identity, payload or {}, now)
    return {**present.incident_dict(session, incident, principal.identity, now, _limit(request)),
            "activation": present.last_event(session, incident)}


@incidents.get("/{incident_id}/tasks", summary="The incident's plan tasks, with what the caller may do on each")
def list_tasks(incident_id: IncidentId,
               state: str | None = Query(None, max_length=16, description=" | ".join(states.TASK_STATES)),
               mine: bool = Query(False, description="only the tasks of the caller's unit and the units it heads"),
               limit: int = Query(500, ge=1, le=5000), offset: int = Query(0, ge=0, le=10**7),
               principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
               now: dt.datetime = Depends(request_time)):
    incident = queries.get(session, incident_id, principal.identity)
    rows, total = tasks.page(session, incident, principal.identity, state=state, mine=mine, limit=limit,
                             offset=offset)
    return {"total": total, "items": present.task_list(session, rows, principal.identity, now)}


router = APIRouter()
"""The emergency domain's routes: incidents, plans, tasks."""
for _part in (incidents, plans_api.router, tasks_api.router):
    router.include_router(_part)
