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


# (keywords, filing criterion 立案条件, closing criterion 结案条件) — first match wins (§2.6 local practice)
CRITERIA_RULES: list[tuple[tuple[str, ...], str, str]] = [
    (("暴露垃圾",), "道路、街巷、绿地或公共场所内成堆成片的垃圾（距垃圾容器或中转站 3 米以外，沿市政道路面积 ≥1 m²，"
                "城中村和市场内 ≥2 m²），或生活垃圾未投入容器", "垃圾清运干净、地面无残留，核查照片与处置反馈一致"),
    (("施工废弃料", "积存垃圾渣土"), "施工废弃料或渣土沿市政道路堆放 ≥1 m²（城中村和市场内 ≥2 m²），或影响通行",
     "废弃料、渣土清运完毕，现场恢复平整"),
    (("乱堆",), "公共场所内无围挡的非施工堆物（城中村内 ≥3 m²），或占用通道、影响通行",
     "堆物清除或移入规定场所，通道恢复畅通"),
    (("私搭乱建", "无证建设"), "未取得规划许可正在建设或已建成的建（构）筑物，经核实属实",
     "已停工并拆除到位，或已补办许可；核查确认现场与处置反馈一致"),
    (("道路不洁", "保洁"), "早 8 时后公共场所可见明显垃圾、污渍或积存杂物", "保洁达标，现场无明显垃圾、污渍"),
    (("积水",), "路面、下立交或人行道积水影响车辆或行人通行", "积水排除，通行恢复"),
    (("小广告", "涂写", "刻画"), "建（构）筑物、设施表面张贴、涂写、刻画的非法广告，单处可见", "清除干净，无残留痕迹"),
    (("乱停放",), "车辆停放在禁停区域或占用通道、盲道，影响通行", "车辆驶离或规范停放，通道畅通"),
    (("占道经营", "店外经营", "游商"), "占用道路、店外场地或公共空间经营，经核实属实",
     "经营行为停止，占用物品清除，场地恢复"),
]
COMPONENT_CRITERIA = ("{name}：部件缺失、破损、移位、污损或功能异常，经监督员现场核实属实",
                      "部件修复、更换或归位到位，功能恢复，处置后照片与现场核查一致")
EVENT_CRITERIA = ("事实清楚、位置明确、属于本事项分类，经受理员或监督员核实属实",
                  "问题已处置消除，监督员现场核查与处置反馈一致")


def criteria_for(kind: str, name: str) -> tuple[str, str]:
    """(filing criterion, closing criterion) for a matter: the shift leader files and closes against them."""
    if kind == "component":
        filing, closing = COMPONENT_CRITERIA
        return filing.format(name=name.removesuffix("异常")), closing
    for keywords, filing, closing in CRITERIA_RULES:
        if any(k in name for k in keywords):
            return filing, closing
    return EVENT_CRITERIA
