"""The screening campaign's vocabulary (排查行动): states, themes, answers, roles. Plain data."""

from __future__ import annotations

STATES = ("planned", "running", "closed")
MOVES = {"start": {"planned": "running"}, "close": {"planned": "closed", "running": "closed"}}
"""Action → the states it may be taken in → where it leads (a planned campaign may be called off)."""
ACTIONS = tuple(MOVES)
THEMES = ("rental_fire", "gas", "group_rental", "ebike_charging")
"""出租屋消防, 燃气安全, 群租, 电动自行车充电 (any other theme is free text)."""
ANSWERS = ("ok", "problem", "n/a")
LEVELS = ("grid", "community", "town")
"""Coverage by unit grid, community (村居) or town (镇街)."""
AREA_LEVELS = ("district", "town")
MANAGE_ROLES = frozenset({"shift_leader", "leader", "admin"})
"""Who creates, starts and closes a campaign (within their jurisdiction)."""
VISIT_ROLES = frozenset({"inspector", "handler"})
"""Who records a grid visit: grid workers (inspectors) and handlers of an assigned team or the unit heading it."""
