"""Domain errors, mapped to HTTP statuses by the app and to exit codes by the CLI."""

from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, details: list[str] | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.extra = extra or {}
        """Further fields of the error body, e.g. ``allowed_actions`` on a refused case action."""


class BadRequest(DomainError):
    """Malformed input that no field rule describes (e.g. a NUL character in a text field)."""

    status = 400


class NotFound(DomainError):
    """Also raised for things outside the caller's jurisdiction: 404 leaks nothing."""

    status = 404


class Invalid(DomainError):
    status = 422


class Conflict(DomainError):
    status = 409


class Forbidden(DomainError):
    status = 403


class TooLarge(DomainError):
    status = 413


class LengthRequired(DomainError):
    """A body whose size is checked before it is read must say its size (Content-Length)."""

    status = 411


class TooMany(DomainError):
    """Over a rate limit; ``retry_after`` seconds until the next call may pass."""

    status = 429

    def __init__(self, message: str, retry_after: int = 60):
        super().__init__(message)
        self.retry_after = retry_after


class Unauthorized(DomainError):
    status = 401


def error_responses() -> dict:
    """OpenAPI documentation of the error body every endpoint may answer with."""
    from pydantic import BaseModel

    class ErrorOut(BaseModel):
        detail: str
        errors: list[str] | None = None

    described = {400: "Malformed request", 401: "Not authenticated", 403: "Role not allowed",
                 404: "Not found, or outside the caller's jurisdiction", 409: "Conflicts with the current state",
                 422: "Invalid input; `errors` lists each problem"}
    return {code: {"model": ErrorOut, "description": text} for code, text in described.items()}
