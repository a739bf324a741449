"""Domain errors, mapped to HTTP statuses by the app and to exit codes by the CLI."""

from __future__ import annotations

from collections.abc import Iterable


class Reason(str):
    """An English reason that knows its machine code: what a rule check returns without raising (a password
    rule, an ID number check), so that the error raised with it carries the code."""

    code: str
    params: dict

    def __new__(cls, text: str, code: str, **params) -> Reason:
        self = super().__new__(cls, text)
        self.code, self.params = code, params
        return self


class DomainError(Exception):
    status = 400
    code = "bad_request"
    """The refusal's stable machine code, in the error body beside the English ``detail``: the pages and
    Open311 translate or match refusals by code (and ``params``), never by their English text. Each class
    has a default; a specific refusal names its own (``Conflict(..., code="already_rated")``)."""

    def __init__(self, message: str, details: list[str] | None = None, extra: dict | None = None, *,
                 code: str | None = None, params: dict | None = None):
        super().__init__(message)
        self.message = str(message)
        self.details = details or []
        self.extra = extra or {}
        """Further fields of the error body, e.g. ``allowed_actions`` on a refused case action."""
        self.code = code or getattr(message, "code", None) or type(self).code
        self.params = params if params is not None else dict(getattr(message, "params", {}))
        """The values a translation of the code needs (a field's name, a number), JSON-ready."""


class BadRequest(DomainError):
    """Malformed input that no field rule describes (e.g. a NUL character in a text field)."""

    status = 400
    code = "bad_request"


class NotFound(DomainError):
    """Also raised for things outside the caller's jurisdiction: 404 leaks nothing."""

    status = 404
    code = "not_found"


class Invalid(DomainError):
    status = 422
    code = "invalid"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Stale(Conflict):
    """A version lost to another writer (a case, an incident, a task): reload and try again."""

    code = "stale"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


def role_needed(action: str, roles: Iterable[str], doing: str | None = None) -> Forbidden:
    """The one refusal of a caller who holds none of ``roles``: code ``role_needed`` with the action and the roles
    (sorted), so every page words it alike; ``doing`` words the English (else the action's name)."""
    names = sorted(roles)
    return Forbidden(f"{doing or repr(action)} needs one of the roles: {', '.join(names)}", code="role_needed",
                     params={"action": action, "roles": names})


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class LengthRequired(DomainError):
    """A body whose size is checked before it is read must say its size (Content-Length)."""

    status = 411
    code = "length_required"


class TooMany(DomainError):
    """Over a rate limit; ``retry_after`` seconds until the next call may pass."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int = 60):
        super().__init__(message)
        self.retry_after = retry_after


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def error_responses() -> dict:
    """OpenAPI documentation of the error body every endpoint may answer with."""
    from pydantic import BaseModel, Field

    class ErrorOut(BaseModel):
        detail: str
        code: str = Field(description="stable machine code of the refusal (translate or match by it, not by detail)")
        params: dict | None = Field(default=None, description="the values a translation of the code needs")
        errors: list[str] | None = None

    described = {400: "Malformed request", 401: "Not authenticated", 403: "Role not allowed",
                 404: "Not found, or outside the caller's jurisdiction", 409: "Conflicts with the current state",
                 422: "Invalid input; `errors` lists each problem"}
    return {code: {"model": ErrorOut, "description": text} for code, text in described.items()}
