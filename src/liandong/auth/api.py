"""Auth endpoints: token, logout, me, users (admin) and the audit log (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from liandong.auth import service
from liandong.auth.deps import Principal, client_ip, current_principal, get_session, require

router = APIRouter(prefix="/api/v1", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


@router.post("/auth/token", response_model=TokenOut, summary="Log in: OAuth2 password form → bearer token")
def token(request: Request, form: OAuth2PasswordRequestForm = Depends(), session: Session = Depends(get_session)):
    _, secret = service.sign_in(session, form.username, form.password, "api", ip=client_ip(request))
    return TokenOut(access_token=secret)


@router.post("/auth/logout", status_code=204, summary="Revoke the token used for this request")
def logout(request: Request, principal: Principal = Depends(current_principal),
           session: Session = Depends(get_session)):
    service.sign_out(session, principal.token, ip=client_ip(request))


@router.get("/me", summary="The calling user, their roles, unit and jurisdiction")
def me(principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return service.user_dict(session, principal.user, unmasked=True)


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    unit_code: str
    roles: list[str]
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)


class RolesIn(BaseModel):
    roles: list[str]


class PasswordIn(BaseModel):
    password: str = Field(min_length=1, max_length=200)


admin = require("admin")


@router.get("/users", summary="Users (admin)")
def list_users(principal: Principal = Depends(admin), session: Session = Depends(get_session)):
    return [service.user_dict(session, u) for u in service.list_users(session, principal.scope)]


@router.post("/users", status_code=201, summary="Create a user (admin, audited)")
def create_user(body: UserIn, request: Request, principal: Principal = Depends(admin),
                session: Session = Depends(get_session)):
    user = service.create_user(session, **body.model_dump(), actor=principal.user, ip=client_ip(request),
                               scope=principal.scope)
    return service.user_dict(session, user)


@router.put("/users/{username}/roles", summary="Replace a user's roles (admin, audited)")
def set_roles(username: str, body: RolesIn, request: Request, principal: Principal = Depends(admin),
              session: Session = Depends(get_session)):
    user = service.set_roles(session, username, body.roles, actor=principal.user, ip=client_ip(request),
                             scope=principal.scope)
    return service.user_dict(session, user)


@router.put("/users/{username}/password", status_code=204,
            summary="Reset a user's password (admin, audited): ends their sessions, lifts a lock-out")
def set_password(username: str, body: PasswordIn, request: Request, principal: Principal = Depends(admin),
                 session: Session = Depends(get_session)):
    service.set_password(session, username, body.password, actor=principal.user, ip=client_ip(request),
                         scope=principal.scope)


class ActiveIn(BaseModel):
    active: bool


@router.put("/users/{username}/active", summary="Enable or disable a user (admin, audited)")
def set_active(username: str, body: ActiveIn, request: Request, principal: Principal = Depends(admin),
               session: Session = Depends(get_session)):
    user = service.set_active(session, username, body.active, actor=principal.user, ip=client_ip(request),
                              scope=principal.scope)
    return service.user_dict(session, user)


@router.post("/users/{username}/unlock", summary="Clear a lock-out (admin, audited)")
def unlock(username: str, request: Request, principal: Principal = Depends(admin),
           session: Session = Depends(get_session)):
    user = service.unlock(session, username, actor=principal.user, ip=client_ip(request), scope=principal.scope)
    return service.user_dict(session, user)


@router.get("/audit", summary="The audit log, newest first (admin)")
def audit_log(action: str | None = Query(None, max_length=64), actor: str | None = Query(None, max_length=64),
              limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9),
              principal: Principal = Depends(admin), session: Session = Depends(get_session)):
    return service.audit_log(session, principal.scope, action=action, actor=actor, limit=limit, offset=offset)
