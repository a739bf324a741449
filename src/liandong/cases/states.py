"""The case life cycle: the one transition table every module relies on (DESIGN.md "Case states").

Each row: (from state, action) → (to state, roles allowed). An action not in the table for the case's
state is refused with the list of actions that are allowed there.
"""

from __future__ import annotations

from dataclasses import dataclass

CLOSED_STATES = frozenset({"closed", "rejected", "voided", "merged"})
STATES = ("reported", "accepted", "rejected", "verifying", "filed", "dispatched", "in_progress", "returned",
          "disposed", "checking", "checked", "closed", "suspended", "voided", "merged")
OPEN_STATES = tuple(s for s in STATES if s not in CLOSED_STATES)
CHANNELS = ("hotline", "grid_worker", "citizen_web", "open311", "video", "sensor", "department_transfer",
            "leader_instruction")


@dataclass(frozen=True)
class Transition:
    to: str
    roles: frozenset[str]
    handler_action: bool = False
    """Done by a unit the case is assigned to (lead or assisting), not by the command centre."""


def _t(to: str, *roles: str, handler: bool = False) -> Transition:
    return Transition(to, frozenset(roles), handler)


TRANSITIONS: dict[tuple[str, str], Transition] = {
    ("reported", "accept"): _t("accepted", "receptionist"),
    ("reported", "reject"): _t("rejected", "receptionist"),
    ("accepted", "request_verify"): _t("verifying", "receptionist"),
    ("verifying", "verified"): _t("accepted", "inspector"),
    ("accepted", "file"): _t("filed", "shift_leader"),
    ("accepted", "close_self_handled"): _t("closed", "shift_leader"),
    ("filed", "dispatch"): _t("dispatched", "dispatcher"),
    ("dispatched", "sign"): _t("in_progress", "handler", handler=True),
    ("dispatched", "return"): _t("returned", "handler", handler=True),
    ("in_progress", "return"): _t("returned", "handler", handler=True),
    ("returned", "redispatch"): _t("dispatched", "dispatcher"),
    ("in_progress", "report_done"): _t("disposed", "handler", handler=True),
    ("disposed", "request_check"): _t("checking", "receptionist"),
    ("checking", "check_passed"): _t("checked", "inspector"),
    ("checking", "check_failed"): _t("dispatched", "inspector"),
    ("checked", "close"): _t("closed", "shift_leader"),
    ("dispatched", "suspend"): _t("suspended", "dispatcher"),
    ("in_progress", "suspend"): _t("suspended", "dispatcher"),
    ("suspended", "resume"): _t("in_progress", "dispatcher"),  # or back to dispatched: see resume_to
    ("closed", "rate"): _t("closed", "receptionist", "citizen"),
    **{(s, "void"): _t("voided", "shift_leader") for s in OPEN_STATES},
    **{(s, "merge"): _t("merged", "shift_leader", "receptionist") for s in OPEN_STATES},
}
STAGE_ACTIONS: dict[str, Transition] = {
    # events on the running stage, not state changes (DESIGN.md: extension and urging are events)
    "request_extension": _t("", "handler", handler=True),
    "approve_extension": _t("", "dispatcher"),
    "reject_extension": _t("", "dispatcher"),
    "urge": _t("", "leader", "dispatcher", "shift_leader"),
}
EXTENSION_STATES = frozenset({"dispatched", "in_progress"})
HANDLING_STATES = frozenset({"dispatched", "in_progress"})
"""While the case is being handled, every assigned unit moves its own part on (条块联处)."""
UNIT_STEPS: dict[tuple[str, str], str] = {
    ("dispatched", "sign"): "signed", ("dispatched", "return"): "returned",
    ("signed", "report_done"): "done", ("signed", "return"): "returned",
}
"""An assigned unit's own status: (its status, action) → its new status. The lead's steps also move the
case through TRANSITIONS; an assisting unit's steps leave the case state as it is."""
WAITING_FOR = {"reported": "receptionist", "accepted": "shift_leader", "verifying": "inspector",
               "filed": "dispatcher", "returned": "dispatcher", "suspended": "dispatcher",
               "dispatched": "handler", "in_progress": "handler", "disposed": "receptionist",
               "checking": "inspector", "checked": "shift_leader"}
"""Whose move the case waits for in each open state ("my queue"); other allowed actions are optional."""
URGE_STATES = frozenset({"filed", "returned", "dispatched", "in_progress", "disposed", "checking", "suspended"})
ACTIONS = tuple(sorted({a for _, a in TRANSITIONS} | set(STAGE_ACTIONS)))
NEEDS = {
    "reject": ("reason",), "return": ("reason",), "void": ("reason",), "merge": ("master_id",),
    "report_done": ("note",), "check_failed": ("note",), "close_self_handled": ("note",), "rate": ("satisfaction",),
    "request_extension": ("amount", "unit", "reason"),
}
"""Payload fields an action cannot do without."""
SATISFACTION = ("very_satisfied", "satisfied", "dissatisfied")


def allowed_actions(state: str, roles: set[str] | None = None) -> list[str]:
    """Actions the table allows in ``state`` (for these roles, when given), stage events included."""
    found = {a for (s, a), t in TRANSITIONS.items() if s == state and (roles is None or t.roles & roles)}
    for action, t in STAGE_ACTIONS.items():
        states_ok = URGE_STATES if action == "urge" else EXTENSION_STATES
        if state in states_ok and (roles is None or t.roles & roles):
            found.add(action)
    return sorted(found)


def transition(state: str, action: str) -> Transition | None:
    return TRANSITIONS.get((state, action))


def resume_to(lead_status: str | None) -> str:
    """A suspended case goes back to where it was: in progress if its lead had signed, else dispatched."""
    return "in_progress" if lead_status in ("signed", "done") else "dispatched"


def unit_actions(unit_status: str, case_state: str) -> list[str]:
    """The actions an assigned unit may take on its own part of a case in ``case_state``."""
    if case_state not in HANDLING_STATES:
        return []
    return sorted(a for (s, a) in UNIT_STEPS if s == unit_status)
