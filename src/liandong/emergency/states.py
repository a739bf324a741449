"""The incident's vocabulary: states, categories, levels and the kinds of entries its log holds.

Plain data, as ``cases/states.py``: which action may be taken where, by whom and to what effect is the one
table in ``actions.py``.
"""

from __future__ import annotations

from liandong.auth.models import STAFF_ROLES

STATES = ("reported", "verified", "responding", "contained", "recovered", "closed")
CLOSED_STATES = frozenset({"closed"})
OPEN_STATES = tuple(s for s in STATES if s not in CLOSED_STATES)
CATEGORIES = ("natural", "accident", "public_health", "social_security")
"""自然灾害, 事故灾难, 公共卫生事件, 社会安全事件 (DESIGN §4, incident codes)."""
CATEGORY_NAMES = dict(zip(CATEGORIES, ("自然灾害", "事故灾难", "公共卫生事件", "社会安全事件"), strict=True))
"""The categories' Chinese names, for what the server writes (reports); the pages translate the codes."""
LEVELS = (1, 2, 3, 4)
"""Grade Ⅰ–Ⅳ, warning red–blue, response 一级–四级: 1 is the highest of each."""
LINK_KINDS = ("secondary", "derived")
"""次生 and 衍生 incidents."""
LOG_KINDS = ("decision", "order", "sitrep", "note")
"""Command-log entries (decisions, orders, situation reports, notes); state-table actions are kind 'action'."""
COMMAND_LOG_KINDS = frozenset({"decision", "order"})
"""The entries only whoever commands the incident writes (``visibility.commands``)."""
RESPONSE_STATES = ("responding", "contained", "recovered")
"""The states in which a response runs: its level may be regraded there (not before ``respond`` or a plan)."""
CREATE_ROLES = frozenset({"commander", "shift_leader", "dispatcher", "leader"})
LOG_ROLES = frozenset({"commander", "shift_leader", "dispatcher", "leader"})
REPORT_LIMITED_GRADES = frozenset({1, 2})
"""特别重大 and 重大 incidents are reported upward within a limit (``incident_report_limit_minutes``)."""
TASK_STATES = ("assigned", "acknowledged", "in_progress", "done", "cancelled")
"""A plan task's life: assigned → acknowledged → in progress → done; cancelled when the incident ends."""
OPEN_TASK_STATES = ("assigned", "acknowledged", "in_progress")
TASK_ROLES = STAFF_ROLES
"""The roles whose holders act on their unit's tasks: the staff (a citizen or a bare admin account does not)."""
TASK_LOG_KIND = "task"
"""Log entries of task events (acknowledged, started, done, escalated); the action names the event."""
