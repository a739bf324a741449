"""Logs: one JSON object per line (or plain text), each carrying the id of the request it was written for.

Every request gets an id: the caller's ``X-Request-ID`` when it is short and plain (1–64 letters, digits,
``.``, ``_``, ``-``: a reverse proxy's or a client's id, so one id follows a request through every hop), else a
new one. The id is sent back in ``X-Request-ID`` and stamped (through a context variable, which follows the
request into worker threads) on every log record written while the request is handled; each request ends with
one line of logger ``liandong.request`` — method, route template, status, duration, the user id when known (see
``note_user``) and, for a read-only endpoint, whether it read from the replica.
Never the raw path or query (tracking keys, case numbers), never names or phone numbers.

``LIANDONG_LOG_FORMAT``: ``json`` by default — a deployment's logs are read by machines (journald, Loki, ELK)
and the default should be what production needs, the same in a terminal as under systemd; ``text`` for reading
by eye. ``LIANDONG_LOG_LEVEL`` (info) sets the level.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
import time
import uuid

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from liandong.ops.metrics import QUIET_ROUTES, route_template

HEADER = "x-request-id"
VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
FORMATS = ("json", "text")
REQUEST_FIELDS = ("method", "route", "status", "duration_ms", "read_from")
"""What a request's closing line adds to the record (always the same fields, never personal data)."""
_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("liandong_request", default=None)
log = logging.getLogger("liandong.request")


def request_id() -> str | None:
    """The id of the request being handled here, if any."""
    current = _context.get()
    return current["request_id"] if current else None


def note_user(user_id: int) -> None:
    """Record who the current request's caller is (called where the caller is identified), for its log lines."""
    current = _context.get()
    if current is not None:
        current["user_id"] = user_id


def accept_id(given: str | None) -> str:
    """The caller's request id when it is plain enough to log and echo, else a new one."""
    if given and VALID_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


class RequestContext:
    """ASGI middleware: the request id (taken or made, sent back), the context every record picks it up from,
    and the request's closing log line."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == b"x-request-id"),
                     None)
        current = {"request_id": accept_id(given), "status": 500}
        token = _context.set(current)
        start = time.perf_counter()

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                current["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", current["request_id"].encode()))
                message = {**message, "headers": headers}
            await send(message)

        error = None
        try:
            await self.app(scope, receive, sending)
        except Exception as exc:  # logged here with the request's id (the server's own line has none), then raised
            error = exc
            raise
        finally:
            route = route_template(scope, self.owner)
            level = logging.ERROR if error else logging.DEBUG if route in QUIET_ROUTES else logging.INFO
            fields = {"method": scope["method"], "route": route, "status": current["status"],
                      "duration_ms": round((time.perf_counter() - start) * 1000, 1)}
            choice = (scope.get("state") or {}).get("read_from")  # set by read-only endpoints (ops/replica.py)
            if choice is not None:
                fields["read_from"] = "replica" if getattr(choice, "replica", False) else "primary"
            log.log(level, "%s %s %s", scope["method"], route, current["status"], exc_info=error, extra=fields)
            _context.reset(token)


def _stamp(factory):
    """A log record factory that adds the current request's id and user to every record, whoever writes it."""

    def make(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        current = _context.get()
        record.request_id = current["request_id"] if current else None
        record.user_id = current.get("user_id") if current else None
        return record

    make.liandong_stamp = True  # type: ignore[attr-defined]
    return make


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, request id, user id, the request
    fields of a closing line, and the error's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for key in ("request_id", "user_id", *REQUEST_FIELDS):
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        elif record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={getattr(record, k)}" for k in ("request_id", "user_id", "duration_ms")
                         if getattr(record, k, None) is not None)
        if not extra:
            return line
        head, sep, rest = line.partition("\n")  # keep a traceback below the first line
        return f"{head} [{extra}]{sep}{rest}"


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the moment (a test's capture, a redirected stream)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure(fmt: str = "json", level: str = "info") -> None:
    """Send every log record (the platform's, the libraries', uvicorn's) to stderr in ``fmt``, once; calling it
    again switches the format and level. uvicorn's access log is silenced: the request lines replace it."""
    if fmt not in FORMATS:
        raise ValueError(f"LIANDONG_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"LIANDONG_LOG_LEVEL must be a logging level (debug, info, warning, error), not {level!r}")
    if not getattr(logging.getLogRecordFactory(), "liandong_stamp", False):
        logging.setLogRecordFactory(_stamp(logging.getLogRecordFactory()))
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, StderrHandler)), None)
    if handler is None:
        handler = StderrHandler()
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False


def install(app: FastAPI) -> None:
    """Configure logging from the app's settings and give every request its id."""
    settings = app.state.settings
    configure(settings.log_format, settings.log_level)
    app.add_middleware(RequestContext, owner=app)
