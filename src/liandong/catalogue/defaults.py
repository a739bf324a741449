"""Local defaults for the standard catalogue: who leads on a matter and how long each stage may take.

Not part of GB/T 47678.5: these follow local practice (standards-and-practice.md §2.6, §3.4) and are
only the starting values; administrators edit them. Rules are tried in order; the first keyword found
in the matter's name wins, else the major category's default applies.
"""

from __future__ import annotations

# (keywords, line) per major category, then the major's default line
LINE_RULES: dict[str, tuple[list[tuple[tuple[str, ...], str]], str]] = {
    "01": ([(("供水", "污水", "雨水", "水井", "排水", "防汛", "雨污", "中水", "水鹤", "水域", "化粪池"), "water"),
            (("消防",), "fire"), (("公安", "治安", "监控"), "public_security"),
            (("园林",), "greening")], "construction_transport"),
    "02": ([(("交通信号", "交通岗亭", "公安指示"), "public_security"), (("水域", "港监"), "water")],
           "construction_transport"),
    "03": ([(("监测",), "ecology_environment"), (("广告", "牌匾", "宣传"), "city_management")], "greening"),
    "04": ([], "greening"),
    "05": ([(("加油",), "emergency"), (("公房",), "housing")], "housing"),
    "06": ([(("垃圾", "不洁", "脏乱", "保洁", "满溢", "动物尸体", "绿化弃料"), "greening"),
            (("油烟", "噪声", "污水", "废水", "污染", "焚烧", "医疗废物"), "ecology_environment"),
            (("水域", "河道", "堤岸", "河）滩"), "water"), (("病虫害", "伐树", "占绿"), "greening"),
            (("道路破损", "标线", "路缘石", "盲道", "台阶", "坡道", "边坡", "道口"), "construction_transport"),
            (("家禽",), "health")], "city_management"),
    "07": ([], "city_management"),
    "08": ([(("扬尘",), "ecology_environment"), (("渣土", "车轮夹带"), "city_management"),
            (("高空悬吊",), "emergency")], "construction_transport"),
    "09": ([(("机动车乱停放", "消防通道"), "public_security"), (("无照", "无证餐饮", "农贸市场", "屠宰"),
                                                            "market_supervision"),
            (("流浪乞讨",), "civil_affairs"), (("共享单车", "非机动车"), "construction_transport")],
           "city_management"),
    "10": ([(("积雪", "结冰"), "greening"), (("线缆",), "construction_transport")], "city_management"),
}

# (keywords, urgency, {stage: (amount, unit)}) — first match wins; the generic default follows.
LIMIT_RULES: list[tuple[tuple[str, ...], str, dict[str, tuple[float, str]]]] = [
    (("井盖", "箅子", "沟槽盖板"), "urgent",
     {"dispatch": (0.5, "hour"), "sign": (0.5, "hour"), "dispose": (2, "hour"), "check": (1, "hour")}),
    (("燃气", "输油", "防汛墙", "高压线"), "urgent",
     {"dispatch": (0.5, "hour"), "sign": (0.5, "hour"), "dispose": (4, "hour"), "check": (2, "hour")}),
    (("暴露垃圾", "满溢", "道路不洁", "动物尸体", "道路遗撒"), "normal",
     {"dispatch": (1, "hour"), "sign": (1, "hour"), "dispose": (4, "hour"), "check": (4, "hour")}),
    (("私搭乱建", "无证建设"), "normal",
     {"dispatch": (1, "day"), "sign": (1, "day"), "dispose": (20, "day"), "check": (2, "day")}),
    (("积存垃圾渣土", "施工废弃料"), "normal",
     {"dispatch": (2, "hour"), "sign": (2, "hour"), "dispose": (2, "day"), "check": (1, "day")}),
    (("道路积雪", "积水", "占用消防通道"), "urgent",
     {"dispatch": (0.5, "hour"), "sign": (0.5, "hour"), "dispose": (4, "hour"), "check": (2, "hour")}),
    (("古树名木", "行道树", "绿地", "病虫害"), "normal",
     {"dispatch": (2, "hour"), "sign": (4, "hour"), "dispose": (5, "day"), "check": (1, "day")}),
]
DEFAULT_LIMITS: dict[str, tuple[float, str]] = {
    "dispatch": (2, "hour"), "sign": (4, "hour"), "dispose": (3, "day"), "check": (1, "day")}
URGENT_LIMITS: dict[str, tuple[float, str]] = {
    "dispatch": (0.5, "hour"), "sign": (0.5, "hour"), "dispose": (4, "hour"), "check": (2, "hour")}


def line_for(major_code: str, name: str) -> str:
    rules, default = LINE_RULES.get(major_code, ([], "city_management"))
    for keywords, line in rules:
        if any(k in name for k in keywords):
            return line
    return default


def limits_for(name: str) -> tuple[str, dict[str, dict[str, tuple[float, str]]]]:
    """(default urgency, {urgency: {stage: (amount, unit)}}) for a matter name.

    A matter urgent by nature keeps its short limits at either urgency; an ordinary one gets the
    generic urgent limits when a case is marked urgent.
    """
    for keywords, urgency, stages in LIMIT_RULES:
        if any(k in name for k in keywords):
            urgent = stages if urgency == "urgent" else URGENT_LIMITS
            return urgency, {"normal": dict(stages), "urgent": dict(urgent)}
    return "normal", {"normal": dict(DEFAULT_LIMITS), "urgent": dict(URGENT_LIMITS)}
