"""The case life cycle's vocabulary: states, channels, and the facts about states that lists and clocks read.

Which action may be taken in which state, by whom, with what and to what effect is one table of actions in
``cases/actions.py`` (``TABLE``): it needs the database for its guards and effects, while this module stays
plain data that queries, clocks, figures and pages import without pulling the case service in.
"""

from __future__ import annotations

CLOSED_STATES = frozenset({"closed", "rejected", "voided", "merged"})
STATES = ("reported", "accepted", "rejected", "verifying", "filed", "dispatched", "in_progress", "returned",
          "disposed", "checking", "checked", "closed", "suspended", "voided", "merged")
OPEN_STATES = tuple(s for s in STATES if s not in CLOSED_STATES)
CHANNELS = ("hotline", "grid_worker", "citizen_web", "open311", "video", "sensor", "department_transfer",
            "leader_instruction")
HANDLING_STATES = frozenset({"dispatched", "in_progress"})
"""While the case is being handled, every assigned unit moves its own part on (条块联处)."""
EXTENSION_STATES = HANDLING_STATES
"""Where more time may be asked for and granted (延期)."""
URGE_STATES = frozenset({"filed", "returned", "dispatched", "in_progress", "disposed", "checking", "suspended"})
UNIT_STEPS: dict[tuple[str, str], str] = {
    ("dispatched", "sign"): "signed", ("dispatched", "return"): "returned",
    ("signed", "report_done"): "done", ("signed", "return"): "returned",
}
"""An assigned unit's own status: (its status, action) → its new status. The lead's steps also move the
case (its moves in the action table); an assisting unit's steps leave the case state as it is."""
WAITING_FOR = {"reported": "receptionist", "accepted": "shift_leader", "verifying": "inspector",
               "filed": "dispatcher", "returned": "dispatcher", "suspended": "dispatcher",
               "dispatched": "handler", "in_progress": "handler", "disposed": "receptionist",
               "checking": "inspector", "checked": "shift_leader"}
"""Whose move the case waits for in each open state ("my queue"); other allowed actions are optional."""
SATISFACTION = ("very_satisfied", "satisfied", "dissatisfied")


def resume_to(lead_status: str | None) -> str:
    """A suspended case goes back to where it was: in progress if its lead had signed, else dispatched."""
    return "in_progress" if lead_status in ("signed", "done") else "dispatched"
