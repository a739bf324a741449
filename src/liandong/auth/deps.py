"""FastAPI dependencies: a session per request, the calling user, role checks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from liandong.areas.scope import Scope
from liandong.auth import service
from liandong.auth.models import User
from liandong.auth.principals import Identity
from liandong.db import utcnow
from liandong.errors import Forbidden, Unauthorized

SESSION_COOKIE = "liandong_session"
oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; routers commit explicitly, anything else is rolled back."""
    session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
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
        return list(self.identity.roles)

    @property
    def scope(self) -> Scope:
        return self.identity.scope

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


def optional_principal(request: Request, token: str | None = Depends(oauth2),
                       session: Session = Depends(get_session)) -> Principal | None:
    secret = token or request.cookies.get(SESSION_COOKIE)
    identity = _identity(request, secret, session) if secret else None
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

    def check(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.has(*roles):
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
        return principal

    return check
