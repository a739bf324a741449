"""``/open311/v2/``: GeoReport v2 in JSON and XML (thin router over open311/service.py).

Errors follow the spec: 404 unknown service, request, token or jurisdiction; 403 missing or wrong
``api_key``; 400 anything else, each as ``[{"code", "description"}]`` or ``<errors>``. They are raised
(``ErrorAnswer``), not returned, so that whatever the request wrote before the refusal is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from liandong.auth.deps import ErrorAnswer, Principal, client_ip, get_session, require
from liandong.errors import DomainError, Forbidden, NotFound, Unauthorized
from liandong.intake.open311 import formats, keys, service

router = APIRouter(prefix="/open311/v2", tags=["open311"])


def _answer(request: Request, fmt: str, root: str, make: Callable[[], object], status: int = 200) -> Response:
    if fmt not in formats.FORMATS:
        raise ErrorAnswer(formats.error("json", 404, f"unknown format .{fmt}; use .json or .xml"))
    jurisdiction = request.query_params.get("jurisdiction_id")
    if jurisdiction and jurisdiction != request.app.state.settings.open311_jurisdiction:
        raise ErrorAnswer(formats.error(fmt, 404, f"unknown jurisdiction_id {jurisdiction!r}"))
    try:
        return formats.render(fmt, root, make(), status)
    except NotFound as exc:
        raise ErrorAnswer(formats.error(fmt, 404, exc.message)) from exc
    except (Forbidden, Unauthorized) as exc:
        raise ErrorAnswer(formats.error(fmt, 403, exc.message)) from exc
    except DomainError as exc:
        raise ErrorAnswer(formats.error(fmt, 429 if exc.status == 429 else 400, exc.message)) from exc
    except (OverflowError, DataError) as exc:  # e.g. page=10**20, or a date the database cannot hold
        raise ErrorAnswer(formats.error(fmt, 400, "a number or date in the request is out of range")) from exc


def _read_limit(request: Request) -> None:
    request.app.state.rate_limiter.hit(request.app.state.settings.public_read_limit, "open311-read",
                                       client_ip(request) or "-")


@router.get("/discovery.{fmt}", summary="Service discovery")
def discovery(request: Request, fmt: str):
    base = str(request.base_url).rstrip("/") + "/open311/v2"
    return _answer(request, fmt, "discovery", lambda: {
        "changeset": "2026-11-27T00:00:00+08:00", "contact": "闵行区城市运行管理中心 (demo)",
        "key_service": "API keys are issued by the district's administrators (POST /api/v1/open311/keys)",
        "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
                       "changeset": "2026-11-27T00:00:00+08:00", "type": "production",
                       "formats": ["text/xml", "application/json"]}]})


@router.get("/services.{fmt}", summary="Service list (the catalogue; groups are its major categories)")
def services(request: Request, fmt: str, session: Session = Depends(get_session)):
    return _answer(request, fmt, "services", lambda: (_read_limit(request), service.services(session))[1])


@router.get("/services/{code}.{fmt}", summary="Service definition (its attributes)")
def definition(request: Request, code: str, fmt: str, session: Session = Depends(get_session)):
    return _answer(request, fmt, "service_definition",
                   lambda: (_read_limit(request), service.definition(session, code))[1])


async def _request_fields(request: Request, fmt: str) -> dict:
    """A new request's fields (form-encoded, or XML), read in the loop (awaits, no blocking) so that ``create``
    can be a plain ``def`` whose database work runs in FastAPI's threadpool."""
    ctype = request.headers.get("content-type", "")
    if "xml" in ctype:  # not in the spec, but clients send it: read safely, never expanding entities
        try:
            items = formats.read_xml_request(await request.body())
        except ValueError as exc:
            raise ErrorAnswer(formats.error(fmt, 400, str(exc))) from exc
    else:
        items = (await request.form()).multi_items()
    flat: dict = {"attributes": {}}
    for key, value in items:
        if not isinstance(value, str):
            continue  # media travels as media_url; uploaded files are not taken here
        if key.startswith("attribute[") and "]" in key:
            code = key[len("attribute["):key.index("]")]
            before = flat["attributes"].get(code)
            flat["attributes"][code] = value if before is None else f"{before},{value}"  # attribute[x][]=…
        else:
            flat[key] = value
    return flat


@router.post("/requests.{fmt}", summary="Report a problem (form-encoded, api_key required)")
def create(request: Request, fmt: str, session: Session = Depends(get_session),
           flat: dict = Depends(_request_fields)):
    def make():
        key = service.check_key(session, flat.get("api_key"))
        settings = request.app.state.settings
        request.app.state.rate_limiter.hit(settings.open311_key_limit, "open311-post", str(key.id))
        return [service.submit(session, request.app.state.grid_index.get(session), key, flat,
                               request.app.state.clock(), request.app.state.calendar.get(session), settings)]

    return _answer(request, fmt, "service_requests", make)


@router.get("/requests.{fmt}", summary="Query requests (90 days / 1,000 records by default; page, page_size)")
def requests_(request: Request, fmt: str, session: Session = Depends(get_session)):
    cal = request.app.state.calendar.get(session)
    return _answer(request, fmt, "service_requests", lambda: (
        _read_limit(request), service.query(session, cal, dict(request.query_params), request.app.state.clock()))[1])


@router.get("/requests/{number}.{fmt}", summary="One request")
def one(request: Request, number: str, fmt: str, session: Session = Depends(get_session)):
    cal = request.app.state.calendar.get(session)
    return _answer(request, fmt, "service_requests",
                   lambda: (_read_limit(request), service.one(session, cal, number))[1])


@router.get("/servicerequestupdates.{fmt}", summary="Changes of state (FixMyStreet extension, extended statuses)")
def request_updates(request: Request, fmt: str, session: Session = Depends(get_session)):
    return _answer(request, fmt, "service_request_updates", lambda: (
        _read_limit(request), service.updates(session, dict(request.query_params), request.app.state.clock()))[1])


async def _update_fields(request: Request) -> dict:
    """An update's text fields, read in the loop (an await, no blocking): ``post_update`` stays a plain ``def``."""
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


@router.post("/servicerequestupdates.{fmt}", summary="An update from a client's user (FixMyStreet extension)")
def post_update(request: Request, fmt: str, session: Session = Depends(get_session),
                form: dict = Depends(_update_fields)):
    def make():
        key = service.check_key(session, form.get("api_key"))
        settings = request.app.state.settings
        request.app.state.rate_limiter.hit(settings.open311_key_limit, "open311-post", str(key.id))
        return [service.post_update(session, key, form, request.app.state.clock())]

    return _answer(request, fmt, "service_request_updates", make)


@router.get("/tokens/{token}.{fmt}", summary="A token's service_request_id")
def token(request: Request, token: str, fmt: str, session: Session = Depends(get_session)):
    return _answer(request, fmt, "service_requests", lambda: [service.by_token(session, token)])


# --- key administration (JSON API, district admins) ------------------------------------------------

keys_router = APIRouter(prefix="/api/v1/open311/keys", tags=["open311"])


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


@keys_router.get("", summary="Open311 API keys (admin)")
def list_keys(principal: Principal = Depends(require("admin")), session: Session = Depends(get_session)):
    return keys.list_keys(session)


@keys_router.post("", status_code=201, summary="Issue an Open311 API key; shown once (admin, audited)")
def create_key(body: KeyIn, request: Request, principal: Principal = Depends(require("admin")),
               session: Session = Depends(get_session)):
    return keys.issue(session, body.name, actor=principal.user, ip=client_ip(request))


@keys_router.delete("/{key_id}", status_code=204, summary="Revoke an Open311 API key (admin, audited)")
def revoke_key(request: Request, key_id: int = Path(ge=1, le=2**31), principal: Principal = Depends(require("admin")),
               session: Session = Depends(get_session)):
    keys.revoke(session, key_id, request.app.state.clock(), actor=principal.user, ip=client_ip(request))
