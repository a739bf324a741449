"""From the incident's Chinese categories and levels to CAP's enumerations (reference §5.1, §5.2, §5.7).

CAP has no place for the three Chinese levels, so they travel as ``<parameter>``s as well; urgency, severity and
certainty are derived from the warning level (预警级别), or from the event grade while no warning level is set.
The mapping of levels to CAP severity is the reference's suggestion (Ⅰ→Extreme … Ⅳ→Minor), not a standard.
"""

from __future__ import annotations

from typing import NamedTuple

CATEGORY_DEFAULT = {"natural": "Met", "accident": "Safety", "public_health": "Health", "social_security": "Security"}
"""自然灾害 → Met (most of Minhang's natural emergencies are weather), 事故灾难 → Safety, 公共卫生 → Health,
社会安全 → Security; refined by the incident type below."""
TYPE_KEYWORDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("natural", ("地震", "地质", "滑坡", "塌陷", "泥石流"), "Geo"),
    ("natural", ("森林", "草原", "火"), "Fire"),
    ("natural", ("生物", "病虫"), "Env"),
    ("accident", ("危险化学品", "危化", "核", "辐射", "爆炸"), "CBRNE"),
    ("accident", ("火灾", "起火"), "Fire"),
    ("accident", ("交通", "道路", "轨道", "地铁", "航空", "船"), "Transport"),
    ("accident", ("污染", "环境", "生态"), "Env"),
    ("accident", ("停电", "供水", "供气", "管线", "桥", "设施", "电梯"), "Infra"),
)
CATEGORY_NAMES = {"natural": "自然灾害", "accident": "事故灾难", "public_health": "公共卫生事件",
                  "social_security": "社会安全事件"}
GRADE_NAMES = {1: "Ⅰ级（特别重大）", 2: "Ⅱ级（重大）", 3: "Ⅲ级（较大）", 4: "Ⅳ级（一般）"}
WARNING_NAMES = {1: "红色预警（一级）", 2: "橙色预警（二级）", 3: "黄色预警（三级）", 4: "蓝色预警（四级）"}
RESPONSE_NAMES = {1: "一级响应", 2: "二级响应", 3: "三级响应", 4: "四级响应"}


class Judgement(NamedTuple):
    urgency: str
    severity: str
    certainty: str


LEVEL_JUDGEMENT = {1: Judgement("Immediate", "Extreme", "Likely"), 2: Judgement("Immediate", "Severe", "Likely"),
                   3: Judgement("Expected", "Moderate", "Likely"), 4: Judgement("Future", "Minor", "Possible")}
CANCELLED = Judgement("Past", "Minor", "Observed")
"""A Cancel's info: the danger is over (with responseType AllClear)."""


def category(incident_category: str, incident_type: str) -> str:
    """CAP ``category`` of an incident: by its type's keywords within its category, else the category's default."""
    for cat, words, cap in TYPE_KEYWORDS:
        if cat == incident_category and any(w in incident_type for w in words):
            return cap
    return CATEGORY_DEFAULT.get(incident_category, "Other")


def judgement(warning_level: int | None, grade: int, msg_type: str) -> Judgement:
    if msg_type == "Cancel":
        return CANCELLED
    return LEVEL_JUDGEMENT[warning_level or grade]


def parameters(grade: int, warning_level: int | None, response_level: int | None,
               incident_category: str) -> list[tuple[str, str]]:
    """The Chinese classification as (valueName, value) pairs, the levels that are set only."""
    out = [("事件类别", CATEGORY_NAMES.get(incident_category, incident_category)), ("事件分级", GRADE_NAMES[grade])]
    if warning_level:
        out.append(("预警级别", WARNING_NAMES[warning_level]))
    if response_level:
        out.append(("响应级别", RESPONSE_NAMES[response_level]))
    return out
