"""The screening registers' batch form (``screening/register_batch.py``, the simulated year's day): the same rows and
logs as one action at a time, the same refusals (sight, state), a row changed meanwhile failing the flush with nothing
left behind, and a day's numbers counted on from what is stored. Both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from liandong.areas.index import GridIndex
from liandong.auth.models import User
from liandong.auth.service import create_user, identity_of
from liandong.db import unit_of_work
from liandong.errors import Conflict, NotFound
from liandong.screening import dispute_actions, disputes, hazard_actions, hazards
from liandong.screening.dispute_models import Dispute, DisputeEvent
from liandong.screening.dispute_payloads import DisputeIn
from liandong.screening.hazard_models import Hazard, HazardEvent
from liandong.screening.hazard_payloads import HazardIn
from liandong.screening.register_batch import Batch
from liandong.units.models import Unit
from tests.caseworld import WEST_POINT
from tests.factories import EAST, PASSWORD, WEST

DAY1 = dt.datetime(2026, 7, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai
USERS = (("rb_leader", "C", ["shift_leader"]), ("rb_leader2", "C", ["shift_leader"]),
         ("rb_inspector", f"S-{WEST}", ["inspector"]), ("rb_east", f"S-{EAST}", ["dispatcher", "inspector"]))
FIVE = {"measures": "清理堆物", "responsibility": "物业经理", "funds": "维修基金", "deadline": "2026-07-30",
        "contingency_plan": "疏散预案"}


@pytest.fixture(scope="module")
def world(case_world):
    with unit_of_work(case_world) as s:
        for username, unit, roles in USERS:
            create_user(s, username=username, password=PASSWORD, unit_code=unit, roles=roles)
    return case_world


def people(s) -> dict:
    return {u.username: identity_of(s, u) for u in s.scalars(select(User).where(User.username.like("rb_%")))}


def hazard_in(major: bool) -> HazardIn:
    return HazardIn(title="楼道堆物", sector="fire", grade="major" if major else "general", lon=WEST_POINT[0],
                    lat=WEST_POINT[1], reporter={"kind": "public", "name": "市民", "phone": "13800000000",
                                                 "reward": True})


def dispute_in() -> DisputeIn:
    return DisputeIn(title="邻里噪音", type="neighbour", parties=[{"name": "甲"}, {"name": "乙"}], lon=WEST_POINT[0],
                     lat=WEST_POINT[1])


def play(s, index, who, now, batch):
    """A day's work: two hazards (one major, rewarded and paid), one rejected, a dispute mediated and resolved."""
    at = iter(now + dt.timedelta(minutes=10 * k) for k in range(100))
    h1 = hazards.open_hazard(s, index, who["rb_inspector"], hazard_in(True), next(at), batch)
    h2 = hazards.open_hazard(s, index, who["rb_inspector"], hazard_in(False), next(at), batch)
    d1 = disputes.open_dispute(s, index, who["rb_inspector"], dispute_in(), next(at), batch)
    steps = [(hazard_actions, h1.id, "file", "rb_leader", FIVE), (hazard_actions, h2.id, "reject", "rb_leader",
                                                                   {"reason": "不构成隐患"}),
             (dispute_actions, d1.id, "assign", "rb_inspector", {"mediator": "调解员"}),
             (hazard_actions, h1.id, "rectify", "rb_inspector", {"evidence": ["a.jpg"]}),
             (dispute_actions, d1.id, "mediate", "rb_inspector", {"note": "调解"}),
             (hazard_actions, h1.id, "close", "rb_inspector", {"evidence": ["b.jpg"]}),
             (hazard_actions, h1.id, "reward", "rb_leader", {"amount": 200}),
             (hazard_actions, h1.id, "pay_reward", "rb_leader2", {}),
             (dispute_actions, d1.id, "resolve", "rb_inspector", {"outcome": "success"})]
    for register, row_id, action, user, payload in steps:
        register.act(s, row_id, action, who[user], payload, next(at), batch=batch)
    return h1.id, h2.id, d1.id


def story(s, ids) -> list:
    """The rows and their logs, as a reader compares them (a number without its day, times as offsets)."""
    h1, h2, d1 = ids
    rows = [s.get(Hazard, h1), s.get(Hazard, h2), s.get(Dispute, d1)]
    start = rows[0].created_at
    out = []
    for row, events, column in ((rows[0], HazardEvent, HazardEvent.hazard_id),
                                (rows[1], HazardEvent, HazardEvent.hazard_id),
                                (rows[2], DisputeEvent, DisputeEvent.dispute_id)):
        log = [(e.seq, e.action, e.from_state, e.to_state, e.actor, e.at - start, e.payload)
               for e in s.scalars(select(events).where(column == row.id).order_by(events.seq))]
        extra = (row.grade, row.reward_amount, row.reward_paid, row.measures, row.closed_at - start
                 if row.closed_at else None) if isinstance(row, Hazard) else (row.mediator, row.outcome)
        out.append((row.number.rsplit("-", 1)[1], row.state, row.version, row.updated_at - start, extra, log))
    return out


def test_a_batch_writes_the_rows_and_logs_one_action_at_a_time_writes(world):
    """The same day played action by action (each its own transaction, as the API does) and in one batch: the same
    states, fields, numbers within the day and logs; each row's version moves once in the batch."""
    with unit_of_work(world) as s:
        who, index = people(s), GridIndex.build(s)
    with unit_of_work(world) as s:
        ids_single = play(s, index, who, DAY1, None)
    with unit_of_work(world) as s, Batch(s) as batch:
        ids_batch = play(s, index, who, DAY1 + dt.timedelta(days=1), batch)
    with unit_of_work(world) as s:
        single, batched = story(s, ids_single), story(s, ids_batch)
    assert [r[:2] + r[3:] for r in single] == [r[:2] + r[3:] for r in batched]
    assert [r[2] for r in batched] == [2, 2, 2]  # inserted as 1, written once at the flush
    assert [r[2] for r in single] == [11, 3, 7]  # alone, each action claims the version, then writes the row
    assert [r[0] for r in batched] == ["0001", "0002", "0001"]
    assert [len(r[-1]) for r in batched] == [6, 2, 4]


def test_a_batch_refuses_what_a_single_action_refuses(world):
    """A row out of the caller's sight is not found, an action in the wrong state is not allowed: the same codes."""
    with unit_of_work(world) as s:
        who, index = people(s), GridIndex.build(s)
        h = hazards.open_hazard(s, index, who["rb_inspector"], hazard_in(False), DAY1 + dt.timedelta(days=3))
        hid = h.id
    for batch_on in (False, True):
        with unit_of_work(world) as s:
            batch = Batch(s) if batch_on else None
            with pytest.raises(NotFound) as seen:
                hazard_actions.act(s, hid, "file", who["rb_east"], {}, DAY1, batch=batch)
            assert (seen.value.code, seen.value.params) == ("hazard_not_found", {"hazard_id": hid})
            with pytest.raises(Conflict) as state:
                hazard_actions.act(s, hid, "close", who["rb_inspector"], {"evidence": ["x.jpg"]}, DAY1, batch=batch)
            assert state.value.code == "not_allowed_in_state"
            s.rollback()


def test_a_batch_numbers_the_events_of_stored_rows_on_from_their_logs(world):
    """Rows opened earlier, with events stored, acted on in a batch — one read up front, one found by the way: their
    events are numbered after their stored ones."""
    day = DAY1 + dt.timedelta(days=9)
    with unit_of_work(world) as s:
        who, index = people(s), GridIndex.build(s)
        first = hazards.open_hazard(s, index, who["rb_inspector"], hazard_in(False), day).id
        second = hazards.open_hazard(s, index, who["rb_inspector"], hazard_in(False), day).id
        hazard_actions.act(s, second, "file", who["rb_leader"], {}, day)
    with unit_of_work(world) as s, Batch(s) as batch:
        batch.load(hazards.SPEC, [first])
        for hid in (first, second):
            if hid == first:
                hazard_actions.act(s, hid, "file", who["rb_leader"], {}, day, batch=batch)
            hazard_actions.act(s, hid, "rectify", who["rb_inspector"], {"evidence": ["a.jpg"]}, day, batch=batch)
            hazard_actions.act(s, hid, "rectify", who["rb_inspector"], {"evidence": ["b.jpg"]}, day, batch=batch)
    with unit_of_work(world) as s:
        logs = {hid: [(e.seq, e.action) for e in s.scalars(select(HazardEvent).where(HazardEvent.hazard_id == hid)
                                                            .order_by(HazardEvent.seq))] for hid in (first, second)}
    assert logs == {first: [(1, "report"), (2, "file"), (3, "rectify"), (4, "rectify")],
                    second: [(1, "report"), (2, "file"), (3, "rectify"), (4, "rectify")]}


def test_a_batch_sees_a_hazard_through_its_responsible_unit_and_a_dispute_only_through_its_area(world):
    """The predicate the batch decides sight with is the SQL filter's twin: a hazard in the west with an eastern
    responsible unit is the east's to see (and act on), a western dispute is not."""
    day = DAY1 + dt.timedelta(days=11)
    with unit_of_work(world) as s:
        who, index = people(s), GridIndex.build(s)
        east_unit = s.scalar(select(Unit.id).where(Unit.code == f"S-{EAST}"))
        hid = hazards.open_hazard(s, index, who["rb_leader"], HazardIn(**{**hazard_in(False).model_dump(),
                                                                          "responsible_unit_id": east_unit}), day).id
        other = hazards.open_hazard(s, index, who["rb_leader"], hazard_in(False), day).id
        did = disputes.open_dispute(s, index, who["rb_inspector"], dispute_in(), day).id
    with unit_of_work(world) as s:
        alone = {hid: hazards.get(s, hid, who["rb_east"]).id}
        for row_id, get in ((other, hazards.get), (did, disputes.get)):
            with pytest.raises(NotFound):
                get(s, row_id, who["rb_east"])
    with unit_of_work(world) as s, Batch(s) as batch:
        assert batch.row(hazard_actions.REGISTER, hid, who["rb_east"]).id == alone[hid]
        for register, row_id, code in ((hazard_actions.REGISTER, other, "hazard_not_found"),
                                       (dispute_actions.REGISTER, did, "dispute_not_found")):
            with pytest.raises(NotFound) as refused:
                batch.row(register, row_id, who["rb_east"])
            assert refused.value.code == code
        hazard_actions.act(s, hid, "file", who["rb_east"], {}, day, batch=batch)
    with unit_of_work(world) as s:
        assert s.get(Hazard, hid).state == "filed"


def test_an_action_that_changes_nothing_still_claims_its_row_in_a_batch(world):
    """A second ``rectify`` changes no column but the time; at the same moment as the row's last change it changes
    nothing at all — the batch still claims the row, so a close by another desk meanwhile fails its flush."""
    day = DAY1 + dt.timedelta(days=13)
    with unit_of_work(world) as s:
        who, index = people(s), GridIndex.build(s)
        hid = hazards.open_hazard(s, index, who["rb_inspector"], hazard_in(False), day).id
        hazard_actions.act(s, hid, "file", who["rb_leader"], {}, day)
        hazard_actions.act(s, hid, "rectify", who["rb_inspector"], {}, day)
    with pytest.raises(StaleDataError), unit_of_work(world) as s, Batch(s) as batch:
        hazard_actions.act(s, hid, "rectify", who["rb_inspector"], {}, day, batch=batch)
        with unit_of_work(world) as other:
            hazard_actions.act(other, hid, "close", who["rb_inspector"], {"evidence": ["c.jpg"]}, day)
    with unit_of_work(world) as s:
        assert list(s.scalars(select(HazardEvent.action).where(HazardEvent.hazard_id == hid)
                              .order_by(HazardEvent.seq))) == ["report", "file", "rectify", "close"]


def test_a_row_inserted_for_the_batch_is_stored_as_the_unit_of_work_would_store_it(world):
    """``db.insert_stored``: every column filled (the defaults, version 1), and nothing left for the next flush to
    write or load of it (the audit entry of its opening goes in then)."""
    from sqlalchemy import event

    day = DAY1 + dt.timedelta(days=15)
    with unit_of_work(world) as s:
        who, index = people(s), GridIndex.build(s)
    with unit_of_work(world) as s, Batch(s) as batch:
        h = hazards.open_hazard(s, index, who["rb_inspector"], hazard_in(False), day, batch)
        statements = []
        engine = s.get_bind()
        listener = lambda *a: statements.append(a[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            seen = {c.key: getattr(h, c.key) for c in Hazard.__table__.columns}
            s.flush()
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert [st for st in statements if "hazards" in st] == [] and h in s and not s.is_modified(h)
    assert (seen["version"], seen["reward_paid"], seen["case_id"], seen["closed_at"]) == (1, False, None, None)
    with unit_of_work(world) as s:
        row = s.get(Hazard, h.id)
        assert {c.key: getattr(row, c.key) for c in Hazard.__table__.columns} == seen


def test_a_row_changed_meanwhile_fails_the_batch_flush_and_leaves_nothing(world):
    """Another transaction files the hazard while the batch works on it: the batch's flush fails (StaleDataError),
    and neither its changes nor the hazard it opened remain."""
    day = DAY1 + dt.timedelta(days=5)
    with unit_of_work(world) as s:
        who, index = people(s), GridIndex.build(s)
        hid = hazards.open_hazard(s, index, who["rb_inspector"], hazard_in(False), day).id
    with pytest.raises(StaleDataError), unit_of_work(world) as s, Batch(s) as batch:
        batch.load(hazards.SPEC, [hid])
        hazard_actions.act(s, hid, "reject", who["rb_leader"], {"reason": "重复"}, day, batch=batch)
        with unit_of_work(world) as other:  # another desk files it first (the batch has written nothing yet)
            hazard_actions.act(other, hid, "file", who["rb_leader"], {}, day)
        new = hazards.open_hazard(s, index, who["rb_inspector"], hazard_in(False), day, batch)
        assert new.number.endswith("-0002") and new in s
    with unit_of_work(world) as s:
        assert s.get(Hazard, hid).state == "filed"
        assert list(s.scalars(select(HazardEvent.action).where(HazardEvent.hazard_id == hid)
                              .order_by(HazardEvent.seq))) == ["report", "file"]
        numbers = list(s.scalars(select(Hazard.number).where(Hazard.number.like(f"YH-{day:%Y%m%d}-%"))))
        assert numbers == [f"YH-{day:%Y%m%d}-0001"]


def test_a_batch_numbers_a_day_on_from_what_is_stored(world):
    """The batch reads a day's count once and numbers on from it, each new row with its one report event."""
    day = DAY1 + dt.timedelta(days=7)
    with unit_of_work(world) as s:
        who, index = people(s), GridIndex.build(s)
        hazards.open_hazard(s, index, who["rb_inspector"], hazard_in(False), day)
    with unit_of_work(world) as s, Batch(s) as batch:
        made = [hazards.open_hazard(s, index, who["rb_inspector"], hazard_in(False), day, batch) for _ in range(3)]
        assert batch.numbers == {f"YH-{day:%Y%m%d}-": 4}
    assert [h.number[-4:] for h in made] == ["0002", "0003", "0004"]
    with unit_of_work(world) as s:
        stored = list(s.scalars(select(Hazard.number).where(Hazard.number.like(f"YH-{day:%Y%m%d}-%"))
                                .order_by(Hazard.number)))
        assert [n[-4:] for n in stored] == ["0001", "0002", "0003", "0004"]
        logs = [list(s.scalars(select(HazardEvent.action).where(HazardEvent.hazard_id == h.id))) for h in made]
        assert logs == [["report"]] * 3
