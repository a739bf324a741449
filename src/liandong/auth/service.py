"""Authentication and user administration: the rules live here, the routers only call them.

Tokens are opaque random secrets; only their SHA-256 is stored, so they can be revoked and a database
leak does not hand out sessions. Repeated failures lock an account for a while (``lockout_*``). Nothing
here commits the caller's transaction; only a refused login is stored on its own (``authenticate``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session, object_session

from liandong import audit
from liandong.areas.models import Area
from liandong.areas.scope import EVERYTHING, NOTHING, Scope
from liandong.auth import invalidation, principals
from liandong.auth.models import ROLES, AuthToken, User, UserRole
from liandong.auth.passwords import NO_PASSWORD, burn_time, hash_password, password_problem, verify_password
from liandong.auth.principals import Identity
from liandong.config import get_settings
from liandong.db import utcnow
from liandong.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from liandong.privacy import mask_phone
from liandong.transaction import after_commit
from liandong.units.models import Unit


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _principals_changed(session: Session) -> None:
    """Tell this process's principal cache (``principals.changed``) once ``session``'s change has committed, and
    every other process's with it (``invalidation.announce``: a notification sent with the commit); not at all when
    it rolls back."""
    # only after commit, never also now: until then the database still says the old state, so a call now would let
    # another thread load that old state under the new generation and keep it for the whole cache time
    after_commit(session, principals.changed)
    invalidation.announce(session)


LOGIN_FAILED = "wrong username or password, or the account is locked after repeated failures"
USERNAME = re.compile(r"[A-Za-z0-9_.]{1,64}")


def authenticate(session: Session, username: str, password: str, *, ip: str | None = None,
                 now: dt.datetime | None = None) -> User:
    """Check a password; count failures, lock after ``lockout_threshold``; audit every outcome.

    Every refusal looks the same and costs one hash (unknown user, wrong password, locked, disabled),
    so the answer reveals neither which usernames exist nor which are locked.

    The check runs in a short transaction of its own, committed before this returns or raises: a refusal
    (the failure count, a lock-out, the audit entry) stays recorded although the request answers 401 and
    its own unit of work rolls back. That transaction locks the user row while the password is checked, so
    parallel guesses cannot lose failure counts. A success is recorded in ``session``, with the token the
    caller then issues. Call this before ``session`` writes: on SQLite the second writer would wait for it.
    """
    now = now or utcnow()
    with Session(session.get_bind()) as own, own.begin():
        user_id = _check_password(own, username, password, ip, now)
    if user_id is None:
        raise Unauthorized(LOGIN_FAILED, code="login_failed")
    user = session.get(User, user_id)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, "login", actor=user, ip=ip)
    return user


def _check_password(session: Session, username: str, password: str, ip: str | None, now: dt.datetime) -> int | None:
    """The user's id when the password is right and the account may sign in; else None, the refusal recorded."""
    s = get_settings()
    user = None
    if USERNAME.fullmatch(username):
        user = session.scalar(select(User).where(User.username == username).with_for_update())
    if user is None:
        burn_time(password)
        audit.record(session, "login_failed", actor_name=username[:64].replace("\x00", ""),
                     detail={"reason": "unknown user"}, ip=ip)
        return None
    if (user.locked_until is not None and user.locked_until > now) or not user.is_active:
        burn_time(password)
        reason = "inactive" if not user.is_active else "locked"
        audit.record(session, "login_refused", actor=user, detail={"reason": reason}, ip=ip)
        return None
    if not verify_password(user.password_hash, password):
        # one atomic increment in SQL: parallel guesses cannot overwrite each other's count
        failures = session.scalar(
            update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins).execution_options(synchronize_session=False)
        )
        session.refresh(user)
        detail = {"reason": "wrong password", "failures": failures}
        if failures >= s.lockout_threshold:
            user.locked_until = now + dt.timedelta(minutes=s.lockout_minutes)
            user.failed_logins = 0
            audit.record(session, "account_locked", actor=user, detail={"minutes": s.lockout_minutes}, ip=ip)
        audit.record(session, "login_failed", actor=user, detail=detail, ip=ip)
        return None
    return user.id


def sign_in(session: Session, username: str, password: str, kind: str, *, ip: str | None = None) -> tuple[User, str]:
    """A login (``authenticate``) and the token of the new session (``kind``: api | web)."""
    user = authenticate(session, username, password, ip=ip)
    return user, issue_token(session, user, kind)


def issue_token(session: Session, user: User, kind: str = "api", now: dt.datetime | None = None) -> str:
    now = now or utcnow()
    secret = secrets.token_urlsafe(32)
    session.add(AuthToken(
        token_hash=digest(secret), user_id=user.id, kind=kind, created_at=now,
        expires_at=now + dt.timedelta(hours=get_settings().token_ttl_hours),
    ))
    session.flush()
    return secret


def user_for_token(session: Session, secret: str, now: dt.datetime | None = None) -> User:
    return session.get(User, identity_for_token(session, secret, now).user_id)


def identity_for_token(session: Session, secret: str, now: dt.datetime | None = None) -> Identity:
    """The caller behind a token, with roles and jurisdiction; Unauthorized when it is not valid."""
    now = now or utcnow()
    tok = session.scalar(select(AuthToken).where(AuthToken.token_hash == digest(secret)))
    if tok is None or tok.revoked_at is not None or tok.expires_at <= now:
        raise Unauthorized("invalid or expired token")
    user = session.get(User, tok.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("invalid or expired token")
    return identity_of(session, user, tok.expires_at)


def identity_of(session: Session, user: User, expires_at: dt.datetime | None = None) -> Identity:
    """The user as a caller of the services: roles, unit, jurisdiction (a department's unit sees what is assigned
    to it)."""
    return Identity(user_id=user.id, username=user.username, unit_id=user.unit_id, roles=tuple(user.roles),
                    scope=scope_for(session, user), token_expires_at=expires_at,
                    assigned_only=session.get(Unit, user.unit_id).kind in ASSIGNED_ONLY_KINDS)


def sign_out(session: Session, secret: str, *, ip: str | None = None) -> None:
    """End the session of a token (a bearer token or a web cookie); a live one's user is recorded as
    logging out. An unknown, expired or already revoked token changes nothing that matters."""
    now = utcnow()
    tok = session.scalar(select(AuthToken).where(AuthToken.token_hash == digest(secret)))
    if tok is None or tok.revoked_at is not None:
        return
    tok.revoked_at = now
    _principals_changed(session)
    if tok.expires_at > now:
        audit.record(session, "logout", actor=session.get(User, tok.user_id), ip=ip)


ASSIGNED_ONLY_KINDS = frozenset({"department", "branch", "team"})
"""Unit kinds that see cases by assignment (DESIGN §1: "a department sees what is assigned to it")."""


@event.listens_for(Unit, "after_update")
def _unit_changed(mapper, connection, unit: Unit) -> None:
    """A unit's kind decides what its users see (``ASSIGNED_ONLY_KINDS``): identities cached before an edit
    are stale. Auth watches the units it builds on, so the units domain needs to know nothing of callers."""
    session = object_session(unit)
    if session is None:  # not reachable from a flush, but then there is no commit to wait for
        principals.changed()
        invalidation.announce(connection)
    else:
        after_commit(session, principals.changed)
        invalidation.announce(connection)  # in the flush: on its connection, not through the flushing session


def scope_for(session: Session, user: User) -> Scope:
    """A user sees the subtree of their unit's area (the district centre sees everything); an account
    with no staff role sees no case, whatever its unit (citizens follow their own reports by tracking key)."""
    if set(user.roles) <= {"citizen"}:
        return NOTHING
    unit = session.get(Unit, user.unit_id)
    area = session.get(Area, unit.area_id)
    return Scope(path=area.path, area_id=area.id)


def user_dict(session: Session, user: User, *, unmasked: bool = False) -> dict:
    """A user as the API shows them: unit, jurisdiction, and the phone masked unless ``unmasked``."""
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


def audit_log(session: Session, scope: Scope, *, action: str | None = None, actor: str | None = None,
              limit: int = 100, offset: int = 0) -> list[dict]:
    """The audit log, newest first: for administrators of the whole district only (it names everyone)."""
    if not scope.is_top:
        raise Forbidden("the audit log is for administrators of the whole district")
    return [
        {"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action, "target": e.target,
         "detail": e.detail, "ip": e.ip}
        for e in audit.entries(session, action=action, actor=actor, limit=limit, offset=offset)
    ]


# --- administration (each change audited) ---------------------------------------------------------

def _unit_in_scope(session: Session, unit: Unit | None, scope: Scope) -> bool:
    if unit is None:
        return False
    area = session.get(Area, unit.area_id)
    return scope.covers_path(area.path)


def create_user(session: Session, *, username: str, password: str | None, unit_code: str, roles: list[str],
                display_name: str | None = None, phone: str | None = None, actor: User | None = None,
                ip: str | None = None, check_password: bool = True, scope: Scope = EVERYTHING) -> User:
    username = username.strip()
    if not USERNAME.fullmatch(username):
        raise Invalid("username must be 1–64 ASCII letters, digits, '_' or '.'", code="bad_username")
    if display_name is not None and not 0 < len(display_name) <= 100:
        raise Invalid("display name must have 1–100 characters")
    if phone is not None and len(phone) > 32:
        raise Invalid("phone must have at most 32 characters")
    bad = sorted(set(roles) - set(ROLES))
    if bad or not roles:
        raise Invalid(f"unknown or missing roles {bad}; use some of {', '.join(ROLES)}")
    if password is not None and check_password and (why := password_problem(password, username)):
        raise Invalid(why)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists", code="user_exists", params={"username": username})
    unit = session.scalar(select(Unit).where(Unit.code == unit_code))
    if not _unit_in_scope(session, unit, scope):
        raise Invalid(f"unknown unit {unit_code!r}")
    user = User(username=username, display_name=display_name or username, unit_id=unit.id,
                password_hash=hash_password(password) if password is not None else NO_PASSWORD, phone=phone)
    user.role_rows = [UserRole(role=r) for r in sorted(set(roles))]
    session.add(user)
    session.flush()
    audit.record(session, "user_created", actor=actor, target=f"user:{username}",
                 detail={"unit": unit_code, "roles": sorted(set(roles))}, ip=ip)
    return user


def get_user(session: Session, username: str, scope: Scope = EVERYTHING) -> User:
    """A user inside ``scope`` (their unit's area in the caller's jurisdiction); else 404."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not _unit_in_scope(session, session.get(Unit, user.unit_id), scope):
        raise NotFound(f"user {username!r} not found")
    return user


def list_users(session: Session, scope: Scope = EVERYTHING) -> list[User]:
    stmt = select(User).order_by(User.username)
    if not scope.unrestricted:
        stmt = (stmt.join(Unit, Unit.id == User.unit_id).join(Area, Area.id == Unit.area_id)
                .where(Area.path.startswith(scope.path, autoescape=True)))
    return list(session.scalars(stmt))


def _keep_an_admin(session: Session, user: User, losing: bool) -> None:
    """Refuse a change that would leave no active administrator."""
    if not losing or "admin" not in user.roles:
        return
    others = session.scalar(
        select(func.count()).select_from(User).join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "admin", User.is_active.is_(True), User.id != user.id)
    )
    if not others:
        raise Conflict("this would leave no active administrator", code="last_admin")


def set_roles(session: Session, username: str, roles: list[str], *, actor: User | None = None,
              ip: str | None = None, scope: Scope = EVERYTHING) -> User:
    bad = sorted(set(roles) - set(ROLES))
    if bad or not roles:
        raise Invalid(f"unknown or missing roles {bad}; use some of {', '.join(ROLES)}")
    user = get_user(session, username, scope)
    _keep_an_admin(session, user, losing="admin" not in roles)
    before = user.roles
    user.role_rows = [UserRole(role=r) for r in sorted(set(roles))]
    session.flush()
    _principals_changed(session)
    audit.record(session, "user_roles_changed", actor=actor, target=f"user:{username}",
                 detail={"before": before, "after": sorted(set(roles))}, ip=ip)
    return user


def set_password(session: Session, username: str, password: str, *, actor: User | None = None,
                 ip: str | None = None, scope: Scope = EVERYTHING) -> None:
    """An administrator's reset: every token and web session of the user ends, and a lock-out is
    lifted, so the new password is the only way back in and works at once."""
    user = get_user(session, username, scope)
    if why := password_problem(password, username):
        raise Invalid(why)
    user.password_hash = hash_password(password)
    was_locked = user.locked_until is not None
    user.failed_logins = 0
    user.locked_until = None
    revoked = session.execute(
        update(AuthToken).where(AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount
    _principals_changed(session)
    audit.record(session, "password_changed", actor=actor, target=f"user:{username}",
                 detail={"sessions_ended": revoked, "unlocked": was_locked}, ip=ip)


def set_active(session: Session, username: str, active: bool, *, actor: User | None = None,
               ip: str | None = None, scope: Scope = EVERYTHING) -> User:
    user = get_user(session, username, scope)
    _keep_an_admin(session, user, losing=not active)
    user.is_active = active
    if active:
        user.failed_logins = 0
        user.locked_until = None
    _principals_changed(session)
    audit.record(session, "user_enabled" if active else "user_disabled", actor=actor,
                 target=f"user:{username}", ip=ip)
    return user


def unlock(session: Session, username: str, *, actor: User | None = None, ip: str | None = None,
           scope: Scope = EVERYTHING) -> User:
    user = get_user(session, username, scope)
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, "user_unlocked", actor=actor, target=f"user:{username}", ip=ip)
    return user
