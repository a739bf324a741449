"""Early-warning statuses, the actions between them, and who may take them.

new → watching (keep an eye on it) → dismissed (not a real problem) | promoted (an incident was opened with the
evidence cases linked). ``new`` may go straight to dismissed or promoted; dismissed and promoted are final.
"""

from __future__ import annotations

STATUSES = ("new", "watching", "dismissed", "promoted")
OPEN_STATUSES = frozenset({"new", "watching"})
"""A later scan finding the same area and window updates such a warning's evidence."""

ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "watch": (frozenset({"new"}), "watching"),
    "dismiss": (frozenset({"new", "watching"}), "dismissed"),
    "promote": (frozenset({"new", "watching"}), "promoted"),
}
"""action → (statuses it may be taken from, status it leads to)."""

ACT_ROLES = frozenset({"shift_leader", "commander", "leader"})
"""Who decides on a warning (值班长, the commander, a leader)."""
SCAN_ROLES = frozenset({"shift_leader", "admin"})
"""Who may run a scan by hand."""
READ_ROLES = ACT_ROLES | SCAN_ROLES | frozenset({"dispatcher"})
"""Who sees the warnings at all (within their jurisdiction)."""

DETECTORS = ("scan", "baseline")


def allowed(status: str) -> list[str]:
    return [a for a, (froms, _) in ACTIONS.items() if status in froms]
