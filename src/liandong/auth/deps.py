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
    user: User
    scope: Scope
    token: str

    @property
    def roles(self) -> list[str]:
        return self.user.roles

    def has(self, *roles: str) -> bool:
        return bool(set(roles) & set(self.user.roles))


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def optional_principal(request: Request, token: str | None = Depends(oauth2),
                       session: Session = Depends(get_session)) -> Principal | None:
    secret = token or request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    try:
        user = service.user_for_token(session, secret)
    except Unauthorized:
        return None
    return Principal(user=user, scope=service.scope_for(session, user), token=secret)


def current_principal(principal: Principal | None = Depends(optional_principal)) -> Principal:
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
