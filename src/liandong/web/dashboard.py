"""``/``: the command-centre dashboard (大屏); its figures come from /api/v1/stats and /api/v1/live."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, optional_principal, read_session
from liandong.web.common import page, signed_in, to_login

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(request: Request, principal: Principal | None = Depends(optional_principal),
              session: Session = Depends(read_session)):
    if principal is None:
        return to_login(request)
    context = {**signed_in(request, principal, session), "tile_url": request.app.state.settings.tile_url}
    return page(request, "dashboard.html", context)
