"""FastAPI application factory: routers, pages, static files, error mapping, the grid index."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, IntegrityError, InternalError, OperationalError, StatementError
from sqlalchemy.orm.exc import StaleDataError

from liandong import __version__
from liandong.areas.api import layer_router
from liandong.areas.api import router as areas_router
from liandong.areas.index import IndexHolder
from liandong.assessment.api import router as assessment_router
from liandong.auth.api import router as auth_router
from liandong.auth.deps import ErrorAnswer
from liandong.auth.principals import PrincipalCache
from liandong.cases import calendar
from liandong.cases.api import router as cases_router
from liandong.cases.calendar_api import router as calendar_router
from liandong.cases.dedupe_api import router as dedupe_router
from liandong.cases.notifications_api import router as notifications_router
from liandong.cases.stats_api import router as stats_router
from liandong.catalogue.api import router as catalogue_router
from liandong.components.api import router as components_router
from liandong.config import Settings, get_settings
from liandong.db import session_factory, utcnow
from liandong.emergency import live_events
from liandong.emergency.api import router as incidents_router
from liandong.emergency.cap.api import router as cap_router
from liandong.errors import DomainError, error_responses
from liandong.guard import NulGuard
from liandong.intake.citizen_api import router as citizen_router
from liandong.intake.hotline_api import router as hotline_router
from liandong.intake.open311.api import keys_router as open311_keys_router
from liandong.intake.open311.api import router as open311_router
from liandong.intake.sensors.api import router as sensors_router
from liandong.intake.video.api import router as video_router
from liandong.live.api import router as live_router
from liandong.live.feed import Feed
from liandong.ratelimit import RateLimiter
from liandong.screening import early_warning_live
from liandong.screening.campaigns_api import router as campaigns_router
from liandong.screening.disputes_api import router as disputes_router
from liandong.screening.early_warnings_api import router as early_warnings_router
from liandong.screening.hazards_api import router as hazards_router
from liandong.screening.summary_api import router as screening_summary_router
from liandong.units.api import router as units_router
from liandong.web import reasons

STATIC = Path(__file__).parent / "web" / "static"


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Run the escalation sweep in the background while the app serves (every ``sweep_seconds``)."""
    task = None
    if app.state.settings.sweep_seconds > 0:
        task = asyncio.create_task(_sweep_forever(app))
    scanner = None
    if app.state.settings.early_warning_scan_minutes > 0:
        scanner = asyncio.create_task(_scan_forever(app))
    cap_poller = None
    if app.state.settings.cap_feed_urls.strip() and app.state.settings.cap_poll_seconds > 0:
        cap_poller = asyncio.create_task(_poll_cap_forever(app))
    yield
    if task:
        task.cancel()
    if cap_poller:
        cap_poller.cancel()
    if scanner:
        scanner.cancel()
    await app.state.live.close()
    await app.state.live_incidents.close()
    await app.state.live_early_warnings.close()


async def _sweep_forever(app: FastAPI) -> None:
    from liandong.cases import sla
    from liandong.db import unit_of_work
    from liandong.emergency import task_sweep

    def once() -> None:
        with unit_of_work(app.state.database_url) as session:
            sla.sweep(session, app.state.clock(), app.state.calendar.get(session))
        with unit_of_work(app.state.database_url) as session:  # plan tasks: natural time, their own transaction
            task_sweep.sweep(session, app.state.clock(), app.state.settings.task_ack_minutes)

    while True:
        await asyncio.sleep(app.state.settings.sweep_seconds)
        try:
            await asyncio.to_thread(once)
        except Exception:  # a failed sweep must not stop the next one; it is logged
            logging.getLogger("liandong.sweep").exception("escalation sweep failed")


async def _scan_forever(app: FastAPI) -> None:
    """Scan for early warnings every ``early_warning_scan_minutes`` (safe with several processes: see
    ``screening/early_warnings.py``; a run is skipped when another process scanned within half the interval)."""
    from liandong.db import unit_of_work
    from liandong.screening import early_warnings

    every = dt.timedelta(minutes=app.state.settings.early_warning_scan_minutes)

    def once() -> None:
        early_warnings.scheduled(lambda: unit_of_work(app.state.database_url), app.state.clock(),
                                 app.state.grid_index.get, every)

    while True:
        await asyncio.sleep(app.state.settings.early_warning_scan_minutes * 60)
        try:
            await asyncio.to_thread(once)
        except Exception:  # a failed scan must not stop the next one; it is logged
            logging.getLogger("liandong.early_warning").exception("early-warning scan failed")


async def _poll_cap_forever(app: FastAPI) -> None:
    """Poll the configured CAP feeds every ``cap_poll_seconds`` (safe with several processes: each message is
    stored once, by its unique sender, identifier and sent time)."""
    from liandong.db import unit_of_work
    from liandong.emergency.cap import poll

    settings = app.state.settings
    urls = [u.strip() for u in settings.cap_feed_urls.split(",") if u.strip()]
    while True:
        for url in urls:
            try:
                summary = await asyncio.to_thread(poll.poll, url, lambda: unit_of_work(app.state.database_url),
                                                  settings, app.state.clock)
                if summary["refused"]:
                    logging.getLogger("liandong.cap").warning("CAP feed %s: refused %s", url, summary["refused"])
            except Exception:  # a failed poll must not stop the next one; it is logged
                logging.getLogger("liandong.cap").exception("polling the CAP feed %s failed", url)
        await asyncio.sleep(settings.cap_poll_seconds)


def create_app(settings: Settings | None = None, clock: Callable[[], dt.datetime] | None = None) -> FastAPI:
    """The app; ``clock`` gives case time (deadlines, sweeps, figures) — the real UTC time unless a test or a
    replay fixes it. Sign-in and tokens always use the real time."""
    settings = settings or get_settings()
    app = FastAPI(
        lifespan=_lifespan,
        title="Liandong 联动",
        version=__version__,
        description="City grid governance and emergency linkage platform (Minhang 大联动 model).",
        docs_url="/docs",
    )
    app.add_middleware(NulGuard)
    app.state.settings = settings
    app.state.clock = clock or utcnow
    app.state.database_url = settings.url()
    app.state.sessionmaker = session_factory(app.state.database_url)
    app.state.principals = PrincipalCache(settings.principal_cache_seconds)
    app.state.grid_index = IndexHolder(settings.index_check_seconds)
    app.state.rate_limiter = RateLimiter(settings.rate_limit_storage)
    app.state.live = Feed(app.state.sessionmaker, settings.live_poll_seconds)
    app.state.live_incidents = Feed(app.state.sessionmaker, settings.live_poll_seconds, live_events.read,
                                    live_events.last)
    app.state.live_early_warnings = Feed(app.state.sessionmaker, settings.live_poll_seconds,
                                         early_warning_live.read, early_warning_live.last)
    app.state.calendar = calendar.shared(app.state.database_url, settings.work_hours, settings.timezone,
                                         ttl=settings.index_check_seconds * 15)

    @app.exception_handler(DomainError)
    def domain_error(request: Request, exc: DomainError):
        body: dict = {"detail": exc.message, "code": exc.code}
        if exc.params:
            body["params"] = exc.params
        if exc.details:
            body["errors"] = exc.details
        body.update(exc.extra)
        body = reasons.for_page(request, body)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 429:
            headers = {"Retry-After": str(getattr(exc, "retry_after", 60))}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(ErrorAnswer)
    def error_answer(request: Request, exc: ErrorAnswer):
        """An endpoint's refusal in its own format (Open311): raised so that its unit of work rolled back."""
        return exc.response

    raced = {"detail": "changed at the same moment by another request: read it again and retry", "code": "conflict"}

    @app.exception_handler(IntegrityError)
    @app.exception_handler(StaleDataError)
    def integrity_error(request: Request, exc: IntegrityError | StaleDataError):
        """Two requests raced for the same row (an event number, an idempotency key, an event id, a version
        moved on under a write the unit of work flushed at its commit): the loser's transaction is rolled back
        whole, and it is told to read again and retry."""
        return JSONResponse(raced, status_code=409)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InternalError)
    def database_refused(request: Request, exc: OperationalError | InternalError):
        """The database did not take the work — often at the unit of work's commit (``auth/deps.py``), after
        the endpoint itself succeeded: a serialisation failure or deadlock (a race, 409 like above), or a
        database that is unreachable, locked or read-only (503). Everything was rolled back, and the answer
        says so: never a success for data that was not stored."""
        if getattr(exc.orig, "sqlstate", None) in ("40001", "40P01"):  # PostgreSQL: serialization, deadlock
            return JSONResponse(raced, status_code=409)
        return JSONResponse({"detail": "the database cannot store changes right now; nothing was saved: try again "
                                       "shortly", "code": "unavailable"}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    def out_of_range(request: Request, exc: Exception):
        return JSONResponse({"detail": "a number or date in the request is out of range"}, status_code=400)

    @app.exception_handler(StatementError)
    def statement_error(request: Request, exc: StatementError):
        """A value the driver could not bind (a date in year 1 shifted to UTC): the request's fault, not ours."""
        if isinstance(exc.orig, OverflowError):
            return out_of_range(request, exc)
        raise exc

    @app.exception_handler(RequestValidationError)
    def validation_error(request: Request, exc: RequestValidationError):
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"detail": "invalid request: " + "; ".join(errors), "errors": errors}, status_code=422)

    @app.get("/healthz", tags=["meta"], summary="Liveness and database check")
    def healthz():
        from sqlalchemy import text

        with app.state.sessionmaker() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    errors = error_responses()
    for router in (auth_router, areas_router, layer_router, units_router, catalogue_router, cases_router,
                   notifications_router, components_router, live_router, stats_router, citizen_router,
                   calendar_router, open311_keys_router, hotline_router, video_router,
                   sensors_router, dedupe_router, incidents_router, cap_router, hazards_router, disputes_router,
                   screening_summary_router, early_warnings_router, campaigns_router, assessment_router):
        app.include_router(router, responses=errors)

    from liandong.web.assessment_pages import router as assessment_pages_router
    from liandong.web.campaign_pages import router as campaign_pages_router
    from liandong.web.dashboard import router as dashboard_router
    from liandong.web.emergency_pages import router as emergency_pages_router
    from liandong.web.mobile import router as mobile_router
    from liandong.web.pages import router as pages_router
    from liandong.web.register_pages import router as register_pages_router
    from liandong.web.screening_pages import router as screening_pages_router
    from liandong.web.workbench import router as workbench_router

    for router in (pages_router, dashboard_router, workbench_router, mobile_router, emergency_pages_router,
                   register_pages_router, screening_pages_router, campaign_pages_router):
        app.include_router(router)
    app.include_router(assessment_pages_router)
    app.include_router(open311_router)
    STATIC.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
