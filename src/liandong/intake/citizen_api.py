"""Anonymous citizen endpoints (thin router over intake/citizen.py), each limited per client address."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from liandong.areas.service import public_outlines
from liandong.auth.deps import client_ip, get_session
from liandong.errors import BadRequest, Invalid, LengthRequired, TooLarge
from liandong.intake import citizen

router = APIRouter(prefix="/api/v1/public", tags=["citizen"])
NUMBER = Path(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z\-]+$")
FORM_ALLOWANCE = 64 * 1024
"""Bytes a report may carry on top of the largest photo: its text fields and the multipart framing."""


def _limit(request: Request, rule_name: str, what: str) -> None:
    """Count this call against ``rule_name`` (a setting) for the client's address, per kind of call."""
    settings = request.app.state.settings
    request.app.state.rate_limiter.hit(getattr(settings, rule_name), what, client_ip(request) or "-")


def _declared_size(request: Request, max_photo: int) -> None:
    """Refuse a report by its declared length, before a byte of it is read; the server hands the app no
    more than that length, so it bounds what parsing may spool. A chunked body, with no length, is refused."""
    raw = request.headers.get("content-length")
    if raw is None:
        raise LengthRequired("send the report with a Content-Length header (chunked uploads are not accepted)")
    if not raw.isdigit():
        raise BadRequest("Content-Length must be a number of bytes")
    cap = max_photo + FORM_ALLOWANCE
    if int(raw) > cap:
        raise TooLarge(f"the report has {int(raw)} bytes; at most {cap} are accepted "
                       f"(a photo of up to {max_photo // (1024 * 1024) or 1} MB and the text)",
                       code="report_too_large", params={"size": int(raw), "max": cap})


class _CheckedBeforeBody(APIRoute):
    """The report's route. FastAPI reads and parses a form before any dependency or the endpoint runs, so
    the rate limit and the size cap are checked here, ahead of it: a client over its limit, or sending too
    much, costs no parsing and no spooled upload."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        parse_and_run = super().get_route_handler()

        async def handler(request: Request) -> Response:
            # in a thread: the limiter's storage may be a network service (Redis), never waited on in the loop
            await run_in_threadpool(_limit, request, "citizen_report_limit", "report")
            _declared_size(request, request.app.state.settings.max_upload_bytes)
            return await parse_and_run(request)

        return handler


@router.get("/towns", summary="Town outlines (simplified) for the citizen map")
def towns(request: Request, session: Session = Depends(get_session)):
    _limit(request, "public_read_limit", "read")
    return JSONResponse(public_outlines(session, level="town", simplify_m=30), media_type="application/geo+json")


@router.get("/matters", summary="Matters to pick from, by name, code or pinyin initials")
def matters(request: Request, q: str | None = Query(None, max_length=50), limit: int = Query(30, ge=1, le=300),
            session: Session = Depends(get_session)):
    _limit(request, "public_read_limit", "read")
    return citizen.matters(session, q, limit)


def report(request: Request, matter_code: str = Form(max_length=16), description: str = Form(max_length=2000),
           lon: float = Form(ge=-180, le=180), lat: float = Form(ge=-90, le=90),
           crs: str = Form("wgs84", max_length=16), name: str | None = Form(None, max_length=100),
           phone: str | None = Form(None, max_length=32), photo: UploadFile | None = File(None),
           session: Session = Depends(get_session)):
    """Limited per client address; a body over the photo limit plus its text is refused by its declared
    length before it is read (``_CheckedBeforeBody``). A plain ``def``: FastAPI has parsed the form already,
    and what is left (the spooled photo, the database) is blocking work for its threadpool, not the loop."""
    texts = {"matter_code": matter_code, "description": description, "crs": crs, "name": name, "phone": phone}
    if nul := [k for k, v in texts.items() if v and "\x00" in v]:  # multipart passes the NUL guard (guard.py)
        raise Invalid(f"NUL characters are not allowed in text fields: {', '.join(nul)}",  # 422 like the guard
                      code="nul_character")
    settings = request.app.state.settings
    data = photo.file.read(settings.max_upload_bytes + 1) if photo is not None else None
    index = request.app.state.grid_index.get(session)
    case, key, _ = citizen.submit(
        session, index, matter_code=matter_code, description=description, lon=lon, lat=lat, crs=crs,
        name=name or None, phone=phone or None, photo=data or None, filename=photo.filename if photo else "",
        upload_dir=settings.uploads(), max_bytes=settings.max_upload_bytes, now=request.app.state.clock(),
        calendar=request.app.state.calendar.get(session), settings=settings)
    return {"number": case.number, "key": key, "track_url": f"/report/track?number={case.number}&key={key}"}


router.add_api_route("/reports", report, methods=["POST"], status_code=201, route_class_override=_CheckedBeforeBody,
                     summary="Report a problem without an account (map pin, optional photo)",
                     responses={411: {"description": "No Content-Length"}, 413: {"description": "Too large"},
                                429: {"description": "Over the rate limit for this address"}})


@router.get("/reports/{number}", summary="Follow a report (tracking number and key)")
def track(request: Request, number: str = NUMBER, key: str = Query(min_length=1, max_length=64),
          session: Session = Depends(get_session)):
    _limit(request, "public_read_limit", "read")
    return citizen.view(session, citizen.find(session, number, key))


class RatingIn(BaseModel):
    key: str = Field(min_length=1, max_length=64)
    satisfaction: str = Field(description="very_satisfied | satisfied | dissatisfied")


@router.post("/reports/{number}/rating", summary="Rate the result of a closed report")
def rate(request: Request, body: RatingIn, number: str = NUMBER, session: Session = Depends(get_session)):
    _limit(request, "citizen_report_limit", "rating")
    case = citizen.find(session, number, body.key)
    index = request.app.state.grid_index.get(session)
    citizen.rate(session, index, case, body.satisfaction, request.app.state.calendar.get(session))
    return citizen.view(session, case)
