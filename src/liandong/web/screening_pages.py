"""``/early-warnings`` (早研判): the warnings the scan found, filtered by status; one chosen shows its evidence on a
map (the scan circle, the grids, the reports) and the decisions this user may take (watch, dismiss, promote to an
incident); shift leaders and administrators run a scan by hand.

A shell, as the emergency pages: the script reads and acts through the JSON API (``/api/v1/early-warnings``), so
the buttons are exactly the warning's ``allowed_actions``. Open to the roles that see warnings
(``common.EARLY_WARNING_ROLES``); anyone else signed in gets 403, nobody signed in the login page.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, get_session, optional_principal
from liandong.emergency.states import CATEGORIES
from liandong.screening.early_warning_states import SCAN_ROLES
from liandong.web.common import EARLY_WARNING_ROLES, page, signed_in, to_login

router = APIRouter(include_in_schema=False)
STATUS_FILTERS = ("open", "new", "watching", "promoted", "dismissed")


@router.get("/early-warnings")
def early_warnings_page(request: Request,
                        status: str = Query("open", pattern="^(|open|new|watching|promoted|dismissed)$"),
                        selected: int = Query(0, alias="id", ge=0, le=2**31 - 1),
                        principal: Principal | None = Depends(optional_principal),
                        session: Session = Depends(get_session)):
    if principal is None:
        return to_login(request)
    me = signed_in(request, principal, session)
    if not principal.has(*EARLY_WARNING_ROLES):
        return page(request, "forbidden.html", {**me, "needed": "ew.forbidden"}, status_code=403)
    return page(request, "early_warnings.html",
                {**me, "tile_url": request.app.state.settings.tile_url, "status": status,
                 "selected": selected or "", "statuses": STATUS_FILTERS, "categories": CATEGORIES,
                 "can_scan": principal.has(*SCAN_ROLES), "levels": (1, 2, 3, 4)})
