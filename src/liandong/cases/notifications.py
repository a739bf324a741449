"""A unit's in-app notices (an overdue stage, urging, a reopened case, an incident's plan and tasks): the list, the
groups the workbench shows, the unread badge, marking them read one by one or in bulk.

A notice belongs to a unit: another unit's is not found (404 leaks nothing). Within the unit it is **addressed to
the roles that must act on it**, read from its kind (and, for an overdue stage, the stage): an overdue dispatch
concerns the dispatchers and the shift leader, not the receptionist or the incident commander; a plan task's
notice concerns the staff who act on tasks. ``MUST_ACT`` is that one table; a kind it does not list goes to
everyone in the unit. No column is needed: the kind and details say it, for old notices too.

**Grouped** per case or per incident (``details.incident_id``): the workbench shows one row per case or incident
with how many notices wait and the newest one's wording, so fifty urgings of one case take one line. **Drills**:
a notice about an exercise incident carries ``details.exercise`` (``emergency/notices.py`` writes it from the
incident's flag); it is shown marked 演练 and kept out of the unread count of real work (``unread_count``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import and_, false, func, or_, select, true, update
from sqlalchemy.orm import Session

from liandong.auth.models import STAFF_ROLES
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

_TASK_STAFF = STAFF_ROLES
"""The roles that act on an incident's plan tasks (``emergency.states.TASK_ROLES`` is the same set)."""
MUST_ACT: dict[str, frozenset[str]] = {
    "overdue": frozenset({"dispatcher", "shift_leader", "handler", "inspector", "leader"}),
    "urge": frozenset({"dispatcher", "shift_leader", "handler", "inspector", "leader"}),
    "case_overdue": frozenset({"dispatcher", "shift_leader", "leader"}),
    "reopen": frozenset({"receptionist", "shift_leader", "dispatcher", "leader"}),
    "plan_activated": _TASK_STAFF,
    "task_assigned": _TASK_STAFF,
    "task_unacked": _TASK_STAFF,
    "task_late": _TASK_STAFF,
}
"""Per kind, the roles in the addressed unit that must act on the notice (who sees it)."""
STAGE_MUST_ACT: dict[str, frozenset[str]] = {
    "dispatch": frozenset({"dispatcher", "shift_leader", "leader"}),
    "sign": frozenset({"handler", "dispatcher", "shift_leader", "leader"}),
    "dispose": frozenset({"handler", "dispatcher", "shift_leader", "leader"}),
    "check": frozenset({"inspector", "dispatcher", "shift_leader", "leader"}),
}
"""An overdue stage, more narrowly: who moves that stage on (or escalates it)."""
BULK_LIMIT = 500


def roles_for(kind: str, details: dict | None) -> frozenset[str] | None:
    """The roles a notice is addressed to; None: everyone in the unit."""
    stage = (details or {}).get("stage")
    if kind == "overdue" and stage in STAGE_MUST_ACT:
        return STAGE_MUST_ACT[stage]
    return MUST_ACT.get(kind)


def _stage():
    return Notification.details["stage"].as_string()


def _incident():
    return Notification.details["incident_id"].as_integer()


def _drill():
    return func.coalesce(Notification.details["exercise"].as_boolean(), false())


def addressed(roles: Iterable[str] | None):
    """A SQL condition: the notice is addressed to one of ``roles`` (None: no narrowing, as for a system caller)."""
    if roles is None:
        return true()
    mine = frozenset(roles)
    kinds = [kind for kind, needed in MUST_ACT.items() if kind != "overdue" and mine & needed]
    stages = [stage for stage, needed in STAGE_MUST_ACT.items() if mine & needed]
    overdue = false()
    if mine & MUST_ACT["overdue"]:  # a stage the table names narrows it; another (or none) goes to every one
        overdue = and_(Notification.kind == "overdue",
                       or_(_stage().in_(stages), _stage().is_(None), _stage().not_in(list(STAGE_MUST_ACT))))
    return or_(Notification.kind.not_in(list(MUST_ACT)), Notification.kind.in_(kinds), overdue)


def text(kind: str, details: dict, number: str | None) -> str | None:
    """The notice in both languages on one line, for the API's ``message`` (clients without the labels)."""
    if kind not in WORDING:
        return None
    stage = details.get("stage") or ""
    names = STAGE_NAMES.get(stage, (stage, stage))
    zh, en = (w.format(number=number or "", level=details.get("level") or 1, note=details.get("note") or "",
                       stage=name) for w, name in zip(WORDING[kind], names, strict=True))
    return f"{zh} ({en})"


def _dict(n: Notification, number: str | None) -> dict:
    details = n.details or {}
    return {"id": n.id, "case_id": n.case_id, "case_number": number, "kind": n.kind, "details": details,
            "incident_id": details.get("incident_id"), "incident_number": details.get("incident_number"),
            "exercise": bool(details.get("exercise")),
            "message": n.message or text(n.kind, details, number), "created_at": n.created_at.isoformat(),
            "read": n.read_at is not None}


def _mine(unit_id: int, roles: Iterable[str] | None, unread: bool):
    conditions = [Notification.unit_id == unit_id, addressed(roles)]
    if unread:
        conditions.append(Notification.read_at.is_(None))
    return conditions


def for_unit(session: Session, unit_id: int, *, unread: bool = False, limit: int = 50,
             roles: Iterable[str] | None = None) -> list[dict]:
    """Newest first, each with its case's number (pages word a notice from its kind and details); with ``roles``
    only those addressed to them."""
    stmt = select(Notification, Case.number).outerjoin(Case, Case.id == Notification.case_id).where(
        *_mine(unit_id, roles, unread))
    rows = session.execute(stmt.order_by(Notification.id.desc()).limit(limit))
    return [_dict(n, number) for n, number in rows]


def unread_count(session: Session, unit_id: int, roles: Iterable[str] | None = None) -> int:
    """The unread notices of real work (a drill's are counted apart: ``unread_counts``)."""
    return unread_counts(session, unit_id, roles)["unread"]


def unread_counts(session: Session, unit_id: int, roles: Iterable[str] | None = None) -> dict:
    """``{"unread": real work, "exercise": drills}`` among the unread notices addressed to ``roles``."""
    drill = _drill()
    row = session.execute(select(func.count().filter(drill.is_not(True)), func.count().filter(drill.is_(True)))
                          .select_from(Notification).where(*_mine(unit_id, roles, True))).one()
    return {"unread": int(row[0] or 0), "exercise": int(row[1] or 0)}


def groups(session: Session, unit_id: int, *, roles: Iterable[str] | None = None, unread: bool = True,
           limit: int = 20) -> dict:
    """The notices per case or incident, the most recently told first: per group how many (and how many unread),
    the newest notice as ``latest``, whether it is a drill; with the totals. Notices about neither (none are
    written today) form one group."""
    incident = _incident()
    where = _mine(unit_id, roles, unread)
    grouped = (select(Notification.case_id, incident.label("incident_id"), func.count().label("n"),
                      func.count(Notification.read_at).label("read"), func.max(Notification.id).label("latest"))
               .where(*where).group_by(Notification.case_id, incident))
    total = session.scalar(select(func.count()).select_from(grouped.subquery()))
    rows = session.execute(grouped.order_by(func.max(Notification.id).desc()).limit(limit)).all()
    latest = {}
    if rows:
        latest = {n.id: _dict(n, number) for n, number in session.execute(
            select(Notification, Case.number).outerjoin(Case, Case.id == Notification.case_id)
            .where(Notification.id.in_([r.latest for r in rows])))}
    out = []
    for r in rows:
        newest = latest[r.latest]
        kind = "case" if r.case_id is not None else "incident" if r.incident_id is not None else "other"
        out.append({"key": f"{kind}:{r.case_id or r.incident_id or 0}", "kind": kind, "case_id": r.case_id,
                    "case_number": newest["case_number"], "incident_id": r.incident_id,
                    "incident_number": newest["incident_number"], "exercise": newest["exercise"],
                    "count": int(r.n), "unread": int(r.n) - int(r.read), "latest": newest})
    return {"total": int(total or 0), **unread_counts(session, unit_id, roles), "groups": out}


def mark_read(session: Session, unit_id: int, notification_id: int, now: dt.datetime,
              roles: Iterable[str] | None = None) -> None:
    """Read once: marking it again keeps the first time. A notice of another unit, or one not addressed to
    ``roles``, is not found for the caller (as in the list)."""
    n = session.scalar(select(Notification).where(Notification.id == notification_id, *_mine(unit_id, roles, False)))
    if n is None:
        raise NotFound(f"notification {notification_id} not found")
    n.read_at = n.read_at or now


def mark_many_read(session: Session, unit_id: int, now: dt.datetime, *, roles: Iterable[str] | None = None,
                   ids: list[int] | None = None, case_id: int | None = None, incident_id: int | None = None,
                   everything: bool = False) -> int:
    """Mark read, in one statement, the unit's unread notices addressed to ``roles`` that are among ``ids``, about
    ``case_id``, about ``incident_id``, or all of them (``everything``); returns how many. Another unit's notices
    are left alone, silently (an id of another unit reads as one not there)."""
    conditions = _mine(unit_id, roles, True)
    if ids is not None:
        conditions.append(Notification.id.in_(ids[:BULK_LIMIT]))
    elif case_id is not None:
        conditions.append(Notification.case_id == case_id)
    elif incident_id is not None:
        conditions.append(_incident() == incident_id)
    elif not everything:
        return 0
    result = session.execute(update(Notification).where(*conditions).values(read_at=now)
                             .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)
