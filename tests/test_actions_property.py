"""What a case offers is what the service takes: over random case histories, at every step, each action
``allowed_for`` lists for a caller is accepted with a valid payload, and each action it does not list is
refused with a code the pages translate, leaving the case, its events, its units' parts and its extension
requests as they were. Also the rating rules (once; a merged report once its master is closed), payload
refusals that name the field, and stale refusals that list what the caller's roles allow.

Histories are drawn by hypothesis, derandomised so CI replays the same ones, on both backends.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import actions, intake, queries
from liandong.cases.models import Case, CaseEvent, CaseUnit, Extension, Notification
from liandong.db import unit_of_work
from liandong.errors import Conflict, DomainError, NotFound
from liandong.units.models import Unit
from liandong.web import reasons
from tests.caseworld import MATTER, WEST_POINT
from tests.conftest import login, make_client
from tests.factories import EAST, PASSWORD, WEST

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # a Monday, 09:00 in Shanghai
TEXT = {"reject": {"reason": "不属实"}, "return": {"reason": "非本单位职责"}, "void": {"reason": "重复"},
        "report_done": {"note": "已处理"}, "check_failed": {"note": "未整改到位"},
        "close_self_handled": {"note": "现场已处理"}, "rate": {"satisfaction": "satisfied"},
        "request_extension": {"amount": 1, "unit": "hour", "reason": "等材料"}, "urge": {"note": "尽快"}}
ENDINGS = frozenset({"reject", "void", "merge", "close_self_handled"})
FORWARD = {"reported": ("accept",), "accepted": ("file",), "verifying": ("verified",), "filed": ("dispatch",),
           "dispatched": ("sign",), "in_progress": ("report_done",), "returned": ("redispatch",),
           "suspended": ("resume",), "disposed": ("request_check",), "checking": ("check_passed", "check_failed"),
           "checked": ("close",), "closed": ("rate",), "merged": ("rate",)}
"""The way on to closing and rating, which the drawn histories take more often than not."""
UNITS = (f"B-cm-{WEST}", f"B-cm-{EAST}", f"S-{WEST}", f"W-{WEST}001")
"""Where cases are dispatched: two department squads, the west sub-centre and a workstation it heads."""


@pytest.fixture(scope="module")
def world(case_world):
    with unit_of_work(case_world) as s:
        units = dict(s.execute(select(Unit.code, Unit.id)).all())
    centre = units["C"]
    callers = {role: Identity(roles=frozenset({role}), unit_id=centre, username=role)
               for role in ("receptionist", "shift_leader", "dispatcher", "inspector", "leader")}
    callers["citizen"] = Identity(roles=frozenset({"citizen"}), username="citizen")
    callers["west_squad"] = Identity(roles=frozenset({"handler"}), unit_id=units[UNITS[0]], assigned_only=True)
    callers["east_squad"] = Identity(roles=frozenset({"handler"}), unit_id=units[UNITS[1]], assigned_only=True)
    callers["west_centre"] = Identity(roles=frozenset({"handler"}), unit_id=units[UNITS[2]])
    callers["workstation"] = Identity(roles=frozenset({"handler", "inspector"}), unit_id=units[UNITS[3]])
    return case_world, callers, [units[c] for c in UNITS]


def _new_case(s, when: dt.datetime) -> int:
    reporter = Identity(roles=frozenset({"receptionist"}), username="desk")
    case, _ = intake.report(s, GridIndex.build(s), reporter, matter_code=MATTER, description="违章搭建",
                            lon=WEST_POINT[0], lat=WEST_POINT[1], channel="hotline", now=when)
    return case.id


def _state_of(s, case_id: int) -> tuple:
    """Everything an action may write about a case, read in the session's own transaction."""
    def rows(table, where):
        return sorted(tuple(map(str, r)) for r in s.execute(select(table).where(where)))

    return (rows(Case.__table__, Case.id == case_id),
            s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)),
            rows(CaseUnit.__table__, CaseUnit.case_id == case_id),
            rows(Extension.__table__, Extension.case_id == case_id),
            s.scalar(select(func.count()).select_from(Notification).where(Notification.case_id == case_id)))


def _payload(data, action: str, case: Case, others: list[Case], units: list[int]) -> dict:
    """A valid payload for ``action`` on ``case`` (hypothesis picks units, a master, whether to send the version)."""
    payload = dict(TEXT.get(action, {}))
    if action in ("dispatch", "redispatch"):
        lead = data.draw(st.sampled_from(units), label="lead")
        payload |= {"lead_unit_id": lead,
                    "assisting_unit_ids": data.draw(st.lists(st.sampled_from(units), max_size=2), label="assist")}
    if action == "merge":
        masters = [c.id for c in others if c.master_id is None and c.state not in ("rejected", "voided", "merged")]
        payload["master_id"] = data.draw(st.sampled_from(masters), label="master")
    if data.draw(st.booleans(), label="version"):
        payload["version"] = case.version
    return payload


@settings(max_examples=4, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_what_a_case_offers_is_what_the_service_takes(world, data):
    url, callers, units = world
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
        ids = [_new_case(s, T0) for _ in range(3)]  # two cases live a history; the third waits as a master
    ended: set[int] = set()
    for step in range(data.draw(st.integers(12, 24), label="steps")):
        now = T0 + dt.timedelta(minutes=20 * (step + 1))
        with unit_of_work(url) as s:
            live = [i for i in ids[:2] if i not in ended]
            if not live:
                break
            case_id = data.draw(st.sampled_from(live), label="case")
            case = s.get(Case, case_id)
            others = [s.get(Case, i) for i in ids if i != case_id]
            offered, refused = [], []
            for name, caller in callers.items():
                try:
                    queries.get(s, case_id, caller)
                    listed = actions.allowed_for(s, case, caller)
                except NotFound:
                    listed = []
                offered += [(name, a) for a in listed]
                refused += [(name, a) for a in actions.NAMES if a not in listed]
            for name, action in offered:  # each offered action is taken (and undone)
                payload = _payload(data, action, case, others, units)
                before = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id))
                with s.begin_nested() as sp:
                    taken = actions.act(s, index, case_id, action, callers[name], payload, now=now)
                    last = s.execute(select(CaseEvent.action, CaseEvent.seq, CaseEvent.to_state).where(
                        CaseEvent.case_id == case_id).order_by(CaseEvent.seq.desc()).limit(1)).one()
                    assert (last.action, last.seq) == (action, before + 1), (name, action)
                    assert taken.state == last.to_state
                    sp.rollback()
            for name, action in data.draw(st.lists(st.sampled_from(refused), max_size=4, unique=True),
                                          label="refused"):
                payload = _payload(data, action, case, others, units) if action != "merge" else {"master_id": ids[2]}
                with s.begin_nested() as sp:
                    then = _state_of(s, case_id)
                    with pytest.raises(DomainError) as err:
                        actions.act(s, index, case_id, action, callers[name], payload, now=now)
                    assert err.value.code in reasons.CODES, (name, action, err.value.code, err.value.message)
                    s.flush()
                    assert _state_of(s, case_id) == then, (name, action)
                    sp.rollback()
            if not offered:
                ended.add(case_id)
            else:  # the history goes on with one of them, mostly forward, now and then to an end
                ahead = [(n, a) for n, a in offered if a in FORWARD.get(case.state, ())]
                choice = data.draw(st.integers(0, 7), label="which")
                going_on = [(n, a) for n, a in offered if a not in ENDINGS]
                name, action = data.draw(st.sampled_from(
                    ahead if ahead and choice > 2 else going_on if going_on and choice else offered), label="step")
                actions.act(s, index, case_id, action, callers[name],
                            _payload(data, action, s.get(Case, case_id), others, units), now=now)


def _close(url, case_id: int, lead: int) -> None:
    boss = Identity(roles=frozenset({"receptionist", "shift_leader", "dispatcher", "handler", "inspector"}),
                    unit_id=lead)
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
        for action in ("accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed",
                       "close"):
            actions.act(s, index, case_id, action, boss, {"lead_unit_id": lead} if action == "dispatch"
                        else TEXT.get(action, {}))


def test_a_case_is_rated_once_and_a_merged_report_once_its_master_is_closed(world):
    url, callers, units = world
    desk, citizen = callers["receptionist"], callers["citizen"]
    with unit_of_work(url) as s:
        master, follower = _new_case(s, T0), _new_case(s, T0)
    with unit_of_work(url) as s:
        actions.act(s, GridIndex.build(s), follower, "merge", desk, {"master_id": master})
    with unit_of_work(url) as s, pytest.raises(Conflict) as err:
        actions.act(s, GridIndex.build(s), follower, "rate", citizen, {"satisfaction": "satisfied"})
    assert err.value.code == "master_not_closed" and err.value.extra["allowed_actions"] == []
    _close(url, master, units[0])
    with unit_of_work(url) as s:
        assert "rate" in actions.allowed_for(s, s.get(Case, follower), citizen)
        rated = actions.act(s, GridIndex.build(s), follower, "rate", citizen, {"satisfaction": "dissatisfied"})
        assert (rated.state, rated.satisfaction) == ("merged", "dissatisfied")
        event = s.scalars(select(CaseEvent).where(CaseEvent.case_id == follower).order_by(CaseEvent.seq.desc())).first()
        assert (event.action, event.from_state, event.to_state) == ("rate", "merged", "merged")
        assert event.payload == {"satisfaction": "dissatisfied", "master": s.get(Case, master).number}
        assert s.get(Case, master).satisfaction is None  # each reporter rates their own report
    with unit_of_work(url) as s:
        actions.act(s, GridIndex.build(s), master, "rate", desk, {"satisfaction": "satisfied"})
    for case_id in (follower, master):  # rated once, whoever asks next
        with unit_of_work(url) as s:
            assert "rate" not in actions.allowed_for(s, s.get(Case, case_id), desk)
            with pytest.raises(Conflict) as err:
                actions.act(s, GridIndex.build(s), case_id, "rate", citizen, {"satisfaction": "satisfied"})
        assert err.value.code == "already_rated"


def test_payloads_are_checked_by_their_model_and_refusals_carry_codes(world):
    url, _, _ = world
    with unit_of_work(url) as s:
        cid = _new_case(s, T0)
    client = make_client(url)
    desk = login(client, "receptionist", PASSWORD)
    post = lambda action, body, h=desk: client.post(f"/api/v1/cases/{cid}/actions/{action}", json=body,  # noqa: E731
                                                     headers=h)
    missing = post("reject", {"note": "x"}).json()
    assert (missing["code"], missing["params"]) == ("missing_field", {"action": "reject", "field": "reason"})
    for body, field in (({"reason": 5}, "reason"), ({"reason": "x" * 2001}, "reason"),
                        ({"reason": "x", "reasons": "y"}, "reasons"), ({"reason": "x", "version": "1"}, "version")):
        r = post("reject", body)
        assert r.status_code == 422 and r.json()["code"] == "invalid_field" and r.json()["params"]["field"] == field
        assert field in r.json()["detail"]
    r = post("void", {"reason": "重复"})
    assert (r.status_code, r.json()["code"]) == (403, "role_needed") and r.json()["allowed_actions"] == [
        "accept", "merge", "reject"]
    r = post("dispatch", {})
    assert (r.status_code, r.json()["code"], r.json()["params"]) == (
        409, "not_allowed_in_state", {"action": "dispatch", "state": "reported"})
    page = post("reject", {}, {**desk, "Sec-Fetch-Site": "same-origin"})
    assert page.json()["detail"] == "请填写必填项（原因）" and page.json()["detail_en"] == "'reject' needs 'reason'"
    assert post("reject", {"reason": "  不属实 "}).json()["state"] == "rejected"
    with unit_of_work(url) as s:
        last = s.scalars(select(CaseEvent).where(CaseEvent.case_id == cid).order_by(CaseEvent.seq.desc())).first()
        assert last.payload == {"reason": "不属实"}
    assert (post("fly", {}).status_code, post("fly", {}).json()["code"]) == (404, "unknown_action")


def test_a_version_lost_at_write_time_lists_what_the_callers_roles_allow(world):
    """Two desks hold the same case; the second writes on a version the first moved on (StaleDataError):
    its refusal names the actions its own roles allow on the case as it is now."""
    url, callers, _ = world
    with unit_of_work(url) as s:
        cid = _new_case(s, T0)
    with unit_of_work(url) as late:
        index = GridIndex.build(late)
        held = late.get(Case, cid)  # read before the other desk acts: this session's copy goes stale
        with unit_of_work(url) as first:
            actions.act(first, index, cid, "accept", callers["receptionist"], {})
        with pytest.raises(Conflict) as err:
            actions.act(late, index, cid, "reject", callers["receptionist"], {"reason": "重复"})
    assert err.value.code == "stale" and err.value.extra["stale"] is True and held.state == "accepted"
    assert err.value.extra["state"] == "accepted" and err.value.extra["allowed_actions"] == ["merge", "request_verify"]
