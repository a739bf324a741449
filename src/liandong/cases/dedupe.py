"""Duplicates across channels: the same pothole reported by a caller, an app and a camera is one case.

After a new report, every open case of the same matter family nearby and recent is scored:
distance (0.35), time apart (0.25), same matter or only the same major category (0.25) and how alike the
descriptions are (0.15, character bigrams, which suits Chinese; left out, and the rest scaled up, when one
side is a camera or a sensor). From ``dedupe_auto`` up the new report is
merged into the older case at once (it then follows that master, and its reporter with it); from
``dedupe_review`` up the pair waits in a review queue for a receptionist to merge or dismiss.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import actions, queries, visibility
from liandong.cases.calendar import WorkCalendar
from liandong.cases.models import Case, DuplicatePair
from liandong.config import Settings, get_settings
from liandong.errors import Conflict, NotFound

RADIUS_M = 150.0
WINDOW_H = 72.0
REVIEW_MAX = 3
"""At most this many pairs per new report go to the review queue (the likeliest)."""
SYSTEM = Identity(roles=frozenset({"receptionist", "shift_leader"}), unit_id=None, username="dedupe")


def _bigrams(text: str) -> set[str]:
    text = "".join(ch for ch in (text or "") if not ch.isspace())
    return {text[i:i + 2] for i in range(len(text) - 1)} or ({text} if text else set())


def similarity(a: str, b: str) -> float:
    x, y = _bigrams(a), _bigrams(b)
    return len(x & y) / len(x | y) if x and y else 0.0


MACHINE_CHANNELS = frozenset({"video", "sensor"})
"""Their descriptions are generated: wording says nothing there, so the other parts carry the score."""


def score(new: Case, old, same_matter: bool, distance_m: float) -> float:
    """``old`` is a case or a candidate row: anything with created_at, channel and description."""
    hours = abs((new.created_at - old.created_at).total_seconds()) / 3600
    base = (0.35 * max(0.0, 1 - distance_m / RADIUS_M) + 0.25 * max(0.0, 1 - hours / WINDOW_H)
            + 0.25 * (1.0 if same_matter else 0.6))
    if {getattr(new, "channel", None), getattr(old, "channel", None)} & MACHINE_CHANNELS:
        return round(base / 0.85, 4)
    return round(base + 0.15 * similarity(new.description, old.description), 4)


def after_report(session: Session, index: GridIndex, case: Case, calendar: WorkCalendar,
                 settings: Settings | None = None, now: dt.datetime | None = None) -> dict:
    """Score the new case against its candidates; merge it or queue the pair, at ``now`` (the report's moment:
    a replayed or simulated report merges at its own time, not the wall clock's). ``intake.open_case`` calls
    this for every channel (none calls it itself); the caller commits."""
    settings = settings or get_settings()
    if case.state != "reported" or settings.dedupe_review > 1:
        return {"merged_into": None, "queued": 0}
    found = queries.candidates(session, case, SYSTEM, radius_m=RADIUS_M, hours=WINDOW_H, limit=REVIEW_MAX * 4)
    scored = sorted(((score(case, old, same, metres), old.id, old)
                     for old, metres, same in found if old.id < case.id),  # only older cases can be masters
                    key=lambda t: (-t[0], t[1]))
    if scored and scored[0][0] >= settings.dedupe_auto:  # candidates are never merged cases themselves
        best_score, _, best = scored[0]
        actions.act(session, index, case.id, "merge", SYSTEM,
                    {"master_id": best.id, "note": f"自动合并 (score {best_score})"}, now=now or case.created_at,
                    calendar=calendar)
        return {"merged_into": best.id, "score": best_score, "queued": 0}
    queued = [(s, old) for s, _, old in scored if settings.dedupe_review <= s < settings.dedupe_auto][:REVIEW_MAX]
    for s, old in queued:
        session.add(DuplicatePair(case_id=case.id, candidate_id=old.id, score=s, status="pending",
                                  created_at=case.created_at))
    return {"merged_into": None, "queued": len(queued)}


def queue(session: Session, actor: Identity, limit: int = 100) -> list[dict]:
    """Pairs waiting for a decision, the likeliest first, within the actor's jurisdiction."""
    seen = visibility.visible(select(Case.id), actor)  # both cases of a pair must be the actor's to see
    rows = session.scalars(select(DuplicatePair).where(
        DuplicatePair.status == "pending", DuplicatePair.case_id.in_(seen), DuplicatePair.candidate_id.in_(seen))
        .order_by(DuplicatePair.score.desc(), DuplicatePair.id).limit(limit))
    return [{"id": p.id, "score": p.score, "case": _brief(session.get(Case, p.case_id)),
             "candidate": _brief(session.get(Case, p.candidate_id))} for p in rows]


def _brief(c: Case) -> dict:
    return {"id": c.id, "number": c.number, "state": c.state, "channel": c.channel, "description": c.description,
            "created_at": c.created_at.isoformat()}


def decide(session: Session, index: GridIndex, pair_id: int, merge: bool, actor: Identity,
           calendar: WorkCalendar, now: dt.datetime) -> dict:
    pair = session.get(DuplicatePair, pair_id)
    if pair is None:
        raise NotFound(f"duplicate pair {pair_id} not found")
    queries.get(session, pair.case_id, actor)  # 404 outside the jurisdiction
    if pair.status != "pending":
        raise Conflict(f"this pair was {pair.status} already")
    if merge:
        master = queries.get(session, pair.candidate_id, actor)
        master_id = master.master_id or master.id
        actions.act(session, index, pair.case_id, "merge", actor, {"master_id": master_id}, calendar=calendar)
    pair.status, pair.decided_by, pair.decided_at = ("merged" if merge else "dismissed"), actor.name, now
    return {"id": pair.id, "status": pair.status}
