"""``/assessment`` (考核: the ranking of one object type over a period, its charts, the drill-down to the cases behind
every figure, the exports) and ``/reports/annual`` (the district's annual report of a year, its exports).

Shells, as the other pages: ``assessment.js`` and ``annual-report.js`` read the JSON API, which keeps each caller
within their jurisdiction. Open to the roles that assess (``assessment.service.ASSESS_ROLES``); anyone else signed
in gets 403, nobody signed in the login page.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from liandong.assessment import settings as assessment_settings
from liandong.assessment.indicators import OBJECTS
from liandong.assessment.service import ASSESS_ROLES
from liandong.auth.deps import Principal, optional_principal, read_session
from liandong.web.common import page, signed_in, to_login

router = APIRouter(include_in_schema=False)
YEARS_SHOWN = 10
"""How many years the annual report's select offers, back from this one."""


def _today(request: Request) -> dt.date:
    return request.app.state.clock().astimezone(ZoneInfo(request.app.state.settings.timezone)).date()


def _shell(request: Request, principal: Principal | None, session: Session, template: str, context: dict):
    if principal is None:
        return to_login(request)
    me = signed_in(request, principal, session)
    if not principal.has(*ASSESS_ROLES):
        return page(request, "forbidden.html", {**me, "needed": "as.forbidden"}, status_code=403)
    # grade colours are configuration: the annual report's tables colour their grades from them
    grades = [{"grade": g.grade, "min": g.min, "colour": g.colour, "name": g.name}
              for g in assessment_settings.current().grades]
    return page(request, template, {**me, "grades_json": json.dumps(grades, ensure_ascii=False),
                                    "today": _today(request).isoformat(), **context})


@router.get("/assessment")
def assessment_page(request: Request, object_name: str = Query("town", alias="object",
                                                               pattern=f"^({'|'.join(OBJECTS)})$"),
                    date_from: dt.date | None = Query(None, alias="from"),
                    date_to: dt.date | None = Query(None, alias="to"),
                    principal: Principal | None = Depends(optional_principal),
                    session: Session = Depends(read_session)):
    return _shell(request, principal, session, "assessment.html",
                  {"objects": tuple(OBJECTS), "object": object_name,
                   "date_from": date_from.isoformat() if date_from else "",
                   "date_to": date_to.isoformat() if date_to else ""})


@router.get("/reports/annual")
def annual_report_page(request: Request, year: int | None = Query(None, ge=1970, le=2100),
                       principal: Principal | None = Depends(optional_principal),
                       session: Session = Depends(read_session)):
    this_year = _today(request).year
    return _shell(request, principal, session, "annual_report.html",
                  {"year": year or this_year,
                   "years": sorted({*range(this_year, this_year - YEARS_SHOWN, -1), year or this_year},
                                   reverse=True)})
