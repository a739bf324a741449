"""Password hashing with argon2id; cost parameters come from settings (tests lower them)."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from liandong.config import get_settings
from liandong.errors import Reason

MIN_LENGTH = 10
NO_PASSWORD = "!"
"""The stored hash of an account without a password (made by a tool, or waiting for an administrator to set one):
no password verifies against it, so nobody signs in as it."""


@lru_cache
def _hasher(t: int, m: int, p: int) -> PasswordHasher:
    return PasswordHasher(time_cost=t, memory_cost=m, parallelism=p)


def hasher() -> PasswordHasher:
    s = get_settings()
    return _hasher(s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism)


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_DUMMY: dict[str, str] = {}


def burn_time(password: str) -> None:
    """Hash once for an unknown user so response time does not reveal which usernames exist."""
    h = hasher()
    key = f"{h.time_cost}/{h.memory_cost}/{h.parallelism}"
    if key not in _DUMMY:
        _DUMMY[key] = h.hash("not-a-real-password")
    verify_password(_DUMMY[key], password)


def password_problem(password: str, username: str = "") -> Reason | None:
    """Why a new password is refused (same rule on create and reset), or None."""
    if "\x00" in password:
        return Reason("password must not contain a NUL character", "password_nul")
    if len(password) < MIN_LENGTH:
        return Reason(f"password must have at least {MIN_LENGTH} characters", "password_too_short", min=MIN_LENGTH)
    if username and username.lower() in password.lower():
        return Reason("password must not contain the username", "password_has_username")
    if len(set(password)) < 4:
        return Reason("password is too simple", "password_too_simple")
    return None
