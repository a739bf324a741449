"""Department lines (条) stationed at the district linkage centre.

The line code ties a department, its town-level branches, its grid layer and (later) the catalogue's
routing defaults together.
"""

from __future__ import annotations

LINES: dict[str, tuple[str, str]] = {
    "public_security": ("公安", "Public security"),
    "fire": ("消防", "Fire and rescue"),
    "city_management": ("城管执法", "City-management law enforcement"),
    "construction_transport": ("建设和交通", "Construction and transport"),
    "emergency": ("应急管理（安全生产）", "Emergency management / work safety"),
    "market_supervision": ("市场监管", "Market supervision"),
    "ecology_environment": ("生态环境", "Ecology and environment"),
    "housing": ("房屋管理", "Housing"),
    "water": ("水务", "Water"),
    "greening": ("绿化和市容", "Greening and city appearance"),
    "health": ("卫生健康", "Health"),
    "civil_affairs": ("民政", "Civil affairs"),
}

UNIT_KINDS = ("centre", "sub_centre", "workstation", "department", "branch", "team")
