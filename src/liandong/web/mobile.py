"""``/m/``: the grid worker's phone app (an installable PWA): report with GPS or a map pick, photos,
a matter picker that works offline, the verification and check tasks, and an outbox that keeps
reports made without network and sends each exactly once (the Idempotency-Key) when back online.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, get_session, optional_principal
from liandong.web.common import page, signed_in, to_login
from liandong.web.i18n import lang_of, translator

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"


@router.get("/m/")
def mobile(request: Request, principal: Principal | None = Depends(optional_principal),
           session: Session = Depends(get_session)):
    if principal is None:
        return to_login(request)
    return page(request, "m.html", {**signed_in(request, principal, session),
                                    "tile_url": request.app.state.settings.tile_url})


@router.get("/m/manifest.webmanifest")
def manifest(request: Request):
    t = translator(lang_of(request))
    return JSONResponse({
        "name": f"{t('brand')} · {t('m.title')}", "short_name": t("m.title"), "start_url": "/m/", "scope": "/m/",
        "display": "standalone", "background_color": "#eef1ec", "theme_color": "#123a5c",
        "lang": "en" if lang_of(request) == "en" else "zh-CN",
        "icons": [{"src": "/static/img/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"}],
    }, media_type="application/manifest+json")


@router.get("/m/sw.js")
def service_worker():
    """Served under /m/ so that it may control the app's pages; never cached by the browser's HTTP cache."""
    return FileResponse(STATIC / "js" / "sw.js", media_type="text/javascript",
                        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/m/"})
