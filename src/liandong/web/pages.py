"""Server-rendered pages: login, logout and the district map.

The pages only call services (``auth.service``); the map's data comes from the JSON API through
same-origin fetches that carry the session cookie. No inline scripts or styles, so every page can
be served under a strict Content-Security-Policy (data goes to the scripts in ``data-`` attributes).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from liandong.auth import audit, service
from liandong.auth.deps import SESSION_COOKIE, Principal, client_ip, get_session, optional_principal
from liandong.errors import Unauthorized
from liandong.units.lines import LINES
from liandong.units.models import Unit

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

ROLE_LABELS: dict[str, tuple[str, str]] = {
    "admin": ("管理员", "Administrator"),
    "receptionist": ("受理员", "Receptionist"),
    "shift_leader": ("值班长", "Shift leader"),
    "dispatcher": ("派遣员", "Dispatcher"),
    "handler": ("处置人员", "Handler"),
    "inspector": ("监督员", "Inspector"),
    "commander": ("指挥长", "Incident commander"),
    "leader": ("领导", "Leader"),
    "citizen": ("市民", "Citizen"),
}
WRONG_LOGIN = ("用户名或密码错误，或因多次失败账户已暂时锁定",
               "Wrong username or password, or the account is locked for a while after repeated failures")


def safe_next(value: str | None) -> str:
    """A local path to return to after login; anything that could leave the site becomes ``/``.

    Only ``/path`` is accepted: ``//host``, ``/\\host`` (browsers read ``\\`` as ``/``), schemes and
    control characters are open-redirect tricks.
    """
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _csp(request: Request) -> str:
    """Strict policy for our pages; a configured tile server is the only foreign origin allowed."""
    img = "'self' data:"
    tile_url = request.app.state.settings.tile_url
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "*"))
        if parts.scheme in ("http", "https") and parts.netloc:
            img += f" {parts.scheme}://{parts.netloc}"
    return (f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {img}; "
            "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def _page(request: Request, name: str, context: dict, status_code: int = 200) -> Response:
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Content-Security-Policy"] = _csp(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_error(exc: Unauthorized) -> tuple[str, str]:
    """One message for every refusal, so the page reveals neither usernames nor lock-outs."""
    return WRONG_LOGIN


@router.get("/login")
def login_form(request: Request, next: str = "/", principal: Principal | None = Depends(optional_principal)):
    if principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _page(request, "login.html", {"next": safe_next(next), "username": "", "error": None})


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/"),
          session: Session = Depends(get_session)):
    target = safe_next(next)
    try:
        user = service.authenticate(session, username.strip(), password, ip=client_ip(request))
    except Unauthorized as exc:
        session.commit()  # keep the failure count, the lock-out and the audit entry
        context = {"next": target, "username": username, "error": _login_error(exc)}
        return _page(request, "login.html", context, status_code=401)
    secret = service.issue_token(session, user, "web")
    session.commit()
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=request.app.state.settings.token_ttl_hours * 3600, path="/",
        httponly=True, samesite="lax", secure=request.app.state.settings.cookie_secure,
    )
    return response


@router.post("/logout")
def logout(request: Request, principal: Principal | None = Depends(optional_principal),
           session: Session = Depends(get_session)):
    """Revoke the cookie's token (not a bearer token that may ride along) and forget the cookie."""
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        service.revoke_token(session, secret)
        if principal is not None and principal.token == secret:
            audit.record(session, "logout", actor=principal.user, ip=client_ip(request))
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.app.state.settings.cookie_secure)
    return response


@router.get("/")
def map_page(request: Request, principal: Principal | None = Depends(optional_principal),
             session: Session = Depends(get_session)):
    if principal is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(path, safe='/')}", status_code=303)
    user = principal.user
    unit = session.get(Unit, user.unit_id)
    roles = [(r, *ROLE_LABELS.get(r, (r, r))) for r in user.roles]
    context = {
        "user": user, "unit": unit, "roles": roles,
        "tile_url": request.app.state.settings.tile_url,
        "lines": {code: list(labels) for code, labels in LINES.items()},
    }
    return _page(request, "map.html", context)
