"""Prometheus metrics at ``/metrics``: what the running processes do, and what the database says.

Two kinds of figures, kept apart on purpose:

- **Per-process runtime figures** — request latency by route template, requests in flight, live-feed (SSE)
  clients, background job runs — are ordinary ``prometheus_client`` metrics. With several worker processes
  (``liandong serve --workers N``) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory writable by the
  workers (emptied before each start): every process then writes its figures there and ``/metrics``, whichever
  process answers, sums them (``MultiProcessCollector``). Without it, each process answers with its own.
- **Figures about the work** — case transitions by action, overdue stages, the sweep's lag — are aggregates
  over the event log and the cases, computed by a query at scrape time (the project's rule: no figure is a
  counter kept on the side). They are the same whichever process answers. Their cost is bounded: each query
  rides an index (``ix_case_events_at``, ``ix_cases_stage_deadline``), the transitions are counted over the
  current day only, and on PostgreSQL a statement timeout stops a slow scrape; a failed query turns
  ``liandong_metrics_database_up`` to 0 instead of failing the scrape.

The series: ``liandong_http_request_duration_seconds{route,method,status}`` (route: the route's template, e.g.
``/api/v1/cases/{case_id}``; status: ``2xx``…), ``liandong_http_requests_in_flight``, ``liandong_sse_clients{feed}``,
``liandong_job_runs_total{job}``, ``liandong_job_failures_total{job}``, ``liandong_job_duration_seconds{job}``,
``liandong_job_last_success_timestamp_seconds{job}``; from the database ``liandong_case_transitions_total{action}``,
``liandong_cases_overdue``, ``liandong_sweep_lag_seconds``, and ``liandong_metrics_database_up`` /
``_seconds`` about reading them.

``/metrics`` exposes operational data: it answers only direct loopback callers (no proxy headers: a reverse proxy on
the same machine must send ``X-Forwarded-For`` or ``Forwarded``, as usual, or refuse ``/metrics`` itself), or, when
``LIANDONG_METRICS_TOKEN`` is set, every caller that presents it as a bearer token (and no one else).
"""

from __future__ import annotations

import atexit
import datetime as dt
import glob
import hmac
import ipaddress
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from liandong.errors import Forbidden, Unauthorized

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ
"""Whether the workers share their figures through that directory (prometheus_client decides it at import from the
same variable; its deprecated lower-case spelling is not supported here)."""
UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404): raw paths would make a label per typo."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
JOBS = ("sweep", "task_sweep", "early_warning_scan", "cap_poll", "partitions")
"""The background jobs of ``app.py`` (their series exist from the start, at 0)."""
PROMETHEUS_FILE = re.compile(r"(counter|gauge_[a-z]+|histogram|summary)_\d+\.db")
"""The files prometheus_client's multiprocess mode writes (one per metric type and process id)."""
Figures = Callable[[Session, dt.datetime], dict]
"""Reads the work's figures at scrape time: ``day_start``, ``transitions`` (action → count since then), ``overdue``
and ``due_since`` (``cases/work_figures.py``)."""
FEEDS = {"live": "cases", "live_incidents": "incidents", "live_early_warnings": "early_warnings"}
"""The app's live feeds (``app.state`` attribute → ``feed`` label)."""
QUIET_ROUTES = frozenset({"/metrics", "/healthz", "/readyz"})
"""Routes polled by machines: their request log lines are DEBUG, not INFO (``ops/logs.py``)."""
DATABASE_TIMEOUT_MS = 5000
log = logging.getLogger("liandong.metrics")

REQUEST_SECONDS = Histogram(
    "liandong_http_request_duration_seconds",
    "Time to answer a request, by route template, method and status class (a live stream: until it opens).",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
IN_FLIGHT = Gauge("liandong_http_requests_in_flight", "Requests being answered now (open live streams included).",
                  multiprocess_mode="livesum")
SSE_CLIENTS = Gauge("liandong_sse_clients", "Screens connected to a live feed (Server-Sent Events), by feed.",
                    ["feed"], multiprocess_mode="livesum")
JOB_RUNS = Counter("liandong_job_runs_total", "Runs of a background job in this deployment's processes.", ["job"])
JOB_FAILURES = Counter("liandong_job_failures_total", "Runs of a background job that raised.", ["job"])
JOB_SECONDS = Histogram("liandong_job_duration_seconds", "How long a background job's run took.", ["job"],
                        buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300))
JOB_LAST_SUCCESS = Gauge("liandong_job_last_success_timestamp_seconds",
                         "Unix time of a job's last run that succeeded (alert when it grows old).", ["job"],
                         multiprocess_mode="max")
for _job in JOBS:
    JOB_RUNS.labels(_job)
    JOB_FAILURES.labels(_job)
for _feed in FEEDS.values():
    SSE_CLIENTS.labels(_feed)


@contextmanager
def job_run(job: str) -> Iterator[None]:
    """Count one run of a background job (and its failure, its duration, its last success); the error goes on."""
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        JOB_FAILURES.labels(job).inc()
        raise
    else:
        JOB_LAST_SUCCESS.labels(job).set(time.time())
    finally:
        JOB_RUNS.labels(job).inc()
        JOB_SECONDS.labels(job).observe(time.perf_counter() - start)


def route_template(scope: dict, app: FastAPI | None = None) -> str:
    """The matched route's path format (``/api/v1/cases/{case_id}``), a mount's ``/static/{path}``, or
    ``UNMATCHED``; never the raw path, which would make one series per case and leak numbers into labels."""
    route = scope.get("route")
    path_format = getattr(route, "path_format", None)
    if path_format:
        return path_format
    path = scope.get("path", "")
    for mount in getattr(app, "routes", ()):
        if isinstance(mount, Mount) and mount.path and (path == mount.path or path.startswith(mount.path + "/")):
            return mount.path + "/{path}"
    return UNMATCHED


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class Instrument:
    """ASGI middleware: requests in flight, and each request's latency by route template, method and status
    class. The latency runs until the response is complete, except a live stream's: until it opens."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        answer = {"status": 500, "observed": False}

        def observe() -> None:
            if not answer["observed"]:
                answer["observed"] = True
                method = scope["method"] if scope["method"] in METHODS else "OTHER"
                REQUEST_SECONDS.labels(route_template(scope, self.owner), method,
                                       status_class(answer["status"])).observe(time.perf_counter() - start)

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                if any(k.lower() == b"content-type" and v.startswith(b"text/event-stream")
                       for k, v in message.get("headers", ())):
                    observe()
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                observe()

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, sending)
        finally:
            IN_FLIGHT.dec()
            observe()  # an error with no answer is counted as the 500 the server sends


class CountedSet(set):
    """A feed's subscriber set that keeps the ``liandong_sse_clients`` gauge of its feed in step."""

    def __init__(self, gauge) -> None:
        super().__init__()
        self._gauge = gauge

    def add(self, item) -> None:
        if item not in self:
            super().add(item)
            self._gauge.inc()

    def discard(self, item) -> None:
        if item in self:
            super().discard(item)
            self._gauge.dec()

    def remove(self, item) -> None:
        if item not in self:
            raise KeyError(item)
        self.discard(item)

    def clear(self) -> None:
        self._gauge.dec(len(self))
        super().clear()


# --- figures from the database, computed at scrape time ------------------------------------------------------

class DatabaseCollector:
    """The figures about the work, read from the app's database when ``/metrics`` is scraped."""

    def __init__(self, app: FastAPI, figures: Figures):
        """``figures`` reads them (``cases/work_figures.py``, handed in by the app: this module knows no domain)."""
        self.app = app
        self.figures = figures

    def _read(self) -> dict:
        with self.app.state.sessionmaker() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SET LOCAL statement_timeout = {DATABASE_TIMEOUT_MS}"))
            return self.figures(session, self.app.state.clock())

    def collect(self) -> Iterable[Metric]:
        start = time.perf_counter()
        try:
            figures = self._read()
        except Exception:  # a database that is down must not break the runtime figures: say so instead
            log.warning("metrics: the database figures could not be read", exc_info=True)
            figures = None
        up = GaugeMetricFamily("liandong_metrics_database_up", "Whether the database figures were read (1) or not.")
        up.add_metric([], 1 if figures else 0)
        took = GaugeMetricFamily("liandong_metrics_database_seconds", "How long reading the database figures took.")
        took.add_metric([], time.perf_counter() - start)
        yield up
        yield took
        if figures is None:
            return
        now = self.app.state.clock()
        transitions = CounterMetricFamily(
            "liandong_case_transitions", "Case events (transitions, escalations) by action since the start of the "
            "district's day, counted in the event log; the day's start is the counter's creation time.",
            labels=["action"])
        created = figures["day_start"].timestamp()
        for action, count in figures["transitions"].items():
            transitions.add_metric([action], count, created=created)
        yield transitions
        yield GaugeMetricFamily("liandong_cases_overdue", "Open cases whose running stage is past its deadline "
                                "(red light).", value=figures["overdue"])
        lag = (now - figures["due_since"]).total_seconds() if figures["due_since"] is not None else 0.0
        yield GaugeMetricFamily("liandong_sweep_lag_seconds", "Seconds since the oldest overdue stage that the "
                                "escalation sweep has not raised yet became due (0: none waits).", value=max(lag, 0))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process holds the number
        return True
    return True


def forget_dead_processes(path: str) -> None:
    """Drop the live gauges (in flight, SSE clients) of workers that died without cleaning up (kill -9, a crash):
    their counts ended with them. The workers share this directory, so they share the host and its process ids."""
    from prometheus_client import multiprocess

    for file in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        number = os.path.basename(file)[:-3].rsplit("_", 1)[-1]
        if number.isdigit() and not _alive(int(number)):
            multiprocess.mark_process_dead(int(number), path)


def reset_multiprocess_dir() -> None:
    """Empty ``PROMETHEUS_MULTIPROC_DIR`` of an earlier run's figures: call it once before the workers start (the
    counters of processes long gone would otherwise be summed into this run's)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path and os.path.isdir(path):
        for file in glob.glob(os.path.join(path, "*.db")):
            if PROMETHEUS_FILE.fullmatch(os.path.basename(file)):  # never another program's (or our database)
                os.remove(file)


class Scrape:
    """What one scrape exposes: this process's registry (or every process's, in multiprocess mode) and the
    database figures."""

    def __init__(self, database: DatabaseCollector):
        self.database = database

    def collect(self) -> Iterable[Metric]:
        if MULTIPROCESS:
            from prometheus_client import multiprocess

            forget_dead_processes(os.environ["PROMETHEUS_MULTIPROC_DIR"])
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()
        yield from self.database.collect()


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def check_access(request: Request) -> None:
    """With a token configured, the caller must present it; without one, only a direct loopback caller may read
    (a request that came through a reverse proxy on the same machine carries a proxy header and is refused)."""
    token = request.app.state.settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise Unauthorized("/metrics needs the metrics bearer token (LIANDONG_METRICS_TOKEN)")
        return
    host = request.client.host if request.client else None
    if not _loopback(host) or any(h in request.headers for h in PROXY_HEADERS):
        raise Forbidden("/metrics answers only local callers; set LIANDONG_METRICS_TOKEN to let a Prometheus server "
                        "elsewhere read it with that bearer token")


_exit_hook = False


def install(app: FastAPI, figures: Figures) -> None:
    """Measure the app's requests, count its live-feed clients, and serve ``/metrics`` with the work's ``figures``
    read from the database at each scrape."""
    global _exit_hook
    app.add_middleware(Instrument, owner=app)
    for attr, label in FEEDS.items():
        feed = getattr(app.state, attr, None)
        if feed is not None:
            counted = CountedSet(SSE_CLIENTS.labels(label))
            for sub in feed.subscribers:
                counted.add(sub)
            feed.subscribers = counted
    scrape = Scrape(DatabaseCollector(app, figures))

    def metrics(request: Request) -> Response:
        check_access(request)
        return Response(generate_latest(scrape), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    if MULTIPROCESS and not _exit_hook:  # a worker that ends cleanly takes its live gauges with it
        from prometheus_client import multiprocess

        atexit.register(multiprocess.mark_process_dead, os.getpid())
        _exit_hook = True
