"""``/m/``: the grid worker's phone app (an installable PWA): report with GPS or a map pick, photos,
a matter picker that works offline, the verification and check tasks, screening-campaign visits with
their checklists and findings (campaigns cached on the phone), and an outbox that keeps reports and visits
made without network and sends each exactly once (the Idempotency-Key, a visit's ``visit_key``) when online.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from liandong import __version__
from liandong.auth.deps import Principal, get_session, optional_principal
from liandong.cases.actions import NEEDS
from liandong.screening import campaign_states as cs
from liandong.screening import dispute_states as ds
from liandong.screening import hazard_states as hs
from liandong.web.common import page, signed_in, to_login
from liandong.web.i18n import lang_of, translator

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
VOCAB = {"answer": cs.ANSWERS, "sector": hs.SECTORS, "grade": hs.GRADES, "type": ds.TYPES, "risk": ds.RISKS}
"""The values a campaign visit's answers and findings take (the domain's own lists), for the visit form."""
VERSION_MARK = "__ASSET_VERSION__"
"""Stands in sw.js for the asset version the server fills in."""


def asset_version(root: Path = STATIC) -> str:
    """A short hash of the package version and every static file (name and contents).

    It names the service worker's cache: a phone that installed the app keeps its shell until this
    changes, so any changed asset must change it. Files are read again only when one's size or
    modification time moved.
    """
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return _digest(root, tuple((p, *_stamp(p)) for p in files))


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@lru_cache(maxsize=8)
def _digest(root: Path, files: tuple[tuple[Path, int, int], ...]) -> str:
    h = hashlib.sha256(__version__.encode())
    for path, _, _ in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


@router.get("/m/")
def mobile(request: Request, principal: Principal | None = Depends(optional_principal),
           session: Session = Depends(get_session)):
    if principal is None:
        return to_login(request)
    # the tasks mark the fields their actions cannot do without (the server's own list) before sending; the visit
    # form offers the values the server takes
    return page(request, "m.html", {**signed_in(request, principal, session), "needs": NEEDS, "vocab": VOCAB,
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
    """Served under /m/ so that it may control the app's pages, with the asset version filled in (a new
    version is a new worker, which replaces the kept shell); never cached by the browser's HTTP cache."""
    source = (STATIC / "js" / "sw.js").read_text(encoding="utf-8")
    if VERSION_MARK not in source:
        raise RuntimeError(f"sw.js lost its {VERSION_MARK} mark: phones would keep their old app for ever")
    return Response(source.replace(VERSION_MARK, asset_version()), media_type="text/javascript",
                    headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/m/"})
