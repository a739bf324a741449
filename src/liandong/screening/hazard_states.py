"""The safety hazard's vocabulary (安全隐患, 《安全生产事故隐患排查治理暂行规定》): states, sectors, grades, roles.

Plain data; which action may be taken where, by whom and to what effect is the one table in ``hazard_actions.py``.
"""

from __future__ import annotations

STATES = ("found", "filed", "rectifying", "closed", "rejected")
"""发现 → 立案 → 整改中 → 验收销号; or rejected (not a hazard)."""
CLOSED_STATES = frozenset({"closed", "rejected"})
OPEN_STATES = tuple(s for s in STATES if s not in CLOSED_STATES)
GRADES = ("general", "major")
"""一般事故隐患 | 重大事故隐患"""
SECTORS = ("fire", "gas", "building", "electric", "hazchem", "traffic", "special_equipment", "construction",
           "other")
SECTOR_NAMES = dict(zip(SECTORS, ("消防", "燃气", "房屋建筑", "用电", "危险化学品", "道路交通", "特种设备", "建设施工",
                                  "其他"), strict=True))
"""The sectors' Chinese names, for text the server writes (an incident's title); the pages translate the codes."""
FIVE = ("measures", "responsibility", "funds", "deadline", "contingency_plan")
"""五落实: a major hazard is filed only with all five (整改措施、责任、资金、时限和应急预案)."""
REPORTER_KINDS = ("public", "staff")
REPORT_ROLES = frozenset({"receptionist", "shift_leader", "dispatcher", "inspector", "handler"})
"""Who registers a hazard (a public report is registered by the receptionist, naming the reporter)."""
FILE_ROLES = frozenset({"shift_leader", "dispatcher"})
RECTIFY_ROLES = frozenset({"handler", "inspector", "dispatcher", "shift_leader"})
ACCEPT_ROLES = frozenset({"inspector", "shift_leader"})
"""验收销号: checked on the spot by the grid worker or decided by the shift leader."""
REWARD_ROLES = frozenset({"leader", "shift_leader"})
"""Who approves a reward (奖励审批) and records it paid."""
CASE_ROLES = frozenset({"dispatcher", "shift_leader"})
UNMASKED_ROLES = frozenset({"receptionist", "shift_leader"})
"""The roles that call reporters back (as on cases) and so read them unmasked; each read is audited."""
