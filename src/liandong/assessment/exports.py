"""The assessment and the annual report as documents (``reports/document.py``) for the XLSX, PDF and CSV writers:
which tables, which columns of which kind, which chart. The figures are the service's, as the pages show them."""

from __future__ import annotations

import datetime as dt

from liandong.assessment.indicators import label
from liandong.assessment.reports.document import Chart, Column, Document, Table
from liandong.emergency.states import CATEGORY_NAMES

SCORE_COLUMNS = (Column("rank", "排名", "int"), Column("name", "名称"), Column("score", "综合得分", "float"),
                 Column("grade", "等级"), Column("previous_score", "上期得分", "float"),
                 Column("change", "变化", "float"))


def _kind(key: str, assessed: dict) -> str:
    if key in assessed["rates"]:
        return "rate"
    return "float" if key == "filed_per_1000" else "int"


def assessment_table(assessed: dict) -> Table:
    """One row per object: rank, score, grade, the previous score, then every indicator."""
    keys = list(assessed["labels"])
    rows = tuple({"rank": r["rank"], "name": r["name"], "score": r["score"], "grade": r["grade"],
                  "previous_score": r["previous_score"], "change": r["change"], **r["indicators"]}
                 for r in assessed["rows"])
    chart = Chart("bar", "综合得分", "name", ("score",)) if rows else None
    return Table(assessed["object"], f"{assessed['object_label']}考核", (
        *SCORE_COLUMNS, *(Column(k, label(k), _kind(k, assessed)) for k in keys)), rows, chart=chart,
        note="权重：" + "、".join(f"{label(k)} {w:g}%" for k, w in assessed["weights"].items()))


def assessment_document(assessed: dict, now: dt.datetime) -> Document:
    p = assessed["period"]
    notes = [f"上期：{assessed['previous_period']['from']} 至 {assessed['previous_period']['to']}",
             "等级：" + "，".join(f"{g['grade']} ≥ {g['min']:g}" for g in assessed["grades"])]
    if assessed.get("missed_definition"):
        notes.append(f"漏报：{assessed['missed_definition']}")
    return Document(f"{assessed['object_label']}考核", f"{p['from']} 至 {p['to']}", now,
                    (assessment_table(assessed),), tuple(notes))


def annual_document(report: dict, now: dt.datetime) -> Document:
    year, cases = report["year"], report["cases"]
    summary = Table("案件总览", f"{year} 年案件总览", (
        Column("figure", "指标"), Column("value", "本年", "int"), Column("previous", "上年", "int"),
        Column("change", "同比", "rate")), tuple(
        {"figure": name, "value": cases[k], "previous": cases["previous"][k], "change": cases["change"].get(k)}
        for k, name in (("reported", "上报"), ("accepted", "受理"), ("filed", "立案"), ("closed", "结案"))),
        chart=Chart("bar", "本年与上年", "figure", ("value", "previous")),
        note=f"结案率 {_percent(cases['closure_rate'])}（上年 {_percent(cases['previous']['closure_rate'])}）")
    hazards, disputes = report["hazards"], report["disputes"]
    screening = Table("隐患与纠纷", "安全隐患与矛盾纠纷", (Column("figure", "指标"), Column("value", "数量", "int")),
                      tuple({"figure": name, "value": hazards.get(k)} for k, name in (
                          ("collected", "隐患收集"), ("filed", "隐患立案"), ("closed", "隐患销号"),
                          ("rewarded", "有奖举报奖励"))) + tuple(
                          {"figure": f"纠纷{name}", "value": v} for name, v in _dispute_rows(disputes)))
    incidents = Table("突发事件", "突发事件（按类别、等级，五早间隔为分钟中位数）", (
        Column("category", "类别"), Column("count", "件数", "int"), Column("report_late", "迟报", "int"),
        *(Column(f"g{g}", f"{g}级", "int") for g in (1, 2, 3, 4)),
        Column("discover", "发现→报告", "float"), Column("respond", "研判→处置", "float")), tuple(
        {"category": _category(g["key"]), "count": g["count"], "report_late": g["report_late"],
         **{f"g{k}": g["grades"].get(str(k), 0) for k in (1, 2, 3, 4)},
         "discover": _median(g, "discover_report"), "respond": _median(g, "assess_dispose")}
        for g in report["incidents"]["by_category"]))
    towns = Table("各镇街", "各镇（街道）案件情况", (
        Column("name", "镇（街道）"), Column("reported", "上报", "int"), Column("filed", "立案", "int"),
        Column("closed", "结案", "int"), Column("closure_rate", "结案率", "rate"),
        Column("closed_in_time_rate", "按期结案率", "rate"), Column("satisfaction_rate", "满意率", "rate"),
        Column("score", "综合得分", "float"), Column("grade", "等级")), tuple(report["towns"]),
        chart=Chart("bar", "各镇（街道）立案与结案", "name", ("filed", "closed")))
    departments = Table("各部门", "各部门处置情况", (
        Column("name", "部门"), Column("assigned", "派遣", "int"), Column("disposed", "处置", "int"),
        Column("dispose_in_time_rate", "按期处置率", "rate"), Column("rework_rate", "返工率", "rate"),
        Column("closure_rate", "结案率", "rate"), Column("score", "综合得分", "float"), Column("grade", "等级")),
        tuple(report["departments"]))
    return Document(f"{year} 年度城市综合管理和应急联动工作报告", "大联动：受理、立案、结案、隐患、纠纷、突发事件", now,
                    (summary, screening, incidents, towns, departments),
                    ("所有数字均由事件日志和环节事实统计得出。",))


def _percent(x: float | None) -> str:
    return "无数据" if x is None else f"{x * 100:.1f}%"


def _dispute_rows(disputes: dict) -> list[tuple[str, int]]:
    names = {"collected": "收集", "mediated": "调解", "succeeded": "调解成功", "escalated": "上交", "closed": "销号"}
    return [(names.get(k, k), v) for k, v in disputes.items() if isinstance(v, int)]


def _category(key: str) -> str:
    return CATEGORY_NAMES.get(key, key)


def _median(group: dict, interval: str) -> float | None:
    return (group["intervals"].get(interval) or {}).get("median")
