"""Pages: login, logout, the language switch and the district map (web/common.py says how pages work)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from liandong.auth import service
from liandong.auth.deps import SESSION_COOKIE, Principal, client_ip, get_session, optional_principal
from liandong.errors import Unauthorized
from liandong.intake.citizen import PHONE_PATTERN
from liandong.units.lines import LINES
from liandong.web.common import page, safe_next, signed_in, to_login
from liandong.web.i18n import LANG_COOKIE, LANGS

router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_form(request: Request, next: str = "/", principal: Principal | None = Depends(optional_principal)):
    if principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return page(request, "login.html", {"next": safe_next(next), "username": "", "error": None,
                                        "no_labels": True})


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/"),
          session: Session = Depends(get_session)):
    target = safe_next(next)
    try:  # a refusal is stored by the service on its own: the failure count, the lock-out, the audit entry
        user, secret = service.sign_in(session, username.strip(), password, "web", ip=client_ip(request))
    except Unauthorized:  # one message for every refusal
        context = {"next": target, "username": username, "error": "login.failed", "no_labels": True}
        return page(request, "login.html", context, status_code=401)
    if set(user.roles) <= {"citizen"}:  # no staff role: the citizen pages, not the command centre
        target = "/report"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=request.app.state.settings.token_ttl_hours * 3600, path="/",
        httponly=True, samesite="lax", secure=request.app.state.settings.cookie_secure,
    )
    return response


@router.post("/logout")
def logout(request: Request, session: Session = Depends(get_session)):
    """Revoke the cookie's token (not a bearer token that may ride along) and forget the cookie."""
    if secret := request.cookies.get(SESSION_COOKIE):
        service.sign_out(session, secret, ip=client_ip(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.app.state.settings.cookie_secure)
    return response


@router.get("/lang/{code}")
def set_language(code: str, next: str = "/"):
    """Switch the page language (zh | en) and go back where the user was."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LANGS:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, path="/", samesite="lax")
    return response


@router.get("/map")
def map_page(request: Request, principal: Principal | None = Depends(optional_principal),
             session: Session = Depends(get_session)):
    if principal is None:
        return to_login(request)
    context = {
        **signed_in(request, principal, session),
        "tile_url": request.app.state.settings.tile_url,
        "lines": {code: list(labels) for code, labels in LINES.items()},
    }
    return page(request, "map.html", context)


@router.get("/report")
def report_page(request: Request):
    """Citizen reporting: no login (the API limits reports per address)."""
    return page(request, "report.html", {"tile_url": request.app.state.settings.tile_url,
                                         "phone_pattern": PHONE_PATTERN})


@router.get("/report/track")
def track_page(request: Request, number: str = Query("", max_length=32), key: str = Query("", max_length=64)):
    return page(request, "track.html", {"number": number, "key": key})
