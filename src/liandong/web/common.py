"""What every page shares: templates, the security headers, the language, who is signed in.

Pages only call services; their data comes from the JSON API through same-origin fetches that carry
the session cookie. No inline scripts or styles, so every page is served under a strict
Content-Security-Policy (data reaches the scripts in ``data-`` attributes).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from liandong.assessment import simulated
from liandong.assessment.service import ASSESS_ROLES
from liandong.auth.deps import Principal
from liandong.screening.early_warning_states import READ_ROLES
from liandong.units import service as units
from liandong.web.i18n import ROLE_LABELS, labels, lang_of, translator

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

EMERGENCY_ROLES = ("receptionist", "shift_leader", "dispatcher", "handler", "inspector", "commander", "leader")
"""Who opens the emergency pages (incidents, the board, plans, warnings): the staff who act on incidents and their
tasks."""
EARLY_WARNING_ROLES = tuple(sorted(READ_ROLES))
"""Who opens the early-warning page (早研判) and sees its panel on the command centre: the roles that read warnings
(shift leaders, commanders, leaders, dispatchers, administrators)."""
NAV = (("/", "nav.dashboard", None), ("/cases", "nav.work", None), ("/incidents", "nav.incidents", EMERGENCY_ROLES),
       ("/warnings", "nav.warnings", EMERGENCY_ROLES), ("/hazards", "nav.hazards", EMERGENCY_ROLES),
       ("/disputes", "nav.disputes", EMERGENCY_ROLES), ("/campaigns", "nav.campaigns", (*EMERGENCY_ROLES, "admin")),
       ("/early-warnings", "nav.early_warnings", EARLY_WARNING_ROLES),
       ("/assessment", "nav.assessment", tuple(sorted(ASSESS_ROLES))),
       ("/reports/annual", "nav.annual_report", tuple(sorted(ASSESS_ROLES))),
       ("/map", "nav.map", None), ("/m/", "nav.mobile", "inspector"),
       ("/admin/", "nav.admin", "admin"))
"""(path, label, role or roles needed) of the main navigation; the phone app is the grid workers' (inspectors')."""


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


def here(request: Request) -> str:
    """The page's own path with its query: where login and the language switch come back to (a lookup kept)."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def csp(request: Request) -> str:
    """Strict policy for our pages; a configured tile server is the only foreign origin allowed."""
    img = "'self' data: blob:"
    tile_url = request.app.state.settings.tile_url
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "*"))
        if parts.scheme in ("http", "https") and parts.netloc:
            img += f" {parts.scheme}://{parts.netloc}"
    return (f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {img}; "
            "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
            "worker-src 'self'; manifest-src 'self'")


def page(request: Request, name: str, context: dict, status_code: int = 200) -> Response:
    lang = lang_of(request)
    # times are shown in the district's zone, whatever the browser's own (a wall screen may run on UTC)
    shown = {**labels(lang), "tz": request.app.state.settings.timezone}
    context = {"lang": lang, "t": translator(lang), "labels_json": json.dumps(shown, ensure_ascii=False),
               "path": request.url.path, "here": here(request), **context}
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Content-Security-Policy"] = csp(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(here(request), safe='/')}", status_code=303)


def signed_in(request: Request, principal: Principal, session: Session) -> dict:
    """The top bar's context: who, which unit, which roles, which navigation entries, whether the emergency pages
    are theirs."""
    lang = lang_of(request)
    unit = units.by_id(session, principal.unit_id)
    roles = [(r, ROLE_LABELS.get(r, (r, r))[1 if lang == "en" else 0]) for r in principal.roles]
    nav = [(href, key) for href, key, role in NAV
           if role is None or principal.has(*((role,) if isinstance(role, str) else role))]
    return {"user": principal.user, "unit": unit, "roles": roles, "nav": nav, "role_codes": principal.roles,
            "emergency_staff": principal.has(*EMERGENCY_ROLES), "early_warnings": principal.has(*EARLY_WARNING_ROLES),
            "simulated": simulated.years(session)}
