"""Jurisdiction scope: the subtree of the area tree a caller may see."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """``path`` is the materialised path of the root area (``/1/5/``); None means the whole system."""

    path: str | None = None
    area_id: int | None = None

    @property
    def unrestricted(self) -> bool:
        return self.path is None

    @property
    def is_top(self) -> bool:
        """The whole system, or a top-level area (a district) with everything under it."""
        return self.path is None or self.path.count("/") == 2

    def covers_path(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path)

    def covers_ancestors(self, ancestor_ids: tuple[int, ...]) -> bool:
        return self.area_id is None or self.area_id in ancestor_ids


EVERYTHING = Scope()
NOTHING = Scope(path="/-/", area_id=-1)
"""No area at all (no real path starts with ``/-/``): an account holding no staff role, e.g. only ``citizen``."""
