"""The working calendar: read a year's exceptions, and (district admins) set or clear one day (thin router
over cases/calendar_admin.py)."""

import datetime as dt

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, client_ip, current_principal, get_session, require
from liandong.cases import calendar_admin

router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"])
admin = require("admin")


@router.get("/{year}", summary="A year's holidays and adjusted workdays (exceptions to Monday–Friday)")
def year(year: int = Path(ge=2000, le=2100), principal: Principal = Depends(current_principal),
         session: Session = Depends(get_session)):
    return calendar_admin.year(session, year)


class DayIn(BaseModel):
    workday: bool
    name: str | None = Field(default=None, max_length=50)


@router.put("/days/{day}", summary="Make a day a holiday or a working day (district admin, audited)")
def set_day(request: Request, body: DayIn, day: dt.date, principal: Principal = Depends(admin),
            session: Session = Depends(get_session)):
    return calendar_admin.set_day(session, request.app.state.calendar, day, body.workday, body.name,
                                  scope=principal.scope, actor=principal.user, ip=client_ip(request))


@router.delete("/days/{day}", status_code=204, summary="Drop an exception: the day follows Monday–Friday again")
def clear_day(request: Request, day: dt.date, principal: Principal = Depends(admin),
              session: Session = Depends(get_session)):
    calendar_admin.clear_day(session, request.app.state.calendar, day, scope=principal.scope, actor=principal.user,
                             ip=client_ip(request))


@router.put("/{year}/complete", summary="Say the year's holidays are all entered: its deadlines stop warning "
                                        "(district admin, audited)")
def complete_year(request: Request, year: int = Path(ge=2000, le=2100), principal: Principal = Depends(admin),
                  session: Session = Depends(get_session)):
    return calendar_admin.mark_year(session, request.app.state.calendar, year, True, scope=principal.scope,
                                    actor=principal.user, ip=client_ip(request))


@router.delete("/{year}/complete", summary="Take it back: deadlines in the year warn again (district admin, audited)")
def reopen_year(request: Request, year: int = Path(ge=2000, le=2100), principal: Principal = Depends(admin),
                session: Session = Depends(get_session)):
    return calendar_admin.mark_year(session, request.app.state.calendar, year, False, scope=principal.scope,
                                    actor=principal.user, ip=client_ip(request))
