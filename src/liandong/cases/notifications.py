"""A unit's in-app notices (an overdue stage, urging, a reopened case): the list, the unread badge, marking
one read. A notice belongs to a unit: another unit's is not found (404 leaks nothing)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.cases.models import Case, Notification
from liandong.errors import NotFound

WORDING: dict[str, tuple[str, str]] = {
    "overdue": ("案件 {number} 的{stage}环节已超时（第 {level} 级督办）",
                "Case {number}: the {stage} stage is overdue (escalation level {level})"),
    "urge": ("案件 {number} 被督办：{note}", "Case {number} urged: {note}"),
    "case_overdue": ("案件 {number} 已超过结案期限", "Case {number} is past its deadline for closure"),
    "reopen": ("案件 {number} 的报告人称问题仍未解决：{note}",
               "Case {number}: the reporter says it is not fixed: {note}"),
    # incidents (emergency/notices.py): no case; ``note`` names the incident and the plan or task
    "plan_activated": ("应急预案已启动：{note}", "Contingency plan activated: {note}"),
    "task_assigned": ("新的应急任务：{note}", "New emergency task: {note}"),
    "task_unacked": ("应急任务超时未签收：{note}", "Emergency task not acknowledged in time: {note}"),
    "task_late": ("应急任务逾期未完成：{note}", "Emergency task past its deadline: {note}"),
}
"""How each kind of notice reads, (zh, en): the pages' labels (``web/i18n.py``) and the API's text are
these. A notice stores its kind and details only."""
STAGE_NAMES: dict[str, tuple[str, str]] = {"dispatch": ("派遣", "Dispatch"), "sign": ("签收", "Sign"),
                                           "dispose": ("处置", "Dispose"), "check": ("核查", "Check")}
"""The clocked stages by name, (zh, en): the notices' words for them, and the pages' labels."""


def text(kind: str, details: dict, number: str | None) -> str | None:
    """The notice in both languages on one line, for the API's ``message`` (clients without the labels)."""
    if kind not in WORDING:
        return None
    stage = details.get("stage") or ""
    names = STAGE_NAMES.get(stage, (stage, stage))
    zh, en = (w.format(number=number or "", level=details.get("level") or 1, note=details.get("note") or "",
                       stage=name) for w, name in zip(WORDING[kind], names, strict=True))
    return f"{zh} ({en})"


def for_unit(session: Session, unit_id: int, *, unread: bool = False, limit: int = 50) -> list[dict]:
    """Newest first, each with its case's number (pages word a notice from its kind and details)."""
    stmt = select(Notification, Case.number).outerjoin(Case, Case.id == Notification.case_id).where(
        Notification.unit_id == unit_id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    rows = session.execute(stmt.order_by(Notification.id.desc()).limit(limit))
    return [{"id": n.id, "case_id": n.case_id, "case_number": number, "kind": n.kind, "details": n.details or {},
             "message": n.message or text(n.kind, n.details or {}, number), "created_at": n.created_at.isoformat(),
             "read": n.read_at is not None} for n, number in rows]


def unread_count(session: Session, unit_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.unit_id == unit_id, Notification.read_at.is_(None)))


def mark_read(session: Session, unit_id: int, notification_id: int, now: dt.datetime) -> None:
    """Read once: marking it again keeps the first time."""
    n = session.get(Notification, notification_id)
    if n is None or n.unit_id != unit_id:
        raise NotFound(f"notification {notification_id} not found")
    n.read_at = n.read_at or now
