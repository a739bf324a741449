"""12345 hotline work orders and callbacks over HTTP (thin router over intake/hotline.py, hotline_orders.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from liandong.auth.deps import Principal, client_ip, get_session, require
from liandong.errors import Invalid, TooLarge
from liandong.intake import hotline, hotline_orders

router = APIRouter(prefix="/api/v1/hotline", tags=["hotline"])
MAX_BYTES = 20 * 1024 * 1024


async def _text(request: Request) -> str:
    """The body as text: read in the loop (an await, no blocking), so the endpoints can be plain ``def``s whose
    database work runs in FastAPI's threadpool. Declared after the caller's check, so a refused caller's body is
    never read."""
    body = await request.body()
    if len(body) > MAX_BYTES:
        raise TooLarge(f"at most {MAX_BYTES // (1024 * 1024)} MB per import")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the body must be UTF-8 text (CSV or JSON)") from None


@router.post("/orders", summary="Import work orders (CSV or JSON body); idempotent by order_id")
def orders(request: Request, format: str = Query("csv", description="csv | json"),
           mode: str = Query("all", description="all: nothing written on a bad row | good: keep good rows"),
           crs: str = Query("wgs84", description="wgs84 | gcj02 | bd09"),
           principal: Principal = Depends(require("receptionist", "admin")),
           session: Session = Depends(get_session), raw: str = Depends(_text)):
    return hotline_orders.import_orders(
        session, request.app.state.grid_index.get(session), raw, fmt=format, mode=mode, crs=crs,
        now=request.app.state.clock(), settings=request.app.state.settings, actor=principal.user,
        ip=client_ip(request))


@router.post("/callbacks", summary="Record callback results (回访) on closed cases (CSV or JSON body)")
def callbacks(request: Request, format: str = Query("csv", description="csv | json"),
              principal: Principal = Depends(require("receptionist", "admin")),
              session: Session = Depends(get_session), raw: str = Depends(_text)):
    return hotline.record_callbacks(session, request.app.state.grid_index.get(session), raw, fmt=format,
                                    calendar=request.app.state.calendar.get(session), now=request.app.state.clock())
