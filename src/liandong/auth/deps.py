"""FastAPI dependencies: a session per request, the calling user, role checks.

They are ``async`` so that a request does not hop to a worker thread for each of them: the session is
created without I/O, the caller is usually found in the per-process cache, and only a cache miss or a
pending rollback goes to a thread."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from liandong.areas.scope import Scope
from liandong.auth import service
from liandong.auth.models import User
from liandong.auth.principals import Identity
from liandong.db import utcnow
from liandong.errors import Forbidden, Unauthorized

SESSION_COOKIE = "liandong_session"
oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def request_time(request: Request) -> dt.datetime:
    """The app's clock: the real time, or the one a test or a replay gave ``create_app`` (async: no thread)."""
    return request.app.state.clock()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; routers commit explicitly, anything else is rolled back."""
    session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        if session.in_transaction():  # the rollback talks to the database: not on the event loop
            await run_in_threadpool(_end, session)
        else:
            session.close()


def _end(session: Session) -> None:
    session.rollback()
    session.close()


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
    return Principal(identity=identity, token=secret, session=session) if identity else None


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
    return identity


async def current_principal(principal: Principal | None = Depends(optional_principal)) -> Principal:
    if principal is None:
        raise Unauthorized("not authenticated: log in or send a bearer token")
    return principal


def require(*roles: str):
    """Dependency factory: the caller must hold one of ``roles``."""

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.has(*roles):
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
        return principal

    return check
