"""What each object type is assessed on: its counts (``counts.py``) and the rates built from them, with their
Chinese names, and how each scorable indicator turns into points (a rate as a percentage, a rate where lower is
better as 100 − it, a count through its bands).

A rate is ``numerator / denominator`` of two counts of the same object; an empty denominator gives no figure
(``None``, shown as 无数据), never a division by zero."""

from __future__ import annotations

from dataclasses import dataclass

from liandong.assessment import counts as c


@dataclass(frozen=True)
class Rate:
    numerator: str
    denominator: str
    lower_is_better: bool = False


@dataclass(frozen=True)
class ObjectType:
    name: str
    label: str
    counts: dict[str, c.Count]
    rates: dict[str, Rate]
    bands: dict[str, str]
    """Scorable counts → the band set (``settings.yaml`` ``bands``) that scores them."""
    stages: tuple[str, ...]
    """The stages whose working time (mean, p90) the object answers for."""


LABELS = {
    "reported": "上报数", "valid": "有效上报数", "verify_due": "应核实数", "verify_on_time": "按时核实数",
    "check_due": "应核查数", "check_on_time": "按时核查数", "area_filed": "辖区立案数", "missed": "漏报数",
    "accepted": "受理数", "rejected": "不予受理数", "verify_dispatched": "核实派发数",
    "verify_dispatched_on_time": "核实按时派发数", "check_dispatched": "核查派发数",
    "check_dispatched_on_time": "核查按时派发数", "filed": "立案数", "filed_on_time": "按时立案数",
    "filed_accurate": "准确立案数", "closed_by": "结案数", "closed_by_on_time": "按时结案数", "dispatched": "派遣数",
    "dispatched_on_time": "按时派遣数", "dispatched_accurate": "准确派遣数", "assigned": "派遣至本单位数",
    "disposed": "处置数", "disposed_in_time": "按期处置数", "dispose_due": "应处置数", "reworked": "返工数",
    "returned": "回退数", "extended": "延期数", "overdue": "超期数", "closed": "结案数", "close_due": "应结案数",
    "closed_in_time": "按期结案数", "rated": "回访数", "satisfied": "满意数", "public_filed": "监督举报核实数",
    "valid_report_rate": "有效上报率", "verify_on_time_rate": "按时核实率", "check_on_time_rate": "按时核查率",
    "missed_rate": "漏报率", "verify_dispatch_on_time_rate": "核实按时派发率",
    "check_dispatch_on_time_rate": "核查按时派发率", "file_on_time_rate": "按时立案率",
    "file_accuracy_rate": "准确立案率", "close_on_time_rate": "按时结案率", "dispatch_on_time_rate": "按时派遣率",
    "dispatch_accuracy_rate": "准确派遣率", "dispose_rate": "处置率", "dispose_in_time_rate": "按期处置率",
    "rework_rate": "返工率", "closure_rate": "结案率", "closed_in_time_rate": "按期结案率",
    "public_report_rate": "监督举报率", "extension_rate": "延期率", "satisfaction_rate": "满意率",
    "filed_per_1000": "千人立案数",
}

REGIONS = ("town", "community")
"""The object types that are areas: counted by the case's grid path, sharing one set of counts."""

CLOSURE = {"closure_rate": Rate("closed", "close_due"), "closed_in_time_rate": Rate("closed_in_time", "close_due"),
           "satisfaction_rate": Rate("satisfied", "rated")}

OBJECTS: dict[str, ObjectType] = {o.name: o for o in (
    ObjectType("inspector", "监督员（网格员）", {
        "reported": c.reported, "valid": c.valid, "verify_due": c.verify_due, "verify_on_time": c.verify_on_time,
        "check_due": c.check_due, "check_on_time": c.check_on_time, "area_filed": c.area_filed, "missed": c.missed,
    }, {
        "valid_report_rate": Rate("valid", "reported"), "verify_on_time_rate": Rate("verify_on_time", "verify_due"),
        "check_on_time_rate": Rate("check_on_time", "check_due"),
        "missed_rate": Rate("missed", "area_filed", lower_is_better=True),
    }, {}, ("verify", "check")),
    ObjectType("receptionist", "受理员", {
        "accepted": c.accepted, "rejected": c.rejected, "verify_dispatched": c.verify_dispatched,
        "verify_dispatched_on_time": c.verify_dispatched_on_time, "check_dispatched": c.check_dispatched,
        "check_dispatched_on_time": c.check_dispatched_on_time,
    }, {
        "verify_dispatch_on_time_rate": Rate("verify_dispatched_on_time", "verify_dispatched"),
        "check_dispatch_on_time_rate": Rate("check_dispatched_on_time", "check_dispatched"),
    }, {"accepted": "workload"}, ("accept", "await_check")),
    ObjectType("shift_leader", "值班长", {
        "filed": c.filed, "filed_on_time": c.filed_on_time, "filed_accurate": c.filed_accurate,
        "closed_by": c.closed_by, "closed_by_on_time": c.closed_by_on_time,
    }, {
        "file_on_time_rate": Rate("filed_on_time", "filed"), "file_accuracy_rate": Rate("filed_accurate", "filed"),
        "close_on_time_rate": Rate("closed_by_on_time", "closed_by"),
    }, {}, ("file", "close")),
    ObjectType("dispatcher", "派遣员", {
        "dispatched": c.dispatched, "dispatched_on_time": c.dispatched_on_time,
        "dispatched_accurate": c.dispatched_accurate,
    }, {
        "dispatch_on_time_rate": Rate("dispatched_on_time", "dispatched"),
        "dispatch_accuracy_rate": Rate("dispatched_accurate", "dispatched"),
    }, {"dispatched": "workload"}, ("dispatch",)),
    ObjectType("department", "专业部门", c.DEPARTMENT_COUNTS, {
        "dispose_rate": Rate("disposed", "dispose_due"),
        "dispose_in_time_rate": Rate("disposed_in_time", "dispose_due"),
        "rework_rate": Rate("reworked", "disposed", lower_is_better=True),
        "extension_rate": Rate("extended", "disposed", lower_is_better=True), **CLOSURE,
    }, {"assigned": "department_cases"}, ("sign", "dispose")),
    *(ObjectType(level, label, c.REGION_COUNTS, {
        "public_report_rate": Rate("public_filed", "filed", lower_is_better=True), **CLOSURE,
    }, {"filed_per_1000": "region"}, ("dispose",)) for level, label in (("town", "镇（街道）"),
                                                                          ("community", "村（居）"))),
)}


def scorable() -> dict[str, set[str]]:
    """Each object type's indicators that a weight may name: its rates and its banded counts."""
    return {name: set(o.rates) | set(o.bands) for name, o in OBJECTS.items()}


REGION_BANDS = ("region_class_1", "region_class_2")
"""The band sets a region's ``region`` bands stand for: 一类 and 二类 areas (``service._band``)."""


def band_sets() -> set[str]:
    """Every band set an indicator is scored through."""
    named = {band for o in OBJECTS.values() for band in o.bands.values()}
    return (named - {"region"}) | (set(REGION_BANDS) if "region" in named else set())


def label(key: str) -> str:
    return LABELS.get(key, key)
