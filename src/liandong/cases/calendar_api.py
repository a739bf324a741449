"""The working calendar: read a year's exceptions, and (admins) set or clear one day (thin router)."""

import datetime as dt

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.auth import audit
from liandong.auth.deps import Principal, client_ip, current_principal, get_session, require
from liandong.cases import calendar
from liandong.cases.models import CalendarDay, CalendarYear
from liandong.errors import Forbidden, Invalid, NotFound

router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"])


@router.get("/{year}", summary="A year's holidays and adjusted workdays (exceptions to Monday–Friday)")
def year(year: int = Path(ge=2000, le=2100), principal: Principal = Depends(current_principal),
         session: Session = Depends(get_session)):
    known = session.get(CalendarYear, year)
    days = session.scalars(select(CalendarDay).where(
        CalendarDay.day >= dt.date(year, 1, 1), CalendarDay.day <= dt.date(year, 12, 31)).order_by(CalendarDay.day))
    return {"year": year, "known": known is not None, "source": known.source if known else None,
            "days": [{"day": d.day.isoformat(), "workday": d.workday, "name": d.name} for d in days]}


class DayIn(BaseModel):
    workday: bool
    name: str | None = Field(default=None, max_length=50)


def _top_admin(principal: Principal) -> None:
    if not principal.scope.is_top:
        raise Forbidden("the working calendar is the district's: only district administrators change it")


@router.put("/days/{day}", summary="Make a day a holiday or a working day (district admin, audited)")
def set_day(request: Request, body: DayIn, day: dt.date, principal: Principal = Depends(require("admin")),
            session: Session = Depends(get_session)):
    _top_admin(principal)
    if not dt.date(2000, 1, 1) <= day <= dt.date(2100, 12, 31):
        raise Invalid("the day must lie between 2000 and 2100")
    row = calendar.set_day(session, day, body.workday, body.name)
    audit.record(session, "calendar_day_set", actor=principal.user, target=f"day:{day.isoformat()}",
                 detail={"workday": body.workday, "name": body.name}, ip=client_ip(request))
    session.commit()
    request.app.state.calendar.forget()
    return {"day": row.day.isoformat(), "workday": row.workday, "name": row.name}


@router.delete("/days/{day}", status_code=204, summary="Drop an exception: the day follows Monday–Friday again")
def clear_day(request: Request, day: dt.date, principal: Principal = Depends(require("admin")),
              session: Session = Depends(get_session)):
    _top_admin(principal)
    row = session.get(CalendarDay, day)
    if row is None:
        raise NotFound(f"{day.isoformat()} has no exception")
    session.delete(row)
    audit.record(session, "calendar_day_cleared", actor=principal.user, target=f"day:{day.isoformat()}",
                 ip=client_ip(request))
    session.commit()
    request.app.state.calendar.forget()


@router.put("/{year}/complete", summary="Say the year's holidays are all entered: its deadlines stop warning "
                                        "(district admin, audited)")
def complete_year(request: Request, year: int = Path(ge=2000, le=2100),
                  principal: Principal = Depends(require("admin")), session: Session = Depends(get_session)):
    return _mark(request, year, True, principal, session)


@router.delete("/{year}/complete", summary="Take it back: deadlines in the year warn again (district admin, audited)")
def reopen_year(request: Request, year: int = Path(ge=2000, le=2100),
                principal: Principal = Depends(require("admin")), session: Session = Depends(get_session)):
    return _mark(request, year, False, principal, session)


def _mark(request: Request, year: int, complete: bool, principal: Principal, session: Session) -> dict:
    _top_admin(principal)
    row = calendar.mark_year(session, year, complete, source=f"entered by {principal.username}")
    audit.record(session, "calendar_year_complete" if complete else "calendar_year_reopened", actor=principal.user,
                 target=f"year:{year}", ip=client_ip(request))
    session.commit()
    request.app.state.calendar.forget()
    return {"year": year, "known": row is not None, "source": row.source if row else None}
