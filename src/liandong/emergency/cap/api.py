"""CAP endpoints (thin router over ``issue.py``, ``issued.py``, ``receive.py`` and ``feed.py``).

Signed in: issue a warning from an incident, list an incident's warnings or every issued one in sight, import a
document, list received ones. Public (no login, read-only, rate-limited like the other public reads): the Atom feed
of current alerts and each issued document.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, client_ip, current_principal, get_session, request_time
from liandong.emergency.cap import feed, issue, issued, present, receive
from liandong.emergency.cap.errors import UnsupportedMediaType
from liandong.emergency.cap.payloads import WarningIn
from liandong.errors import BadRequest, TooLarge

api = APIRouter(prefix="/api/v1", tags=["cap"])
public = APIRouter(prefix="/cap", tags=["cap"])
IncidentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
XML_TYPES = ("application/xml", "text/xml", "application/cap+xml")
_PLACEHOLDER = "CAPIDENTIFIER"


def _document_url(request: Request) -> str:
    """The public URL of a document, with ``{identifier}`` to fill in: under ``public_base_url`` when set (a
    document is signed and kept with its URL, so it must not name whatever host the issuer happened to use)."""
    path = request.app.url_path_for("cap_document", identifier=_PLACEHOLDER)
    base = request.app.state.settings.public_base_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}{path}".replace(_PLACEHOLDER, "{identifier}")


@api.post("/incidents/{incident_id}/warnings", status_code=201,
          summary="Issue a CAP warning (Alert, Update, Cancel) from the incident (commander, leader)")
def issue_warning(request: Request, body: WarningIn, incident_id: IncidentId,
                  principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
                  now: dt.datetime = Depends(request_time)):
    url_of = _document_url(request)
    warning = issue.issue(session, incident_id, principal.identity, body, now, request.app.state.settings, url_of)
    return JSONResponse({"identifier": warning.identifier, "url": url_of.format(identifier=warning.identifier)},
                        status_code=201)


@api.get("/incidents/{incident_id}/warnings", summary="The warnings issued for an incident, newest first")
def incident_warnings(request: Request, incident_id: IncidentId, principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    incident, rows = issued.of_incident(session, incident_id, principal.identity)
    url_of = _document_url(request)
    return {"items": [present.issued_dict(w, incident, now, url_of.format(identifier=w.identifier)) for w in rows]}


@api.get("/cap/issued", summary="Warnings issued for the incidents the caller sees, newest first")
def issued_warnings(request: Request,
                    state: str | None = Query(None, max_length=16, description=" | ".join(issued.STATES)),
                    exercise: bool | None = None, limit: int = Query(100, ge=1, le=1000),
                    offset: int = Query(0, ge=0, le=10**7), principal: Principal = Depends(current_principal),
                    session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    rows, total = issued.page(session, principal.identity, now, state=state, exercise=exercise, limit=limit,
                              offset=offset)
    url_of = _document_url(request)
    return {"total": total, "items": [present.issued_dict(w, i, now, url_of.format(identifier=w.identifier))
                                      for w, i in rows]}


async def _importer(principal: Principal = Depends(current_principal)) -> Principal:
    receive.may_import(principal.identity)
    return principal


async def _document(request: Request, principal: Principal = Depends(_importer)) -> bytes:
    """The uploaded document, read only after the caller's role was checked, and never past the size limit."""
    limit = request.app.state.settings.cap_max_bytes
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in XML_TYPES:
        raise UnsupportedMediaType(f"send the CAP document as {' or '.join(XML_TYPES)}, not {kind or 'nothing'}",
                                   params={"content_type": kind})
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise BadRequest("Content-Length must be a number of bytes")
    if declared is not None and int(declared) > limit:
        raise TooLarge(f"the document has {declared} bytes; at most {limit} are accepted", code="cap_too_large",
                       params={"max_bytes": limit})
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"the document is larger than {limit} bytes", code="cap_too_large",
                           params={"max_bytes": limit})
    return bytes(body)


@api.post("/cap/import", status_code=201,
          summary="Import a CAP 1.1 or 1.2 document (body application/xml); 201 when new, 200 when it was stored "
                  "already; 400 names the element at fault",
          openapi_extra={"requestBody": {"required": True,
                                         "content": {t: {"schema": {"type": "string"}} for t in XML_TYPES}}},
          responses={413: {"description": "Larger than LIANDONG_CAP_MAX_BYTES"},
                     415: {"description": "Not an XML body"}})
def import_cap(request: Request, data: bytes = Depends(_document), principal: Principal = Depends(_importer),
               session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    row, new = receive.receive(session, data, source="upload", now=now,
                               max_bytes=request.app.state.settings.cap_max_bytes, caller=principal.identity)
    return JSONResponse({"identifier": row.identifier, "id": row.id, "sender": row.sender, "duplicate": not new},
                        status_code=201 if new else 200)


@api.get("/cap/received", summary="Received CAP messages, newest first, with their areas as GeoJSON")
def received(state: str | None = Query(None, max_length=16,
                                       description="active (in force now) | expired (no longer in force) | "
                                                   + " | ".join(receive.STATES[2:])),
             status: str | None = Query(None, max_length=10, description="Actual | Exercise | System | Test | Draft"),
             limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**7),
             principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
             now: dt.datetime = Depends(request_time)):
    rows, total = receive.page(session, now, state=state, status=status, limit=limit, offset=offset)
    return {"total": total, "items": [present.received_dict(r, now) for r in rows]}


@api.get("/cap/received/{received_id}", summary="One received CAP message, with the document as received")
def received_one(received_id: RowId, principal: Principal = Depends(current_principal),
                 session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    return present.received_dict(receive.get(session, received_id), now, full=True)


def _public(request: Request) -> None:
    request.app.state.rate_limiter.hit(request.app.state.settings.public_read_limit, "cap-read",
                                       client_ip(request) or "-")


@public.get("/alerts.atom", summary="Atom feed of the current CAP alerts (status=Exercise: the drills' instead)")
def alerts_feed(request: Request, status: str = Query("Actual", max_length=10, description="Actual | Exercise"),
                session: Session = Depends(get_session), now: dt.datetime = Depends(request_time)):
    _public(request)
    rows = feed.current(session, now, status)
    title = request.app.state.settings.cap_sender_name + (" — 演练 Exercise" if status == "Exercise" else "")
    documents = _document_url(request)
    feed_url = documents.rsplit("/alerts/", 1)[0] + "/alerts.atom" + (f"?status={status}" if status != "Actual" else "")
    body = feed.atom(rows, feed_url=feed_url, document_url=documents, title=title, now=now)
    return Response(body, media_type="application/atom+xml; charset=utf-8")


@public.get("/alerts/{identifier}.xml", name="cap_document", summary="One issued CAP document, as published")
def alert_document(request: Request, identifier: Annotated[str, Path(max_length=64, pattern=r"^[0-9_]+$")],
                   session: Session = Depends(get_session)):
    _public(request)
    body = feed.document(session, identifier)
    return Response(body, media_type="application/cap+xml; charset=utf-8")


router = APIRouter()
"""The CAP routes: the signed-in API and the public feed and documents."""
for _part in (api, public):
    router.include_router(_part)
