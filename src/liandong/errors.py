"""Domain errors, mapped to HTTP statuses by the app and to exit codes by the CLI."""

from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(DomainError):
    """Also raised for things outside the caller's jurisdiction: 404 leaks nothing."""

    status = 404


class Invalid(DomainError):
    status = 422


class Conflict(DomainError):
    status = 409


class Forbidden(DomainError):
    status = 403


class Unauthorized(DomainError):
    status = 401
