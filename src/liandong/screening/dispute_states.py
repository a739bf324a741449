"""The dispute's vocabulary (矛盾纠纷, 新时代"枫桥经验"): states, types, risk colours, handling tiers, outcomes, roles.

Plain data; the action table is ``dispute_actions.py``.
"""

from __future__ import annotations

from liandong.areas.models import TREE_LEVELS

STATES = ("registered", "mediating", "resolved", "closed")
"""登记 (挂单) → 调解中 → 化解 (outcome recorded) → 回访 done, closed (销号); a callback finding that the settlement
does not hold reopens the mediation (``reopen``)."""
CLOSED_STATES = frozenset({"closed"})
OPEN_STATES = tuple(s for s in STATES if s not in CLOSED_STATES)
TYPES = ("family", "neighbour", "land", "labour", "property", "requisition", "other")
TYPE_NAMES = dict(zip(TYPES, ("婚姻家庭", "邻里纠纷", "土地纠纷", "劳资/欠薪", "物业纠纷", "征地拆迁", "其他"),
                      strict=True))
"""The types' Chinese names, for text the server writes (an incident's title); the pages translate the codes."""
RISKS = ("red", "yellow", "blue")
TIERS = ("grid", "village", "town", "task_force")
"""网格 → 村(居)调委会 → 镇(街道)综治中心 (with 司法所, 派出所) → 专班: 小事不出村、大事不出镇、矛盾不上交."""
TIER_HOLDER = {"grid": "grid", "village": "community", "town": "town", "task_force": "district"}
"""Whose dispute it is at each tier: a jurisdiction holding the whole area of that level around the dispute's grid
(its grid, community, town, district). Below the tier one may read it but no longer act on it."""
TIER_UP = {tier: TREE_LEVELS[::-1].index(level) for tier, level in TIER_HOLDER.items()}
"""How many levels above the unit grid the holding area lies in the area tree."""
OUTCOMES = ("success", "judicial", "litigation")
"""调解成功, 司法确认, 转诉讼: what ``resolve`` records. A mediation that fails is not an outcome: the dispute stays
in mediation (a record says so) and goes up a tier (``escalate``), so the 化解清单 holds only what was settled."""
SUCCEEDED = frozenset({"success", "judicial"})
LISTS = {"problem": ("registered",), "responsibility": ("mediating",), "resolution": ("resolved", "closed")}
"""三单 as views over the register: 问题清单 (posted, 挂单), 责任清单 (a mediator answers for it), 化解清单 (销号)."""
REPORT_ROLES = frozenset({"receptionist", "shift_leader", "dispatcher", "inspector", "handler"})
"""Who registers a dispute: the desk, and the staff who meet one in the field (a handler on a campaign visit too)."""
ASSIGN_ROLES = frozenset({"shift_leader", "dispatcher", "inspector"})
MEDIATE_ROLES = frozenset({"shift_leader", "dispatcher", "inspector", "handler"})
UNMASKED_ROLES = frozenset({"shift_leader", "dispatcher"})
"""The roles that assign mediators and call the parties: they read parties unmasked (each read audited)."""
