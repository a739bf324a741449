"""How plan tasks went over a period: assigned, acknowledged (and within the grace), done (and by the deadline),
escalated, cancelled, still late — for the incidents in the caller's sight.

Real incidents only, or drills only (``exercise``): an exercise's tasks never count in real figures, as the
五早 figures leave exercises out. Lateness is the rule of ``tasks.py`` (natural time).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.db import utcnow
from liandong.emergency import tasks, visibility
from liandong.emergency.models import Incident, Task


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def figures(session: Session, caller: Identity, days: int = 30, exercise: bool = False,
            now: dt.datetime | None = None, ack_minutes: float | None = None) -> dict:
    """Figures of the tasks assigned in the last ``days`` days before ``now``."""
    now = now or utcnow()
    grace = dt.timedelta(minutes=tasks.ack_minutes(ack_minutes))
    rows = session.execute(visibility.visible(
        select(Task.state, Task.ack_required, Task.created_at, Task.acked_at, Task.due_at, Task.done_at,
               Task.ack_escalated_at, Task.late_escalated_at).join(Incident, Incident.id == Task.incident_id),
        caller).where(Task.created_at >= now - dt.timedelta(days=days), Task.created_at <= now,
                      Task.exercise.is_(exercise))).all()
    asked = [r for r in rows if r.ack_required]
    acked = [r for r in asked if r.acked_at is not None]
    done = [r for r in rows if r.done_at is not None]
    out = {
        "days": days, "exercise": exercise, "tasks": len(rows),
        "acknowledged": len(acked), "acknowledged_in_time": sum(1 for r in acked if r.acked_at - r.created_at <= grace),
        "done": len(done), "done_on_time": sum(1 for r in done if r.done_at < r.due_at),
        "late_open": sum(1 for r in rows if tasks.late(r, now)),
        "cancelled": sum(1 for r in rows if r.state == "cancelled"),
        "escalated_unacknowledged": sum(1 for r in rows if r.ack_escalated_at is not None),
        "escalated_late": sum(1 for r in rows if r.late_escalated_at is not None),
    }
    out["ack_in_time_rate"] = _rate(out["acknowledged_in_time"], len(asked))
    out["on_time_rate"] = _rate(out["done_on_time"], len(done))
    return out
