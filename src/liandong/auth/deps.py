"""FastAPI dependencies: the request's unit of work, the session of read-only endpoints (a replica's when one is
configured), the calling user, role checks.

They are ``async`` so that a request does not hop to a worker thread for each of them: the session is
created without I/O, the caller is usually found in the per-process cache, and only a cache miss, the
commit, a pending rollback or the choice of a replica goes to a thread."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import anyio
from anyio.lowlevel import RunVar
from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from liandong.areas.scope import Scope
from liandong.auth import service
from liandong.auth.models import User
from liandong.auth.principals import Identity
from liandong.db import utcnow
from liandong.errors import Unauthorized, role_needed
from liandong.ops import logs
from liandong.ops import replica as replicas

log = logging.getLogger(__name__)
SESSION_COOKIE = "liandong_session"
oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def request_time(request: Request) -> dt.datetime:
    """The app's clock: the real time, or the one a test or a replay gave ``create_app`` (async: no thread)."""
    return request.app.state.clock()


async def _unit_of_work(request: Request) -> AsyncIterator[Session]:
    """The request's one transaction: committed here, once, when the endpoint returned normally; rolled
    back when anything raised. Nothing else commits (routers and services never do).

    It is entered with ``scope="function"`` (see ``get_session``), so FastAPI runs the code after ``yield``
    when the endpoint has returned and its response is built, but *before* the response is sent. With the
    default ``"request"`` scope that code runs after the client already has its answer, and a commit that
    fails there (a unique violation, a serialisation failure, a database gone read-only) would leave a
    200 for data that was never stored. Here the failure propagates to the app's exception handlers and
    becomes the error response instead (409 for a lost race, 503 when the database refuses; ``app.py``).

    An endpoint that wants to answer an error in its own format (Open311) raises ``ErrorAnswer`` rather
    than returning it, so that its writes are rolled back too.

    The session cannot be used after this ends (``close_resets_only=False``): a streaming body (SSE, CSV)
    that tried would fail loudly instead of quietly holding a connection for its whole life; streams take
    short sessions of their own (``live/api.py``)."""
    session = request.app.state.sessionmaker(close_resets_only=False)
    try:
        yield session
    except BaseException:
        await _in_thread(_discard, session)
        raise
    await _in_thread(_commit, session)


async def get_session(session: Session = Depends(_unit_of_work, scope="function")) -> Session:
    """The request's session, in its unit of work (``_unit_of_work``).

    Routers and other dependencies ask for this one with a plain ``Depends(get_session)``: the commit's
    timing is fixed here, once, rather than by a ``scope=`` every call site would have to repeat (a call site
    that forgot it would get a second session, committed after the answer was sent). FastAPI caches it per
    request, so the caller (``Principal.session``) and the endpoint share one session and one transaction."""
    return session


_ENDING: RunVar[anyio.CapacityLimiter] = RunVar("_ENDING")
"""Four threads per event loop for the commits. A limiter belongs to one loop: shared by two (two apps in one
process, as in the tests) a token taken in a loop that then closes is never given back, and a waiter woken from
another loop's thread may never run."""


def _ending() -> anyio.CapacityLimiter:
    try:
        return _ENDING.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(4)
        _ENDING.set(limiter)
        return limiter


async def _in_thread(work: Callable[[Session], None], session: Session) -> None:
    """Database work off the event loop; shielded, so a client that hangs up cannot leave the transaction
    and its connection (on SQLite: the write lock) behind. A session that never began needs no thread."""
    if not session.in_transaction():
        session.close()
        return
    with anyio.CancelScope(shield=True):
        # its own limiter: a commit must not queue for one of the request threads while it holds its connection
        # (on SQLite: the write lock) that those threads wait for
        await anyio.to_thread.run_sync(work, session, limiter=_ending())


def _commit(session: Session) -> None:
    try:
        writer = replicas.writer(session)
        session.commit()
    except BaseException:
        _discard(session)
        raise
    if writer is not None:
        _mark(session, writer)
    session.close()


def _mark(session: Session, user_id: int) -> None:
    """With a read replica: note where the primary's WAL stands now that this user's write committed, so their next
    read, in any process, waits for the replica to show it or reads the primary (ops/replica.py). A failure is
    logged, not raised: the write is committed and the answer must say so; what it costs is that this user's reads
    may come from a replica that does not show the write yet, until the replica has replayed it (usually
    milliseconds) or their next write stores a mark."""
    try:
        replicas.mark(session, user_id)
        session.commit()
    except DBAPIError:
        log.warning("could not store the read mark of user %s after their write", user_id, exc_info=True)
        _discard(session)


def _discard(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


class ErrorAnswer(Exception):
    """An error answered in an endpoint's own format (e.g. Open311's ``<errors>``): raised rather than returned,
    so that the request's unit of work rolls back; the app sends ``response`` as it is (``app.py``)."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


@dataclass
class Principal:
    """The caller of this request: a cached identity, and their user row when a router needs it."""

    identity: Identity
    token: str
    session: Session

    @property
    def user(self) -> User:
        """The full user row, loaded in this request's session on first use."""
        return self.session.get(User, self.identity.user_id)

    @property
    def user_id(self) -> int:
        return self.identity.user_id

    @property
    def username(self) -> str:
        return self.identity.username

    @property
    def unit_id(self) -> int:
        return self.identity.unit_id

    @property
    def roles(self) -> list[str]:
        return sorted(self.identity.roles)

    @property
    def scope(self) -> Scope:
        return self.identity.scope

    @property
    def assigned_only(self) -> bool:
        return self.identity.assigned_only

    def has(self, *roles: str) -> bool:
        return bool(set(roles) & set(self.identity.roles))


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _identity(request: Request, secret: str, session: Session) -> Identity | None:
    try:
        return request.app.state.principals.get(
            service.digest(secret), utcnow(), lambda: service.identity_for_token(session, secret))
    except Unauthorized:
        return None


async def optional_principal(request: Request, token: str | None = Depends(oauth2),
                             session: Session = Depends(get_session)) -> Principal | None:
    secret = token or request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    identity = request.app.state.principals.cached(service.digest(secret), utcnow())
    if identity is None:
        identity = await run_in_threadpool(_identity, request, secret, session)
    if identity is None:
        return None
    logs.note_user(identity.user_id)
    if _replica(request) is not None:
        session.info[replicas.MARK_USER] = identity.user_id
    return Principal(identity=identity, token=secret, session=session)


def _replica(request: Request) -> replicas.Replica | None:
    """The app's read replica, when ``LIANDONG_DATABASE_REPLICA_URL`` names one."""
    settings = request.app.state.settings
    return replicas.replica_for(request.app.state.database_url, settings.database_replica_url,
                                settings.replica_max_lag_seconds)


async def _replica_read(request: Request, principal: Principal | None = Depends(optional_principal),
                        session: Session = Depends(get_session)) -> AsyncIterator[Session]:
    """A session on the replica when it can serve this caller (it shows their own last write and is not lagging
    too far, ops/replica.py), else the request's own session on the primary. The replica's is read-only and
    rolled back at the end; the caller is always looked up on the primary (a revoked token stops at once)."""
    replica = _replica(request)
    if replica is None or principal is None:  # nobody signed in: these endpoints answer only 401 or the login page
        yield session
        return
    with anyio.CancelScope(shield=True):  # a client hanging up must not lose a replica session that was opened
        chosen, choice = await anyio.to_thread.run_sync(replica.open, session, principal.user_id)
    request.state.read_from = choice  # where this request read, and why (for logs and metrics)
    if chosen is None:
        yield session
        return
    try:
        yield chosen
    finally:
        await _in_thread(_discard, chosen)


async def read_session(session: Session = Depends(_replica_read, scope="function")) -> Session:
    """The session of a read-only endpoint (dashboards, assessment, reports, exports): the replica's when one is
    configured and fit for this caller, else the request's own (``get_session``). Use it only where the endpoint
    writes nothing: the replica refuses writes. ``request.state.read_from`` says which was taken, and why."""
    return session


def streaming_identity(request: Request, token: str | None = Depends(oauth2)) -> Identity:
    """The caller of a long-lived response (SSE): looked up in a session closed at once, so the
    stream holds no database connection while it waits."""
    secret = token or request.cookies.get(SESSION_COOKIE)
    identity = None
    if secret:
        with request.app.state.sessionmaker() as session:
            identity = _identity(request, secret, session)
    if identity is None:
        raise Unauthorized("not authenticated: log in or send a bearer token")
    logs.note_user(identity.user_id)
    request.state.stream_secret = secret
    return identity


def stream_identity_now(request: Request) -> Identity | None:
    """The caller of a long-lived response as of now (None: signed out, disabled or expired), for a stream that
    holds its identity for hours: called again when users or tokens changed (``principals.generation``). Blocks:
    run it in a worker thread."""
    with request.app.state.sessionmaker() as session:
        return _identity(request, request.state.stream_secret, session)


async def current_principal(principal: Principal | None = Depends(optional_principal)) -> Principal:
    if principal is None:
        raise Unauthorized("not authenticated: log in or send a bearer token")
    return principal


def require(*roles: str):
    """Dependency factory: the caller must hold one of ``roles``."""

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.has(*roles):
            raise role_needed("request", roles, "this")
        return principal

    return check
