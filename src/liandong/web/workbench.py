"""``/cases`` (my queue, search, bulk dispatch), ``/cases/{id}`` (timeline, map, photos, actions), ``/admin/``.

The pages are shells: the scripts read and act through the JSON API, so the page offers exactly the
actions the state table allows this user (``allowed_actions`` of the case answer).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, get_session, optional_principal
from liandong.cases.actions import NEEDS
from liandong.cases.states import CHANNELS, OPEN_STATES, STATES
from liandong.web.common import page, signed_in, to_login

router = APIRouter(include_in_schema=False)


@router.get("/cases")
def queue(request: Request, principal: Principal | None = Depends(optional_principal),
          session: Session = Depends(get_session)):
    if principal is None:
        return to_login(request)
    context = {**signed_in(request, principal, session), "states": STATES, "open_states": OPEN_STATES,
               "channels": CHANNELS, "can_dispatch": principal.has("dispatcher")}
    return page(request, "cases.html", context)


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: int = Path(ge=1, le=2**31),
              principal: Principal | None = Depends(optional_principal), session: Session = Depends(get_session)):
    if principal is None:
        return to_login(request)
    context = {**signed_in(request, principal, session), "case_id": case_id, "needs": NEEDS,
               "tile_url": request.app.state.settings.tile_url}
    return page(request, "case.html", context)


@router.get("/admin/")
def admin_page(request: Request, principal: Principal | None = Depends(optional_principal),
               session: Session = Depends(get_session)):
    """Administration: users and roles, units, matters and time limits, the working calendar, areas."""
    if principal is None:
        return to_login(request)
    if not principal.has("admin"):
        return page(request, "forbidden.html", signed_in(request, principal, session), status_code=403)
    from liandong.auth.models import ROLES
    from liandong.units.lines import LINES, UNIT_KINDS

    context = {**signed_in(request, principal, session), "all_roles": ROLES, "lines": LINES, "kinds": UNIT_KINDS}
    return page(request, "admin.html", context)
