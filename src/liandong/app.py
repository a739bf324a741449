"""FastAPI application factory: routers, pages, static files, error mapping, the grid index."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm.exc import StaleDataError
from starlette.types import ASGIApp, Receive, Scope, Send

from liandong import __version__
from liandong.areas.api import layer_router
from liandong.areas.api import router as areas_router
from liandong.areas.index import IndexHolder
from liandong.assessment.api import router as assessment_router
from liandong.auth.api import router as auth_router
from liandong.auth.deps import ErrorAnswer
from liandong.auth.principals import PrincipalCache
from liandong.cases import calendar, work_figures
from liandong.cases.api import router as cases_router
from liandong.cases.calendar_api import router as calendar_router
from liandong.cases.dedupe_api import router as dedupe_router
from liandong.cases.notifications_api import router as notifications_router
from liandong.cases.stats_api import router as stats_router
from liandong.catalogue.api import router as catalogue_router
from liandong.components.api import router as components_router
from liandong.config import Settings, get_settings
from liandong.db import RACED, Fault, classify, driver_errors, readiness, session_factory, utcnow
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
from liandong.ops import logs, metrics, replica
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
RETRY_AFTER = "5"
"""Seconds a client is told to wait after a database fault (503): long enough for a pool to reconnect."""


def fault_response(fault: Fault) -> JSONResponse:
    """The answer to a request the database refused: ``fault.detail`` says the cause and that nothing was saved."""
    headers = {"Retry-After": RETRY_AFTER} if fault.status == 503 else None
    return JSONResponse({"detail": fault.detail, "code": fault.code, "params": {"cause": fault.cause}},
                        status_code=fault.status, headers=headers)


class DatabaseFaults:
    """ASGI guard for database faults raised outside the endpoints' exception handlers (in a middleware, or in a
    handler that gave up): answered as JSON before anything was sent, instead of escaping to the server.

    An exception that escapes the app makes Starlette answer a bare text 500 and then re-raise, and uvicorn then
    closes the connection: a client's kept-alive connection is dropped with it. Answering here ends the request
    normally. Once the answer has started, nothing can be said any more: the error goes on (a cut-off stream)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def sending(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            fault = None if started else classify(exc)
            if fault is None:
                raise
            await fault_response(fault)(scope, receive, send)


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
    refresher = None
    if app.state.settings.assessment_refresh_minutes > 0:
        refresher = asyncio.create_task(_refresh_months_forever(app))
    months = None
    if app.state.settings.partition_check_minutes > 0 and app.state.database_url.startswith("postgresql"):
        months = asyncio.create_task(_partitions_forever(app))
    from liandong.auth import invalidation  # PostgreSQL: other processes' user and token changes count here at once

    listener = app.state.principal_listener = invalidation.listen(app.state.database_url)
    yield
    if listener:
        await asyncio.to_thread(listener.stop)
    if task:
        task.cancel()
    if cap_poller:
        cap_poller.cancel()
    if scanner:
        scanner.cancel()
    if refresher:
        refresher.cancel()
    if months:
        months.cancel()
    await app.state.live.close()
    await app.state.live_incidents.close()
    await app.state.live_early_warnings.close()


async def _partitions_forever(app: FastAPI) -> None:
    """Keep the coming months of the partitioned history made (PostgreSQL, migration 0031), at the start and then
    every ``partition_check_minutes``: a month not made would send its events to the DEFAULT partition. Several
    processes may run it: one makes the months under a lock, the others skip (``partitions.make_coming``)."""
    from liandong.db import get_engine
    from liandong.ops import partitions

    def once() -> None:
        with get_engine(app.state.database_url).begin() as conn:
            made = partitions.make_coming(conn, app.state.clock())
            if made:
                logging.getLogger("liandong.partitions").info("partitions made: %s", ", ".join(made))

    while True:
        try:
            with metrics.job_run("partitions"):
                await asyncio.to_thread(once)
        except Exception:  # a failed run must not stop the next one; it is logged
            logging.getLogger("liandong.partitions").exception("making the coming months' partitions failed")
        await asyncio.sleep(app.state.settings.partition_check_minutes * 60)


async def _sweep_forever(app: FastAPI) -> None:
    from liandong.cases import sla
    from liandong.db import unit_of_work
    from liandong.emergency import task_sweep

    def once() -> None:
        with metrics.job_run("sweep"), unit_of_work(app.state.database_url) as session:
            sla.sweep(session, app.state.clock(), app.state.calendar.get(session))
        # plan tasks: natural time, their own transaction
        with metrics.job_run("task_sweep"), unit_of_work(app.state.database_url) as session:
            task_sweep.sweep(session, app.state.clock(), app.state.settings.task_ack_minutes)

    await _every(app.state.settings.sweep_seconds, once, "liandong.sweep", "escalation sweep failed")


async def _every(seconds: float, once: Callable[[], None], logger: str, failed: str) -> None:
    """Run ``once`` in a worker thread every ``seconds``, for ever; a failed run is logged and the next one comes."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(once)
        except Exception:  # a failed run must not stop the next one
            logging.getLogger(logger).exception(failed)


async def _refresh_months_forever(app: FastAPI) -> None:
    """Bring the assessment's month figures up to date every ``assessment_refresh_minutes`` (at most a year of
    months stored a run, so that a first run over a long history does not hold a thread for long)."""
    from liandong.assessment import months
    from liandong.assessment import settings as assessment_settings
    from liandong.db import unit_of_work

    def once() -> None:
        with metrics.job_run("assessment_months"):
            months.refresh(lambda: unit_of_work(app.state.database_url), assessment_settings.current(),
                           app.state.clock(), limit=12 * len(months.FAMILIES))

    await _every(app.state.settings.assessment_refresh_minutes * 60, once, "liandong.assessment",
                 "refreshing the month figures failed")


async def _scan_forever(app: FastAPI) -> None:
    """Scan for early warnings every ``early_warning_scan_minutes`` (safe with several processes: see
    ``screening/early_warnings.py``; a run is skipped when another process scanned within half the interval)."""
    from liandong.db import unit_of_work
    from liandong.screening import early_warnings

    every = dt.timedelta(minutes=app.state.settings.early_warning_scan_minutes)

    def once() -> None:
        with metrics.job_run("early_warning_scan"):
            early_warnings.scheduled(lambda: unit_of_work(app.state.database_url), app.state.clock(),
                                     app.state.grid_index.get, every)

    await _every(every.total_seconds(), once, "liandong.early_warning", "early-warning scan failed")


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
                with metrics.job_run("cap_poll"):
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
    app.add_middleware(DatabaseFaults)  # outside the app's own layers, inside metrics and logs (added below)
    app.state.settings = settings
    app.state.clock = clock or utcnow
    app.state.database_url = settings.url()
    app.state.sessionmaker = session_factory(app.state.database_url)
    # a replica the primary cannot have (SQLite) is refused now, not on every request
    replica.replica_for(app.state.database_url, settings.database_replica_url, settings.replica_max_lag_seconds)
    app.state.principals = PrincipalCache(settings.principal_cache_seconds)
    app.state.grid_index = IndexHolder(settings.index_check_seconds)
    app.state.rate_limiter = RateLimiter(settings.rate_limit_storage)
    app.state.live = Feed(app.state.sessionmaker, settings.live_poll_seconds)
    app.state.live_incidents = Feed(app.state.sessionmaker, settings.live_poll_seconds, live_events.read,
                                    live_events.last)
    app.state.live_early_warnings = Feed(app.state.sessionmaker, settings.live_poll_seconds,
                                         early_warning_live.read, early_warning_live.last)
    app.state.calendar = calendar.shared(app.state.database_url, settings.work_hours, settings.timezone,
                                         ttl=settings.index_check_seconds)
    metrics.install(app, work_figures.read)  # /metrics, request latency, live-feed clients (after the feeds exist)
    logs.install(app)  # JSON logs and the request id (outermost: every line of a request carries its id)

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

    @app.exception_handler(IntegrityError)
    @app.exception_handler(StaleDataError)
    def integrity_error(request: Request, exc: IntegrityError | StaleDataError):
        """Two requests raced for the same row (an event number, an idempotency key, an event id, a version
        moved on under a write the unit of work flushed at its commit): the loser's transaction is rolled back
        whole, and it is told to read again and retry."""
        return fault_response(RACED)

    def database_refused(request: Request, exc: Exception):
        """The database did not take the work — often at the unit of work's commit (``auth/deps.py``), after
        the endpoint itself succeeded: a serialisation failure or deadlock (a race, 409 like above), or a
        database that is unreachable, read-only, full or whose connection was killed (503 naming the cause,
        ``db.classify``). Everything was rolled back, and the answer says so: never a success for data that was
        not stored. A dead connection was dropped from the pool by SQLAlchemy; the next request gets a new one.
        Errors that are no fault of the database (a bug) go on as server errors."""
        fault = classify(exc)
        if fault is None:
            raise exc
        return fault_response(fault)

    for kind in (DBAPIError, *driver_errors()):  # the drivers' own: a failed pre-ping is raised unwrapped
        app.add_exception_handler(kind, database_refused)

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

    @app.get("/healthz", tags=["meta"], summary="Liveness: the process answers (the database is not asked)")
    async def healthz():
        """Alive only: a process whose database is down is still alive, and restarting it would not help."""
        return {"status": "ok", "version": __version__}

    last_ready: list = [float("-inf"), None]

    @app.get("/readyz", tags=["meta"], summary="Readiness: the database is reachable, migrated and writable",
             responses={503: {"description": "Not ready: `failing` names the check, `checks` each one's reason"}})
    def readyz():
        """Whether this process can do its work now (``db.readiness``): 503 naming the failing check otherwise,
        so that a load balancer sends requests elsewhere meanwhile. An answer is kept for a second: the check
        takes the write lock, and a flood of probes must not queue the real writers behind it."""
        at, ready = last_ready
        if time.monotonic() - at >= settings.ready_keep_seconds:
            ready = readiness(app.state.database_url)
            last_ready[:] = [time.monotonic(), ready]
        if ready.failing is None:
            return {"status": "ready", "checks": ready.checks, "version": __version__}
        return JSONResponse({"status": "not ready", "failing": ready.failing, "detail": ready.fault.reason,
                             "code": "unavailable", "checks": ready.checks}, status_code=503,
                            headers={"Retry-After": RETRY_AFTER})

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
