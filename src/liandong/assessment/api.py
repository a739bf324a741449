"""Assessment endpoints (thin router): the assessment of an object type, the drill-down to the cases behind a
figure, the annual report, and each as XLSX, PDF or CSV."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from liandong.assessment import annual, exports, service
from liandong.assessment import period as periods
from liandong.assessment.indicators import OBJECTS
from liandong.assessment.reports.csv import render_csv
from liandong.assessment.reports.pdf import render_pdf
from liandong.assessment.reports.xlsx import render_xlsx
from liandong.auth.deps import Principal, current_principal, read_session, request_time
from liandong.config import get_settings

router = APIRouter(prefix="/api/v1", tags=["assessment"])
ObjectName = Annotated[str, Query(alias="object", description=" | ".join(OBJECTS))]
From = Annotated[dt.date | None, Query(alias="from", description="first day (local), default: this month's first")]
To = Annotated[dt.date | None, Query(alias="to", description="last day, included (default: today)")]
Year = Annotated[int, Query(ge=1970, le=2100)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _period(date_from: dt.date | None, date_to: dt.date | None, now: dt.datetime) -> periods.Period:
    return periods.parse(date_from, date_to, now.astimezone(ZoneInfo(get_settings().timezone)).date())


def _file(body: bytes | str, media: str, name: str) -> Response:
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                     "Cache-Control": "no-store"})


@router.get("/assessment", summary="Every object of a type in your jurisdiction: indicators, score, grade, rank, "
                                   "the previous period's score")
def assessment(object_name: ObjectName, date_from: From = None, date_to: To = None,
               principal: Principal = Depends(current_principal), session: Session = Depends(read_session),
               now: dt.datetime = Depends(request_time)):
    return service.assess(session, principal.identity, object_name, _period(date_from, date_to, now), now)


@router.get("/assessment/drill", summary="The cases behind one figure (a count, or a rate's numerator or "
                                         "denominator); `total` is the figure")
def drill(object_name: ObjectName, object_id: Annotated[int, Query(alias="id")], indicator: str,
          part: Literal["numerator", "denominator"] = "numerator", date_from: From = None, date_to: To = None,
          limit: Annotated[int, Query(ge=1, le=service.DRILL_LIMIT)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
          principal: Principal = Depends(current_principal), session: Session = Depends(read_session),
          now: dt.datetime = Depends(request_time)):
    return service.drill(session, principal.identity, object_name, object_id, indicator, part,
                         _period(date_from, date_to, now), now, limit=limit, offset=offset)


FORMATS = {
    "xlsx": (lambda assessed, now: render_xlsx(exports.assessment_document(assessed, now)), XLSX),
    "pdf": (lambda assessed, now: render_pdf(exports.assessment_document(assessed, now)), "application/pdf"),
    "csv": (lambda assessed, now: render_csv(exports.assessment_table(assessed)), "text/csv; charset=utf-8"),
}
"""The assessment as a workbook (a cover, the table, a chart), a PDF (Chinese, chart, page numbers) or its raw
figures as CSV (UTF-8 with BOM)."""


@router.get("/assessment.{fmt}", summary="The assessment as XLSX, PDF or CSV", response_class=Response)
def assessment_file(fmt: Literal["xlsx", "pdf", "csv"], object_name: ObjectName, date_from: From = None,
                    date_to: To = None, principal: Principal = Depends(current_principal),
                    session: Session = Depends(read_session), now: dt.datetime = Depends(request_time)):
    assessed = service.assess(session, principal.identity, object_name, _period(date_from, date_to, now), now)
    render, media = FORMATS[fmt]
    return _file(render(assessed, now), media, f"assessment-{object_name}-{assessed['period']['from']}.{fmt}")


@router.get("/reports/annual", summary="The annual report: cases, hazards, disputes, incidents, towns, departments")
def annual_report(year: Year, principal: Principal = Depends(current_principal),
                  session: Session = Depends(read_session), now: dt.datetime = Depends(request_time)):
    return annual.report(session, principal.identity, year, now)


@router.get("/reports/annual.xlsx", summary="The annual report as a workbook: one sheet per table")
def annual_xlsx(year: Year, principal: Principal = Depends(current_principal),
                session: Session = Depends(read_session), now: dt.datetime = Depends(request_time)):
    doc = exports.annual_document(annual.report(session, principal.identity, year, now), now)
    return _file(render_xlsx(doc), XLSX, f"annual-report-{year}.xlsx")


@router.get("/reports/annual.pdf", summary="The annual report as PDF")
def annual_pdf(year: Year, principal: Principal = Depends(current_principal),
               session: Session = Depends(read_session), now: dt.datetime = Depends(request_time)):
    doc = exports.annual_document(annual.report(session, principal.identity, year, now), now)
    return _file(render_pdf(doc), "application/pdf", f"annual-report-{year}.pdf")
