"""Case endpoints (thin router): report, read, events, routing proposal, actions."""

import datetime as dt
from collections.abc import Iterator

from fastapi import APIRouter, Body, Depends, File, Form, Header, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, current_principal, get_session, request_time
from liandong.auth.identity import Identity
from liandong.cases import actions, attachments, intake, payloads, present, queries, routing, states

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


def actor_of(principal: Principal) -> Identity:
    return Identity(roles=frozenset(principal.roles), unit_id=principal.unit_id, scope=principal.scope,
                         user_id=principal.user_id, username=principal.username,
                         assigned_only=principal.assigned_only)


class Reporter(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    id_number: str | None = Field(default=None, max_length=18, description="resident ID number (GB 11643)")


class CaseIn(BaseModel):
    matter_code: str = Field(min_length=1, max_length=16)
    description: str = Field(min_length=1, max_length=2000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: str = Field(default="wgs84", max_length=16)
    channel: str = Field(description=" | ".join(states.CHANNELS))
    urgency: str | None = Field(default=None, description="normal | urgent (default: the matter's)")
    reporter: Reporter | None = None
    component_code: str | None = Field(default=None, max_length=17, description="the 部件 a component case is about")


@router.post("", status_code=201, summary="Report a case (any channel); Idempotency-Key makes retries safe")
def report(body: CaseIn, request: Request,
           idempotency_key: str | None = Header(default=None, max_length=100),
           principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
           now: dt.datetime = Depends(request_time)):
    actor = actor_of(principal)
    index = request.app.state.grid_index.get(session)
    cal = request.app.state.calendar.get(session)
    data = body.model_dump()
    data["reporter"] = body.reporter.model_dump(exclude_none=True) if body.reporter else None
    opened = intake.open_case(session, index, actor, idempotency_key=idempotency_key, now=now, calendar=cal,
                              settings=request.app.state.settings, **data)
    out = present.case_dict(session, opened.case, actor, cal, now, fresh=opened.created)
    return JSONResponse(out, status_code=201 if opened.created else 200)  # already JSON-ready: skip the encoder


def case_query(
    state: str | None = Query(None, max_length=16), channel: str | None = Query(None, max_length=24),
    matter: str | None = Query(None, max_length=16), area: str | None = Query(None, max_length=32),
    unit_id: int | None = Query(None, ge=1, le=2**31), overdue: bool | None = None,
    light: str | None = Query(None, description="green | yellow | red"),
    created_from: dt.date | None = None, created_to: dt.date | None = None,
    q: str | None = Query(None, max_length=100),
    mine: bool = Query(False, description="only the cases waiting for my action"),
    sort: str = Query("-created_at", description=" | ".join(queries.SORTS)),
) -> queries.CaseQuery:
    return queries.CaseQuery(state=state, channel=channel, matter_code=matter, area_code=area, unit_id=unit_id,
                             overdue=overdue, light=light, created_from=created_from, created_to=created_to, q=q,
                             mine=mine, sort=sort)


@router.get("", summary="Cases visible to the caller: filters, sorting, paging")
def list_cases(request: Request, query: queries.CaseQuery = Depends(case_query),
               limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**7),
               principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
               now: dt.datetime = Depends(request_time)):
    actor = actor_of(principal)
    cal = request.app.state.calendar.get(session)
    rows, total = queries.list_cases(session, actor, query, limit=limit, offset=offset, calendar=cal, now=now)
    items = [present.case_dict(session, c, actor, cal, now) for c in rows]
    return {"total": total, "items": items}


@router.get("/export.csv", summary="The matching cases as CSV (reporters masked)")
def export(request: Request, query: queries.CaseQuery = Depends(case_query),
           principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
           now: dt.datetime = Depends(request_time)):
    own = request.app.state.sessionmaker()  # the stream outlives the request's unit of work: its own session
    try:
        chunks = queries.export_csv(own, actor_of(principal), query, request.app.state.calendar.get(session), now)
    except Exception:
        own.close()
        raise

    def body() -> Iterator[str]:
        try:
            yield from chunks
        finally:
            own.close()

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="cases.csv"'})


@router.get("/{case_id}", summary="One case")
def get_case(request: Request, case_id: int = Path(ge=1, le=2**31),
             principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
             now: dt.datetime = Depends(request_time)):
    actor = actor_of(principal)
    case = queries.get(session, case_id, actor)
    out = present.case_dict(session, case, actor, request.app.state.calendar.get(session), now)
    return out


@router.get("/{case_id}/events", summary="The case's event log, oldest first")
def case_events(case_id: int = Path(ge=1, le=2**31), principal: Principal = Depends(current_principal),
                session: Session = Depends(get_session)):
    case = queries.get(session, case_id, actor_of(principal))
    events = queries.events(session, case)
    names = present.actor_names(session, events)
    return [present.event_dict(e, names) for e in events]


@router.get("/{case_id}/duplicates", summary="Open cases nearby about the same kind of problem (merge candidates)")
def case_duplicates(case_id: int = Path(ge=1, le=2**31), radius_m: float = Query(150, gt=0, le=5000),
                    hours: float = Query(72, gt=0, le=24 * 90), principal: Principal = Depends(current_principal),
                    session: Session = Depends(get_session)):
    actor = actor_of(principal)
    return queries.duplicates(session, queries.get(session, case_id, actor), actor, radius_m=radius_m, hours=hours)


@router.get("/{case_id}/routing", summary="Proposed lead and territorial units for dispatch (多网合一)")
def case_routing(request: Request, case_id: int = Path(ge=1, le=2**31),
                 principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    case = queries.get(session, case_id, actor_of(principal))
    return routing.propose(session, request.app.state.grid_index.get(session), case)


def _payloads_described() -> str:
    """Each action's payload fields, read from its model in the action table (``*``: required)."""
    common = set(payloads.Payload.model_fields)

    def fields(model: type[payloads.Payload]) -> str:
        own = [f"{n}{'*' if f.is_required() else ''}" for n, f in model.model_fields.items()
               if n not in common or f.is_required()]
        return ", ".join(own) or "—"

    return ("The action's payload, checked by its model (422 names the field at fault). Every action takes "
            "`version` (the case version the caller saw; a stale one is refused with 409), `note` and `reason` "
            "(text, at most 2000 characters); besides (`*`: required):\n\n"
            + "\n".join(f"- `{name}`: {fields(a.payload)}" for name, a in actions.TABLE.items()))


@router.post("/{case_id}/actions/{action}",
             summary="Act on a case; a refusal has a `code`, and 409 names the allowed actions")
def act(request: Request, action: str = Path(description=" | ".join(actions.NAMES)),
        case_id: int = Path(ge=1, le=2**31),
        payload: dict | None = Body(default=None, description=_payloads_described()),
        principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
        now: dt.datetime = Depends(request_time)):
    actor = actor_of(principal)
    index = request.app.state.grid_index.get(session)
    cal = request.app.state.calendar.get(session)
    case = actions.act(session, index, case_id, action, actor, payload or {}, now=now, calendar=cal)
    return present.case_dict(session, case, actor, cal, now)  # the request's unit of work commits


@router.post("/{case_id}/attachments", status_code=201,
             summary="Add a photo (JPEG, PNG or WebP; before/after); the same photo again answers 200 with the first")
def upload(request: Request, case_id: int = Path(ge=1, le=2**31), file: UploadFile = File(...),
           kind: str = Form("before"), principal: Principal = Depends(current_principal),
           session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    settings = request.app.state.settings
    data = file.file.read(settings.max_upload_bytes + 1)  # the form is parsed already: a spooled file, in a thread
    case = queries.get(session, case_id, actor_of(principal))
    row, path = attachments.add(session, case, data, file.filename or "", kind, principal.username,
                                principal.user_id, settings.uploads(), settings.max_upload_bytes, now)
    return JSONResponse(attachments.as_dict(row), status_code=201 if path else 200)


@router.get("/{case_id}/attachments", summary="The case's photos")
def list_attachments(case_id: int = Path(ge=1, le=2**31), principal: Principal = Depends(current_principal),
                     session: Session = Depends(get_session)):
    case = queries.get(session, case_id, actor_of(principal))
    return [attachments.as_dict(a) for a in attachments.list_for(session, case)]


@router.get("/{case_id}/attachments/{attachment_id}", summary="One photo's bytes")
def download(request: Request, case_id: int = Path(ge=1, le=2**31), attachment_id: int = Path(ge=1, le=2**31),
             principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    case = queries.get(session, case_id, actor_of(principal))
    a = attachments.get(session, case, attachment_id)
    return FileResponse(request.app.state.settings.uploads() / a.stored_as, media_type=a.content_type,
                        headers={"X-Content-Type-Options": "nosniff"})
