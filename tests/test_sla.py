"""Working calendar arithmetic, stage clocks with pause/resume, lights, and the escalation sweep."""

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import actions, calendar, intake, notifications, queries, sla
from liandong.cases.calendar import WorkCalendar, mark_year, parse_hours, seed_from_chinesecalendar, set_day
from liandong.cases.models import Case, CaseEvent, Extension, Notification
from liandong.catalogue.service import load_standard
from liandong.db import unit_of_work
from liandong.errors import Invalid
from tests.factories import build_small_district

SH = ZoneInfo("Asia/Shanghai")
HOURS = "08:30-11:30,13:00-17:30"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.fixture
def cal(db_url) -> WorkCalendar:
    with unit_of_work(db_url) as s:
        seed_from_chinesecalendar(s)
    with unit_of_work(db_url) as s:
        return WorkCalendar.load(s, HOURS, "Asia/Shanghai")


def test_spring_festival_2026(cal):
    assert cal.is_workday(dt.date(2026, 2, 14))  # a Saturday worked in exchange (调休)
    assert not cal.is_workday(dt.date(2026, 2, 16)) and not cal.is_workday(dt.date(2026, 2, 23))
    assert cal.is_workday(dt.date(2026, 2, 24)) and not cal.is_workday(dt.date(2026, 2, 15))
    # Friday 16:00 + 4 working hours: 1.5 h on Friday, 2.5 h on the working Saturday morning
    end, unknown = cal.add(at("2026-02-13 16:00"), 240)
    assert end.astimezone(SH) == at("2026-02-14 11:00") and not unknown
    # Saturday 17:00 + 1 working hour skips the whole holiday week to Tuesday 24 February
    end, _ = cal.add(at("2026-02-14 17:00"), 60)
    assert end.astimezone(SH) == at("2026-02-24 09:00")
    assert cal.between(at("2026-02-13 16:00"), at("2026-02-14 11:00")) == 240


def test_across_the_year_boundary(cal):
    # Wed 31 Dec 16:30 + one working day (7.5 h): 1 h left in 2025, New Year 1–3 Jan off, Sunday 4 Jan worked
    assert cal.day_minutes == 450
    end, _ = cal.add(at("2025-12-31 16:30"), cal.minutes(1, "day"))
    assert end.astimezone(SH) == at("2026-01-04 16:30")
    assert cal.between(at("2025-12-31 16:30"), end) == pytest.approx(450)


def test_years_without_data_warn(cal, db_url):
    assert 2027 not in cal.years
    end, unknown = cal.add(at("2026-12-31 17:00"), 60)
    assert unknown == {2027} and end.astimezone(SH) == at("2027-01-01 09:00")  # weekends-only fallback
    with unit_of_work(db_url) as s:
        set_day(s, dt.date(2027, 1, 1), False, "元旦")
    with unit_of_work(db_url) as s:
        edited = WorkCalendar.load(s, HOURS, "Asia/Shanghai")
    end, unknown = edited.add(at("2026-12-31 17:00"), 60)
    # 1 Jan is a holiday now, then the weekend; but one day entered does not make the year known
    assert unknown == {2027} and end.astimezone(SH) == at("2027-01-04 09:00")
    with unit_of_work(db_url) as s:
        mark_year(s, 2027, True)
    with unit_of_work(db_url) as s:
        assert not WorkCalendar.load(s, HOURS, "Asia/Shanghai").add(at("2026-12-31 17:00"), 60)[1]


def _walk_between(cal: WorkCalendar, start: dt.datetime, end: dt.datetime) -> float:
    """Working minutes by walking the days window by window: what the calendar's day sums must give."""
    total, s, e = 0.0, start.astimezone(SH), end.astimezone(SH)
    day = s.date()
    while day <= e.date():
        if cal.is_workday(day):
            for a, b in parse_hours(HOURS):
                lo = max(dt.datetime.combine(day, a, tzinfo=SH), s)
                hi = min(dt.datetime.combine(day, b, tzinfo=SH), e)
                total += max(0.0, (hi - lo).total_seconds() / 60)
        day += dt.timedelta(days=1)
    return total


def test_working_time_by_day_sums_matches_a_walk_over_the_days(cal):
    """``between`` and ``add`` count on per-year sums of the working days; a walk over every day says the same to the
    microsecond, at random instants (holidays, worked weekends, nights, turns of years, years without data) and at
    the windows' edges."""
    import random

    def us(minutes: float) -> int:
        return round(minutes * 60_000_000)

    rng = random.Random(7)
    base = at("2024-10-01 00:00")
    instants = [base + dt.timedelta(minutes=rng.uniform(0, 3 * 365 * 1440)) for _ in range(300)]
    instants += [at("2025-12-31 17:30"), at("2026-01-04 08:30"), at("2026-02-13 11:30"), at("2026-02-14 13:00")]
    for start in instants:
        for span in (0.0, 0.5, 37.25, 180.0, 450.0, 451.0, 2 * 450.0, 17 * 450.0 + 3.3, 300 * 450.0):
            end, unknown = cal.add(start, span)
            assert us(_walk_between(cal, start, end)) == us(cal.between(start, end)) == us(span)
            assert unknown == {y for y in range(start.astimezone(SH).year, end.astimezone(SH).year + 1)
                               if y not in cal.years}
            if span:  # the instant the minutes are used up, not a moment of rest after it
                assert us(_walk_between(cal, start, end - dt.timedelta(microseconds=1))) == us(span) - 1
        later = start + dt.timedelta(minutes=rng.uniform(0, 800 * 1440))
        assert us(cal.between(start, later)) == us(_walk_between(cal, start, later))
        assert cal.between(later, start) == 0.0 and cal.add(start, -5.0) == cal.add(start, 0.0)
    # no minutes: the first working instant from then on
    assert cal.add(at("2026-02-13 17:45"), 0)[0].astimezone(SH) == at("2026-02-14 08:30")
    assert cal.add(at("2026-02-13 11:30"), 0)[0].astimezone(SH) == at("2026-02-13 13:00")
    assert cal.add(at("2026-02-13 10:00"), 0)[0].astimezone(SH) == at("2026-02-13 10:00")
    assert cal.add(at("2026-02-13 10:00"), 90)[0].astimezone(SH) == at("2026-02-13 11:30")  # a window's end
    # a deadline is given up to three years of days ahead (MAX_DAYS), no further, however far the minutes reach
    start = at("2026-01-06 08:30")
    last = start.date() + dt.timedelta(days=calendar.MAX_DAYS - 1)
    while not cal.is_workday(last):
        last -= dt.timedelta(days=1)
    reach = cal.between(start, dt.datetime.combine(last, dt.time(17, 30), tzinfo=SH))
    assert cal.add(start, reach)[0].astimezone(SH).date() == last
    for too_far in (reach + 450.0, float("inf")):
        with pytest.raises(Invalid):
            cal.add(start, too_far)


@pytest.mark.parametrize("spec", ["8-17", "09:00-08:00", "08:00-12:00,11:00-13:00", ""])
def test_bad_working_hours(spec):
    with pytest.raises(Invalid):
        parse_hours(spec)


@pytest.fixture
def world(db_url):
    with unit_of_work(db_url) as s:
        build_small_district(s)
        load_standard(s)
        seed_from_chinesecalendar(s)
    return db_url


def everyone(url):
    from liandong.units.models import Unit

    with unit_of_work(url) as s:
        unit = s.scalar(select(Unit.id).where(Unit.code == "B-cm-319901001"))
    return Identity(roles=frozenset({"receptionist", "shift_leader", "dispatcher", "handler",
                                                     "inspector"}), unit_id=unit)


def run(url, case_id, action, now, **payload):
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
        cal = calendar.calendar_for(s)
        actor = everyone(url)
        if action == "dispatch":
            payload.setdefault("lead_unit_id", actor.unit_id)
        case = actions.act(s, index, case_id, action, actor, payload, now=now, calendar=cal)
        return sla.status(case, cal, now)


def new_case(url, now, matter="06010"):
    with unit_of_work(url) as s:
        case, _ = intake.report(s, GridIndex.build(s), everyone(url), matter_code=matter, description="垃圾",
                                 lon=121.305, lat=31.105, channel="hotline", now=now)
        return case.id


def test_stage_clock_pause_resume_and_lights(world):
    t0 = at("2026-03-02 09:00")  # a Monday
    cid = new_case(world, t0)
    run(world, cid, "accept", t0)
    st = run(world, cid, "file", t0)
    assert st["stage"] == "dispatch" and st["light"] == "green" and st["case_deadline"]
    assert dt.datetime.fromisoformat(st["stage_deadline"]).astimezone(SH) == at("2026-03-02 10:00")  # 1 h
    st = run(world, cid, "dispatch", at("2026-03-02 09:30"))
    assert st["stage"] == "sign"
    st = run(world, cid, "sign", at("2026-03-02 10:00"))
    assert st["stage"] == "dispose"  # 暴露垃圾: 4 working hours → 15:30 (lunch 11:30–13:00 excluded)
    assert dt.datetime.fromisoformat(st["stage_deadline"]).astimezone(SH) == at("2026-03-02 15:30")
    with unit_of_work(world) as s:
        cal = calendar.calendar_for(s)
        case = queries.get(s, cid, everyone(world))
        assert sla.status(case, cal, at("2026-03-02 11:00"))["light"] == "green"   # 1 h of 4
        assert sla.status(case, cal, at("2026-03-02 14:30"))["light"] == "green"  # 3 h of 4: 75 %
        assert sla.status(case, cal, at("2026-03-02 14:45"))["light"] == "yellow"  # 81 %
        assert sla.status(case, cal, at("2026-03-02 16:00"))["light"] == "red"
    st = run(world, cid, "suspend", at("2026-03-02 11:00"))  # 3 working hours left
    assert st["paused"] and st["used"] == pytest.approx(0.25)
    st = run(world, cid, "resume", at("2026-03-04 09:00"))  # two days later: the clock did not run
    assert dt.datetime.fromisoformat(st["stage_deadline"]).astimezone(SH) == at("2026-03-04 13:30")
    assert st["light"] == "green"


def test_sweep_escalates_each_overdue_stage_once(world):
    t0 = at("2026-03-02 09:00")
    ids = [new_case(world, t0) for _ in range(3)]
    for cid in ids:
        run(world, cid, "accept", t0)
        run(world, cid, "file", t0)
    run(world, ids[2], "dispatch", at("2026-03-02 09:10"))  # dispatched in time; sign stage runs to 10:10
    with unit_of_work(world) as s:
        assert sla.sweep(s, at("2026-03-02 09:59")) == []
    with unit_of_work(world) as s:
        assert sorted(sla.sweep(s, at("2026-03-02 10:05"))) == sorted(ids[:2])
    with unit_of_work(world) as s:
        assert sla.sweep(s, at("2026-03-02 10:06")) == []  # once per stage
        assert sla.sweep(s, at("2026-03-02 10:30")) == [ids[2]]  # its sign stage is now overdue
    with unit_of_work(world) as s:
        events = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "escalate"))
        notes = s.scalars(select(Notification).where(Notification.case_id == ids[0])).all()
    assert events == 3 and notes and notes[0].message is None  # stored as kind + details, worded on reading
    assert notes[0].kind == "overdue" and notes[0].details == {"stage": "dispatch", "level": 1}
    assert "超时" in notifications.text(notes[0].kind, notes[0].details, "X")
    # a new stage gets its own escalation, from the first level again (sign stage 10:40 → 13:10)
    run(world, ids[0], "dispatch", at("2026-03-02 10:40"))
    with unit_of_work(world) as s:
        assert sla.sweep(s, at("2026-03-02 11:04")) == []
        assert sla.sweep(s, at("2026-03-02 11:06")) == [ids[1]]  # still not dispatched a stage limit later
    with unit_of_work(world) as s:
        assert sorted(sla.sweep(s, at("2026-03-02 13:15"))) == sorted([ids[0], ids[2]])
        levels = dict(s.execute(select(Case.id, Case.escalation_level).where(Case.id.in_(ids))).all())
    assert levels == {ids[0]: 1, ids[1]: 2, ids[2]: 2}


def test_an_overdue_stage_goes_up_one_level_each_stage_limit(world):
    """督办 climbs the chain: the squad and its department, then the department and the town's sub-centre,
    then the sub-centre and the command centre; never further, and each level exactly once."""
    from liandong.units.models import Unit

    t0 = at("2026-03-02 09:00")
    cid = new_case(world, t0)
    for action in ("accept", "file", "dispatch"):
        run(world, cid, action, t0)  # sign stage: 1 working hour, to 10:00
    with unit_of_work(world) as s:
        code = dict(s.execute(select(Unit.id, Unit.code)).all())
    told = []
    for when in ("2026-03-02 10:01", "2026-03-02 11:02", "2026-03-02 13:33", "2026-03-03 09:00"):
        with unit_of_work(world) as s:
            assert sla.sweep(s, at(when)) == [cid]
            assert sla.sweep(s, at(when)) == []  # once per level
            notes = s.scalars(select(Notification).where(Notification.case_id == cid,
                                                         Notification.created_at == at(when))).all()
            told.append(sorted(code[n.unit_id] for n in notes))
            assert {(n.details["stage"], n.details["level"]) for n in notes} == {("sign", len(told))}
        if len(told) == 3:
            break
    assert told == [sorted(["B-cm-319901001", "D-cm"]), sorted(["D-cm", "S-319901001"]),
                    sorted(["S-319901001", "C"])]
    with unit_of_work(world) as s:
        assert sla.sweep(s, at("2026-03-05 09:00")) == []  # the top level was reached
        levels = [e.payload["level"] for e in s.scalars(select(CaseEvent).where(
            CaseEvent.case_id == cid, CaseEvent.action == "escalate").order_by(CaseEvent.seq))]
        assert levels == [1, 2, 3]
    st = run(world, cid, "sign", at("2026-03-05 09:30"))  # the next stage starts from the bottom
    assert st["level"] == 0 and st["escalations"] == 3


def test_the_whole_case_clock_pauses_extends_lights_and_is_swept_once(world):
    """The case deadline (sum of the stage limits at filing) stands still while suspended, grows with an approved
    extension, has its own light, and an overdue case is flagged once."""
    t0 = at("2026-03-02 09:00")
    cid = new_case(world, t0)
    run(world, cid, "accept", t0)
    st = run(world, cid, "file", t0)  # 1 + 1 + 4 + 4 working hours = 10 h: 7.5 on Monday, Tue 11:30
    assert dt.datetime.fromisoformat(st["case_deadline"]).astimezone(SH) == at("2026-03-03 11:30")
    assert st["case_light"] == "green" and st["case_used"] == 0
    run(world, cid, "dispatch", t0)
    run(world, cid, "sign", t0)
    run(world, cid, "suspend", at("2026-03-02 10:00"))
    st = run(world, cid, "resume", at("2026-03-03 10:00"))  # a working day (7.5 h) suspended
    assert dt.datetime.fromisoformat(st["case_deadline"]).astimezone(SH) == at("2026-03-04 11:30")
    run(world, cid, "request_extension", at("2026-03-03 11:00"), amount=1, unit="day", reason="等配件")
    st = run(world, cid, "approve_extension", at("2026-03-03 11:00"))  # no pause: + 1 working day
    assert dt.datetime.fromisoformat(st["case_deadline"]).astimezone(SH) == at("2026-03-05 11:30")
    with unit_of_work(world) as s:
        case = s.get(Case, cid)
        cal = calendar.calendar_for(s)
        late = sla.status(case, cal, at("2026-03-05 13:30"))
        assert late["case_light"] == "red" and late["case_overdue"]
        assert sla.status(case, cal, at("2026-03-05 08:50"))["case_light"] == "yellow"  # 2.5 of 17.5 h left
        assert sla.status(case, cal, at("2026-03-04 09:00"))["case_light"] == "green"
        sla.sweep(s, at("2026-03-05 13:30"))
        sla.sweep(s, at("2026-03-05 14:00"))
        flagged = s.scalars(select(CaseEvent).where(CaseEvent.case_id == cid,
                                                    CaseEvent.action == "case_overdue")).all()
        notes = s.scalars(select(Notification).where(Notification.case_id == cid,
                                                     Notification.kind == "case_overdue")).all()
    assert len(flagged) == 1 and {n.unit_id for n in notes}


def test_two_processes_escalate_exactly_once(world):
    """Several sweepers on one database: every overdue case is escalated by exactly one of them."""
    if world.startswith("sqlite"):
        pytest.skip("the two-process race is the PostgreSQL deployment's; SQLite serialises writers anyway")
    t0 = at("2026-03-02 09:00")
    ids = [new_case(world, t0) for _ in range(30)]
    for cid in ids:
        run(world, cid, "accept", t0)
        run(world, cid, "file", t0)
    cli = str(Path(sys.executable).with_name("liandong"))
    env = {**os.environ, "LIANDONG_DATABASE_URL": world}
    # force the overlap: hold every overdue row locked until both sweepers have chosen their work and wait on
    # the same first claim; then both race for every case
    from sqlalchemy import create_engine, text

    engine = create_engine(world)
    with engine.connect() as holder:
        holder.execute(text("SELECT id FROM cases WHERE id = ANY(:ids) FOR UPDATE"), {"ids": ids})
        procs = [subprocess.Popen([cli, "sweep"], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        waiting = 0
        for _ in range(600):
            with engine.connect() as probe:
                waiting = probe.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                            "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE cases%'"))
            if waiting == 2:
                break
            time.sleep(0.1)
        holder.rollback()
    engine.dispose()
    assert waiting == 2, "both sweepers should have been waiting on the same claim"
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    import json

    claimed = [cid for out in outs for cid in json.loads(out.strip().splitlines()[-1])["case_ids"]]
    assert sorted(claimed) == sorted(ids)  # each case by exactly one process
    with unit_of_work(world) as s:
        per_case = dict(s.execute(select(CaseEvent.case_id, func.count()).where(CaseEvent.action == "escalate")
                                  .group_by(CaseEvent.case_id)).all())
    assert per_case == dict.fromkeys(ids, 1)


def test_extension_pauses_then_extends_and_urging_notifies(world):
    t0 = at("2026-03-02 09:00")
    cid = new_case(world, t0)
    for action in ("accept", "file", "dispatch", "sign"):
        st = run(world, cid, action, t0)
    assert dt.datetime.fromisoformat(st["stage_deadline"]).astimezone(SH) == at("2026-03-02 14:30")  # 4 h
    with pytest.raises(Invalid):
        run(world, cid, "request_extension", at("2026-03-02 10:00"), amount=-1, unit="hour", reason="x")
    st = run(world, cid, "request_extension", at("2026-03-02 10:00"), amount=1, unit="day", reason="需要吊车")
    assert st["paused"]  # 3 working hours were left when the request went in
    from liandong.errors import Conflict

    with pytest.raises(Conflict, match="already waiting"):
        run(world, cid, "request_extension", at("2026-03-02 10:05"), amount=1, unit="day", reason="again")
    st = run(world, cid, "approve_extension", at("2026-03-03 09:00"))  # decided next morning
    # 3 h left + 1 working day (7.5 h) = 10.5 h from Tue 09:00: 7 h on Tuesday, 3 h Wednesday morning, 0.5 h after lunch
    assert dt.datetime.fromisoformat(st["stage_deadline"]).astimezone(SH) == at("2026-03-04 13:30")
    with pytest.raises(Conflict, match="no extension request"):
        run(world, cid, "reject_extension", at("2026-03-03 09:10"))
    leader = Identity(roles=frozenset({"leader"}), unit_id=None)
    with unit_of_work(world) as s:
        actions.act(s, GridIndex.build(s), cid, "urge", leader, {"note": "尽快处理"}, now=at("2026-03-03 10:00"))
    with unit_of_work(world) as s:
        done = list(s.scalars(select(CaseEvent.action).where(CaseEvent.case_id == cid).order_by(CaseEvent.seq)))
        urged = s.scalars(select(Notification).where(Notification.case_id == cid, Notification.kind == "urge")).all()
    assert done[-3:] == ["request_extension", "approve_extension", "urge"] and urged
    assert urged[0].details == {"note": "尽快处理"} and "尽快处理" in notifications.text("urge", urged[0].details, "X")


def test_an_extension_still_pending_when_the_stage_ends_lapses(world):
    """A request left undecided must not freeze the next stage's clock (nor block the next request)."""
    t0 = at("2026-03-02 09:00")
    cid = new_case(world, t0)
    for action in ("accept", "file", "dispatch", "sign"):
        run(world, cid, action, t0)
    assert run(world, cid, "request_extension", at("2026-03-02 10:00"), amount=1, unit="day", reason="吊车")["paused"]
    st = run(world, cid, "report_done", at("2026-03-02 11:00"), note="已清运")
    assert not st["paused"] and st["stage"] == "check" and st["stage_deadline"]
    with unit_of_work(world) as s:
        assert s.scalar(select(Extension.status).where(Extension.case_id == cid)) == "lapsed"
        assert cid in sla.sweep(s, at("2026-03-20 09:00"))  # the check stage's clock ran and ran out


def test_light_and_overdue_filters(world):
    t0 = at("2026-03-02 09:00")
    late, fresh = new_case(world, t0), new_case(world, t0)
    for cid, when in ((late, t0), (fresh, at("2026-03-02 10:50"))):
        run(world, cid, "accept", when)
        run(world, cid, "file", when)  # dispatch stage: 1 working hour
    now = at("2026-03-02 11:00")
    with unit_of_work(world) as s:
        cal = calendar.calendar_for(s)
        actor = everyone(world)
        red, _ = queries.list_cases(s, actor, queries.CaseQuery(light="red"), calendar=cal, now=now)
        green, _ = queries.list_cases(s, actor, queries.CaseQuery(light="green"), calendar=cal, now=now)
        overdue, n = queries.list_cases(s, actor, queries.CaseQuery(overdue=True), now=now)
    assert [c.id for c in red] == [late] and [c.id for c in green] == [fresh]
    assert [c.id for c in overdue] == [late] and n == 1


def test_calendar_api_edits_days_for_every_process_reading_it(world):
    from fastapi.testclient import TestClient

    from liandong.app import create_app
    from liandong.config import Settings
    from tests.conftest import login
    from tests.factories import PASSWORD

    app = create_app(Settings(database_url=world))
    client = TestClient(app)
    admin, disp = login(client, "admin", PASSWORD), login(client, "dispatcher", PASSWORD)
    year = client.get("/api/v1/calendar/2026", headers=disp).json()
    assert year["known"] is True and year["source"] == "chinesecalendar"
    assert any(d["day"] == "2026-02-14" and d["workday"] for d in year["days"])  # Spring Festival 调休
    assert client.get("/api/v1/calendar/2035", headers=disp).json() == {"year": 2035, "known": False,
                                                                         "source": None, "days": []}
    day = {"workday": False, "name": "防汛停工"}
    assert client.put("/api/v1/calendar/days/2035-06-05", json=day, headers=disp).status_code == 403
    with app.state.sessionmaker() as s:
        assert app.state.calendar.get(s).is_workday(dt.date(2035, 6, 5))  # a Tuesday, loaded and cached
    r = client.put("/api/v1/calendar/days/2035-06-05", json=day, headers=admin)
    assert r.status_code == 200 and r.json() == {"day": "2035-06-05", "workday": False, "name": "防汛停工"}
    with app.state.sessionmaker() as s:
        assert not app.state.calendar.get(s).is_workday(dt.date(2035, 6, 5))  # this process forgot its copy
    # another process's cache (one of its own, checking the revision at every use) sees the edit too
    from liandong.cases.calendar import CalendarCache

    other = CalendarCache(app.state.settings.work_hours, app.state.settings.timezone, ttl=0)
    with app.state.sessionmaker() as s:
        assert not other.get(s).is_workday(dt.date(2035, 6, 5))
        assert other.get(s).is_workday(dt.date(2035, 6, 12))
    assert client.put("/api/v1/calendar/days/2035-06-12", json=day, headers=admin).status_code == 200
    with app.state.sessionmaker() as s:
        assert not other.get(s).is_workday(dt.date(2035, 6, 12))  # reloaded: the revision moved
    assert client.get("/api/v1/calendar/2035", headers=disp).json()["known"] is False  # one day: not the year
    assert client.put("/api/v1/calendar/days/1999-01-01", json=day, headers=admin).status_code == 422
    assert client.put("/api/v1/calendar/days/2035-13-01", json=day, headers=admin).status_code == 422
    assert client.delete("/api/v1/calendar/days/2035-06-05", headers=admin).status_code == 204
    with app.state.sessionmaker() as s:
        assert other.get(s).is_workday(dt.date(2035, 6, 5))  # a cleared day reaches it as well
    assert client.delete("/api/v1/calendar/days/2035-06-05", headers=admin).status_code == 404
    log = client.get("/api/v1/audit", params={"action": "calendar_day_set"}, headers=admin).json()
    assert [(e["target"], e["actor"]) for e in log[:2]] == [("day:2035-06-12", "admin"), ("day:2035-06-05", "admin")]


def test_an_administrator_enters_a_year_then_marks_it_complete(world):
    from tests.conftest import login, make_client
    from tests.factories import PASSWORD

    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    r = client.put("/api/v1/calendar/days/2031-01-01", json={"workday": False, "name": "元旦"}, headers=admin)
    assert r.status_code == 200
    assert client.get("/api/v1/calendar/2031", headers=admin).json()["known"] is False
    disp = login(client, "dispatcher", PASSWORD)
    assert client.put("/api/v1/calendar/2031/complete", headers=disp).status_code == 403
    r = client.put("/api/v1/calendar/2031/complete", headers=admin)
    assert r.status_code == 200 and r.json()["known"] is True and "admin" in r.json()["source"]
    assert client.get("/api/v1/calendar/2031", headers=admin).json()["known"] is True
    assert client.delete("/api/v1/calendar/2031/complete", headers=admin).json()["known"] is False
    assert client.put("/api/v1/calendar/1999/complete", headers=admin).status_code == 422


def test_resuming_while_an_extension_waits_keeps_the_clocks_paused(world):
    t0 = at("2026-03-02 09:00")
    cid = new_case(world, t0)
    for action in ("accept", "file", "dispatch", "sign"):
        run(world, cid, action, t0)
    run(world, cid, "request_extension", at("2026-03-02 10:00"), amount=1, unit="day", reason="等配件")
    run(world, cid, "suspend", at("2026-03-02 10:30"))
    st = run(world, cid, "resume", at("2026-03-02 11:00"))
    assert st["paused"]  # the request still waits: no clock runs, nothing to escalate
    with unit_of_work(world) as s:
        assert sla.sweep(s, at("2026-03-03 15:00")) == []
    st = run(world, cid, "approve_extension", at("2026-03-04 09:00"))
    # 3 working hours were left at the request, + 1 working day from the decision
    assert not st["paused"] and dt.datetime.fromisoformat(st["stage_deadline"]).astimezone(SH) == at(
        "2026-03-05 13:30")


def test_an_extension_too_short_to_end_an_overrun_does_not_raise_it_again(world):
    t0 = at("2026-03-02 09:00")
    cid = new_case(world, t0)
    for action in ("accept", "file", "dispatch", "sign"):
        run(world, cid, action, t0)  # dispose: 4 working hours, to 13:30; the case: to Tue 11:30
    with unit_of_work(world) as s:
        assert sla.sweep(s, at("2026-03-03 14:00")) == [cid]  # stage level 1, case overdue
    run(world, cid, "request_extension", at("2026-03-03 14:00"), amount=1, unit="hour", reason="再等一小时")
    st = run(world, cid, "approve_extension", at("2026-03-03 14:00"))
    with unit_of_work(world) as s:
        sla.sweep(s, at("2026-03-03 15:30"))
        flagged = s.scalar(select(func.count()).select_from(CaseEvent).where(
            CaseEvent.case_id == cid, CaseEvent.action == "case_overdue"))
        levels = [e.payload["level"] for e in s.scalars(select(CaseEvent).where(
            CaseEvent.case_id == cid, CaseEvent.action == "escalate").order_by(CaseEvent.seq))]
    assert st["case_overdue"] and flagged == 1  # the case deadline (now Tue 12:30) is still behind: flagged once
    assert levels == [1, 1]  # the stage's new deadline (15:00) was in the future, then missed: a new overrun


def test_imported_history_is_not_swept(world):
    """Cases from another city's 311 file carry that city's target date but were never filed here."""
    from liandong.cases.models import Case as CaseRow

    with unit_of_work(world) as s:
        cid = new_case(world, at("2026-03-02 09:00"))
        s.execute(update(CaseRow).where(CaseRow.id == cid).values(case_deadline=at("2026-03-03 09:00")))
    with unit_of_work(world) as s:
        sla.sweep(s, at("2026-04-01 09:00"))
        assert not s.scalars(select(CaseEvent).where(CaseEvent.action == "case_overdue")).all()


def test_seeding_keeps_the_days_an_administrator_entered(db_url):
    with unit_of_work(db_url) as s:
        set_day(s, dt.date(2026, 10, 5), True, "本区防汛值班")  # a National Day holiday, worked here, entered first
        mark_year(s, 2025, True)
    with unit_of_work(db_url) as s:
        result = seed_from_chinesecalendar(s)
    assert 2026 in result["years"] and 2025 not in result["years"]
    with unit_of_work(db_url) as s:
        cal = WorkCalendar.load(s, HOURS, "Asia/Shanghai")
    assert cal.is_workday(dt.date(2026, 10, 5)) and not cal.is_workday(dt.date(2026, 10, 6))
    assert 2026 in cal.years


def test_seeded_days_carry_the_chinese_holiday_names(db_url):
    """The pages are Chinese first: chinesecalendar's English names (New Year's Day) are not what is stored."""
    from liandong.cases.models import CalendarDay

    with unit_of_work(db_url) as s:
        seed_from_chinesecalendar(s)
    with unit_of_work(db_url) as s:
        names = dict(s.execute(select(CalendarDay.day, CalendarDay.name).where(
            CalendarDay.day.in_([dt.date(2026, 1, 1), dt.date(2026, 2, 14), dt.date(2015, 9, 3)]))).all())
        english = s.scalar(select(func.count()).select_from(CalendarDay).where(CalendarDay.name.like("%Day%")))
    assert names == {dt.date(2026, 1, 1): "元旦", dt.date(2026, 2, 14): "春节（调休）",
                     dt.date(2015, 9, 3): "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日"}
    assert english == 0
