"""A month of demo activity: cases from every channel, taken through the real case service.

So that the command centre has something to show on a fresh demo, ``make demo`` reports a few hundred
cases at random points over the last 30 days and moves each one as far as a drawn end state, with the
clock of each action set in the past (the service takes ``now``). Nothing bypasses the state table.
Seeded: the same district gives the same month.
"""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import actions, intake
from liandong.cases.calendar import WorkCalendar
from liandong.config import get_settings
from liandong.errors import DomainError

MATTERS = [("06010", 20), ("09009", 14), ("06001", 10), ("06011", 8), ("09001", 6), ("01001", 5), ("06005", 5),
           ("08001", 4), ("03005", 4), ("07001", 3), ("06020", 3), ("10001", 2)]
CHANNELS = [("hotline", 40), ("grid_worker", 30), ("citizen_web", 12), ("video", 8), ("sensor", 4),
            ("department_transfer", 4), ("leader_instruction", 2)]
PATH = ["accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"]
GAP_HOURS = {"accept": (0.05, 1), "file": (0.05, 1), "dispatch": (0.1, 2), "sign": (0.1, 3), "report_done": (0.5, 30),
             "request_check": (0.05, 1), "check_passed": (0.3, 6), "close": (0.05, 2)}
"""How long before each action when its stage has no deadline; a stage with one ends at a random point
within it. A centre that keeps time: the cases still open are the recent ones and the few stalled ones."""
STUCK_SHARE, REJECT_SHARE = 0.05, 0.02
"""Cases that stall at a random stage (the overdue ones on the screen) and reports rejected at once."""
CENTRE_ROLES = frozenset({"receptionist", "shift_leader", "dispatcher", "inspector"})
ROLE_OF = {"accept": "receptionist", "reject": "receptionist", "request_check": "receptionist",
           "file": "shift_leader", "close": "shift_leader", "dispatch": "dispatcher", "check_passed": "inspector"}
"""Who at the centre takes each action: the demo's user of that role, so the assessment (考核) has people to rank."""


def _pick(rng: random.Random, weighted: list[tuple]) -> object:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def generate(session: Session, n: int, *, seed: int = 7, now: dt.datetime | None = None) -> dict:
    """Report ``n`` cases over the last 30 days and move each through the case life cycle."""
    from liandong.catalogue import snapshot

    rng = random.Random(seed)
    now = now or dt.datetime.now(dt.UTC)
    index = GridIndex.build(session)
    settings = get_settings()
    cal = WorkCalendar.load(session, settings.work_hours, settings.timezone)
    known = snapshot.current(session).by_code
    matters = [(code, w) for code, w in MATTERS if code in known]
    people = _people(session)
    made = 0
    for _ in range(n):
        point = index.geoms[rng.randrange(len(index.geoms))].representative_point()
        start = now - dt.timedelta(days=rng.uniform(0, 30))
        draw = rng.random()
        steps = 0 if draw < REJECT_SHARE else rng.randrange(len(PATH)) if draw < REJECT_SHARE + STUCK_SHARE \
            else len(PATH)
        try:
            with session.begin_nested():  # a case the routing cannot place is skipped, not half-made
                _one(session, index, cal, rng, _pick(rng, matters), known, point, start, now, steps, people)
            made += 1
        except DomainError:
            continue
    session.flush()
    return {"cases": made}


def _people(session: Session) -> dict[str, Identity]:
    """The demo's centre users by role (the loader made them before the month); a database without them (a test
    making only the month) acts as one unnamed desk holding every centre role."""
    from sqlalchemy import select

    from liandong.auth.models import User

    desk = Identity(roles=CENTRE_ROLES, unit_id=None, username="demo")
    found = dict(session.execute(select(User.username, User.id).where(User.username.in_(CENTRE_ROLES))).all())
    return {role: Identity(roles=frozenset({role}), user_id=found[role], username=role) if role in found else desk
            for role in CENTRE_ROLES}


def _one(session: Session, index: GridIndex, cal: WorkCalendar, rng: random.Random, code: str, known: dict,
         point, at: dt.datetime, now: dt.datetime, steps: int, people: dict[str, Identity]) -> None:
    channel = _pick(rng, CHANNELS)
    reporter = people["inspector" if channel == "grid_worker" else "receptionist"]
    case = intake.open_case(session, index, reporter, matter_code=code, description=f"{known[code].name}（演示）",
                            lon=point.x, lat=point.y, channel=channel, now=at, calendar=cal,
                            duplicates=False).case  # random points: a drawn month must not merge into itself
    if not steps:
        actions.act(session, index, case.id, "reject", people["receptionist"], {"reason": "不属于受理范围（演示）"},
                    now=at, calendar=cal)
    for action in PATH[:steps]:
        if case.stage_deadline is not None and case.paused_remaining_minutes is None:
            at += (case.stage_deadline - at) * rng.uniform(0.1, 0.98)  # within the running stage's limit
        else:
            at += dt.timedelta(hours=rng.uniform(*GAP_HOURS[action]))
        if at > now:  # a recent case has not got this far yet
            break
        actor = people[ROLE_OF[action]] if action in ROLE_OF else None
        if action in ("sign", "report_done"):
            actor = Identity(roles=frozenset({"handler"}), unit_id=case.lead_unit_id, username="demo")
        payload = {"note": "已处置（演示）"} if action == "report_done" else {}
        case = actions.act(session, index, case.id, action, actor, payload, now=at, calendar=cal)
