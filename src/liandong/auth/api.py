"""Auth endpoints: token, logout, me, users (admin) and the audit log (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.auth import audit, service
from liandong.auth.deps import Principal, client_ip, current_principal, get_session, require
from liandong.auth.models import User
from liandong.errors import Forbidden, Unauthorized
from liandong.privacy import mask_phone
from liandong.units.models import Unit

router = APIRouter(prefix="/api/v1", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


@router.post("/auth/token", response_model=TokenOut, summary="Log in: OAuth2 password form → bearer token")
def token(request: Request, form: OAuth2PasswordRequestForm = Depends(), session: Session = Depends(get_session)):
    try:
        user = service.authenticate(session, form.username, form.password, ip=client_ip(request))
    except Unauthorized:
        session.commit()  # keep the failure count and the audit entry
        raise
    secret = service.issue_token(session, user, "api")
    session.commit()
    return TokenOut(access_token=secret)


@router.post("/auth/logout", status_code=204, summary="Revoke the token used for this request")
def logout(principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    service.revoke_token(session, principal.token)
    audit.record(session, "logout", actor=principal.user)
    session.commit()


def user_out(session: Session, user: User, unmasked: bool = False) -> dict:
    unit = session.get(Unit, user.unit_id)
    area = session.get(Area, unit.area_id)
    return {
        "username": user.username,
        "display_name": user.display_name,
        "roles": user.roles,
        "unit": {"id": unit.id, "code": unit.code, "name": unit.name, "kind": unit.kind, "line": unit.line},
        "jurisdiction": {"code": area.code, "name": area.name, "level": area.level},
        "phone": user.phone if unmasked else mask_phone(user.phone),
        "active": user.is_active,
        "locked": user.locked_until is not None,
    }


@router.get("/me", summary="The calling user, their roles, unit and jurisdiction")
def me(principal: Principal = Depends(current_principal), session: Session = Depends(get_session)):
    return user_out(session, principal.user, unmasked=True)


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
    return [user_out(session, u) for u in service.list_users(session, principal.scope)]


@router.post("/users", status_code=201, summary="Create a user (admin, audited)")
def create_user(body: UserIn, request: Request, principal: Principal = Depends(admin),
                session: Session = Depends(get_session)):
    user = service.create_user(session, **body.model_dump(), actor=principal.user, ip=client_ip(request),
                               scope=principal.scope)
    session.commit()
    return user_out(session, user)


@router.put("/users/{username}/roles", summary="Replace a user's roles (admin, audited)")
def set_roles(username: str, body: RolesIn, request: Request, principal: Principal = Depends(admin),
              session: Session = Depends(get_session)):
    user = service.set_roles(session, username, body.roles, actor=principal.user, ip=client_ip(request),
                             scope=principal.scope)
    session.commit()
    return user_out(session, user)


@router.put("/users/{username}/password", status_code=204,
            summary="Reset a user's password (admin, audited): ends their sessions, lifts a lock-out")
def set_password(username: str, body: PasswordIn, request: Request, principal: Principal = Depends(admin),
                 session: Session = Depends(get_session)):
    service.set_password(session, username, body.password, actor=principal.user, ip=client_ip(request),
                         scope=principal.scope)
    session.commit()


class ActiveIn(BaseModel):
    active: bool


@router.put("/users/{username}/active", summary="Enable or disable a user (admin, audited)")
def set_active(username: str, body: ActiveIn, request: Request, principal: Principal = Depends(admin),
               session: Session = Depends(get_session)):
    user = service.set_active(session, username, body.active, actor=principal.user, ip=client_ip(request),
                              scope=principal.scope)
    session.commit()
    return user_out(session, user)


@router.post("/users/{username}/unlock", summary="Clear a lock-out (admin, audited)")
def unlock(username: str, request: Request, principal: Principal = Depends(admin),
           session: Session = Depends(get_session)):
    user = service.unlock(session, username, actor=principal.user, ip=client_ip(request), scope=principal.scope)
    session.commit()
    return user_out(session, user)


@router.get("/audit", summary="The audit log, newest first (admin)")
def audit_log(action: str | None = Query(None, max_length=64), actor: str | None = Query(None, max_length=64),
              limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9),
              principal: Principal = Depends(admin), session: Session = Depends(get_session)):
    if not principal.scope.is_top:
        raise Forbidden("the audit log is for administrators of the whole district")
    return [
        {"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action, "target": e.target,
         "detail": e.detail, "ip": e.ip}
        for e in audit.entries(session, action=action, actor=actor, limit=limit, offset=offset)
    ]
