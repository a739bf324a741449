"""Refusals of CAP documents: each names the element at fault (``params["element"]``) with a stable code, so an
upload, a feed poll and the CLI report the same reason."""

from __future__ import annotations

from liandong.errors import BadRequest, Conflict, DomainError


class CapRefused(BadRequest):
    """A document refused whole: not XML, a DTD or entity, another schema, or a CAP rule broken."""

    code = "cap_invalid"

    def __init__(self, message: str, *, code: str | None = None, element: str | None = None,
                 line: int | None = None):
        params: dict = {}
        if element:
            params["element"] = element
        if line:
            params["line"] = line
        super().__init__(message, code=code, params=params)
        self.element = element


class UnsupportedMediaType(DomainError):
    """The import takes XML bodies only."""

    status = 415
    code = "unsupported_media_type"


class WarningConflict(Conflict):
    """A warning that does not fit the incident's warnings so far (an Update before any Alert…)."""

    code = "warning_conflict"
