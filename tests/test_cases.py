"""The case life cycle: every legal transition, refusals with the allowed actions, roles, jurisdiction,
optimistic concurrency, idempotent intake, joint handling and masking of personal data."""

import threading

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.auth.models import AuditEntry, User
from liandong.cases import actions, intake, present
from liandong.cases.models import Case, CaseEvent, CaseUnit
from liandong.db import unit_of_work
from liandong.errors import Conflict, Forbidden, Invalid, NotFound
from liandong.units.models import Unit
from tests.caseworld import EAST_POINT, MATTER, ROLES, WEST_POINT, boss, do, new_case, unit_id
from tests.conftest import login, make_client
from tests.factories import EAST, PASSWORD, WEST


@pytest.fixture(scope="module")
def world(case_world):
    return case_world


PAYLOAD = {"reject": {"reason": "不属实"}, "return": {"reason": "非本单位职责"}, "void": {"reason": "重复"},
           "report_done": {"note": "已拆除"}, "check_failed": {"note": "未整改到位"},
           "close_self_handled": {"note": "现场已处理"}, "rate": {"satisfaction": "satisfied"}}
PATH = {
    "reported": [], "accepted": ["accept"], "verifying": ["accept", "request_verify"],
    "filed": ["accept", "file"], "dispatched": ["accept", "file", "dispatch"],
    "in_progress": ["accept", "file", "dispatch", "sign"],
    "returned": ["accept", "file", "dispatch", "return"],
    "disposed": ["accept", "file", "dispatch", "sign", "report_done"],
    "checking": ["accept", "file", "dispatch", "sign", "report_done", "request_check"],
    "checked": ["accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed"],
    "closed": ["accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"],
    "suspended": ["accept", "file", "dispatch", "sign", "suspend"],
}


def case_in(url, state):
    cid = new_case(url)
    for action in PATH[state]:
        do(url, cid, action, **PAYLOAD.get(action, {}))
    return cid


TRANSITIONS = {(state, a.name): to for a in actions.TABLE.values() for state, to in a.moves.items() if to}
"""(from, action) → to: the table's moves (events on the running stage, which move no state, aside)."""


@pytest.mark.parametrize("key", sorted(TRANSITIONS), ids=lambda k: f"{k[0]}-{k[1]}")
def test_every_legal_transition(world, key):
    state, action = key
    if state not in PATH:
        pytest.skip(f"{state} is only reached by void/merge")
    cid = case_in(world, state)
    payload = dict(PAYLOAD.get(action, {}))
    if action == "merge":
        payload["master_id"] = new_case(world)
    assert do(world, cid, action, **payload) == TRANSITIONS[key]
    with unit_of_work(world) as s:
        last = s.scalars(select(CaseEvent).where(CaseEvent.case_id == cid).order_by(CaseEvent.seq.desc())).first()
        n = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == cid))
    assert (last.action, last.from_state, last.to_state) == (action, state, TRANSITIONS[key])
    assert n == len(PATH[state]) + 2 and last.seq == n  # report + path + this one, numbered 1..n


@pytest.mark.parametrize("state", sorted(PATH))
def test_illegal_actions_are_refused_with_the_allowed_ones(world, state):
    cid = case_in(world, state)
    allowed = [name for name, a in actions.TABLE.items() if state in a.in_states]
    illegal = [a for a in actions.NAMES if a not in allowed][:4]
    with unit_of_work(world) as s:  # what the case answer offers this actor: the refusal names the same
        offered = present.case_dict(s, s.get(Case, cid), boss(world))["allowed_actions"]
    assert set(offered) <= set(allowed)
    for action in illegal:
        with pytest.raises(Conflict) as err:
            do(world, cid, action, **PAYLOAD.get(action, {}))
        assert err.value.extra["allowed_actions"] == offered
    with unit_of_work(world) as s:  # nothing was written by the refusals
        n = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == cid))
    assert n == len(PATH[state]) + 1


def test_full_cycle_over_http_with_rework(world):
    client = make_client(world)
    h = {r: login(client, r, PASSWORD) for r in (*ROLES, "cm_west")}
    body = {"matter_code": MATTER, "description": "违章搭建", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
            "channel": "grid_worker", "reporter": {"name": "张三丰", "phone": "13900001111"}}
    r = client.post("/api/v1/cases", json=body, headers=h["inspector"])
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["state"] == "reported" and case["grid_code"].startswith(WEST) and case["line"] == "city_management"
    assert case["number"].startswith("319901-")
    cid = case["id"]

    def act(who, action, **payload):
        resp = client.post(f"/api/v1/cases/{cid}/actions/{action}", json=payload, headers=h[who])
        assert resp.status_code == 200, (action, resp.text)
        return resp.json()

    act("receptionist", "accept")
    act("shift_leader", "file")
    proposal = client.get(f"/api/v1/cases/{cid}/routing", headers=h["dispatcher"]).json()
    assert proposal["proposed_lead"]["code"] == f"B-cm-{WEST}" and proposal["territorial"]["code"] == f"S-{WEST}"
    act("dispatcher", "dispatch")
    act("cm_west", "sign")
    act("cm_west", "report_done", note="已拆除")
    act("receptionist", "request_check")
    out = act("inspector", "check_failed", note="未拆除干净")
    assert out["state"] == "dispatched" and out["rework_count"] == 1
    act("cm_west", "sign")
    act("cm_west", "report_done", note="已全部拆除")
    act("receptionist", "request_check")
    act("inspector", "check_passed")
    out = act("shift_leader", "close")
    assert out["state"] == "closed" and out["closed_at"]
    out = act("receptionist", "rate", satisfaction="very_satisfied")
    assert out["satisfaction"] == "very_satisfied"
    ev = client.get(f"/api/v1/cases/{cid}/events", headers=h["dispatcher"]).json()
    assert [e["action"] for e in ev][:4] == ["report", "accept", "file", "dispatch"]
    assert [e["seq"] for e in ev] == list(range(1, len(ev) + 1)) and ev[-1]["action"] == "rate"
    # an illegal action: 409 with the allowed actions
    r = client.post(f"/api/v1/cases/{cid}/actions/dispatch", json={}, headers=h["dispatcher"])
    assert r.status_code == 409 and r.json()["allowed_actions"] == [] and r.json()["state"] == "closed"
    assert client.post(f"/api/v1/cases/{cid}/actions/fly", json={}, headers=h["dispatcher"]).status_code == 404


def test_roles_and_assignment_are_checked(world):
    cid = case_in(world, "filed")
    receptionist = Identity(roles=frozenset({"receptionist"}), unit_id=None)
    with pytest.raises(Forbidden):
        do(world, cid, "dispatch", receptionist)
    do(world, cid, "dispatch")
    other_squad = Identity(roles=frozenset({"handler"}), unit_id=unit_id(world, f"B-cm-{EAST}"))
    with pytest.raises((Forbidden, NotFound)):
        do(world, cid, "sign", other_squad)


def test_town_handler_never_sees_another_towns_case(world):
    client = make_client(world)
    west_case = case_in(world, "filed")
    east = login(client, "east_handler", PASSWORD)
    assert client.get(f"/api/v1/cases/{west_case}", headers=east).status_code == 404
    assert client.get(f"/api/v1/cases/{west_case}/events", headers=east).status_code == 404
    assert client.post(f"/api/v1/cases/{west_case}/actions/sign", json={}, headers=east).status_code == 404
    ids = [c["id"] for c in client.get("/api/v1/cases", params={"limit": 500}, headers=east).json()["items"]]
    assert west_case not in ids
    west = login(client, "west_handler", PASSWORD)
    assert client.get(f"/api/v1/cases/{west_case}", headers=west).status_code == 200
    # a unit the case is dispatched to sees it even outside its own area
    do(world, west_case, "dispatch", lead_unit_id=unit_id(world, f"B-cm-{EAST}"))
    cm_east = login(client, "cm_east", PASSWORD)
    assert client.get(f"/api/v1/cases/{west_case}", headers=cm_east).status_code == 200
    assert client.post(f"/api/v1/cases/{west_case}/actions/sign", json={}, headers=cm_east).status_code == 200


def test_stale_version_and_concurrent_dispatch(world):
    client = make_client(world)
    disp = login(client, "dispatcher", PASSWORD)
    cid = case_in(world, "filed")
    version = client.get(f"/api/v1/cases/{cid}", headers=disp).json()["version"]
    r = client.post(f"/api/v1/cases/{cid}/actions/dispatch", json={"version": version - 1}, headers=disp)
    assert r.status_code == 409 and "changed by someone else" in r.json()["detail"]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def dispatch():
        barrier.wait()
        resp = make_client(world).post(f"/api/v1/cases/{cid}/actions/dispatch", json={"version": version},
                                       headers=disp)
        results.append(resp.status_code)

    threads = [threading.Thread(target=dispatch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]
    with unit_of_work(world) as s:
        actions = list(s.scalars(select(CaseEvent.action).where(CaseEvent.case_id == cid)))
    assert actions.count("dispatch") == 1


def test_idempotent_intake(world):
    client = make_client(world)
    rec = login(client, "receptionist", PASSWORD)
    body = {"matter_code": "06010", "description": "暴露垃圾", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
            "channel": "hotline"}
    a = client.post("/api/v1/cases", json=body, headers={**rec, "Idempotency-Key": "call-42"})
    b = client.post("/api/v1/cases", json=body, headers={**rec, "Idempotency-Key": "call-42"})
    assert a.status_code == 201 and b.status_code == 200 and a.json()["id"] == b.json()["id"]
    c = client.post("/api/v1/cases", json={**body, "description": "别的"},
                    headers={**rec, "Idempotency-Key": "call-42"})
    assert c.status_code == 409
    assert a.json()["urgency"] == "normal" and a.json()["limits"]["dispose"] == {"amount": 4, "unit": "hour"}


def test_a_batch_looks_its_reports_keys_up_together_and_writes_its_cases_at_its_flush(world):
    """The batch form of intake (``cases/batch.py``): keys looked up in one go find the case an earlier transaction
    made and one made earlier in the batch; the new case's row, with its number, reaches the table at the flush,
    numbered as the single path numbers it."""
    from liandong.areas.index import GridIndex
    from liandong.cases.batch import Batch

    me = boss(world)
    first = new_case(world, idempotency_key="batch-1")

    def report(s, batch, key):
        return intake.report(s, GridIndex.build(s), me, matter_code=MATTER, description="测试：违章搭建",
                             lon=WEST_POINT[0], lat=WEST_POINT[1], channel="hotline", idempotency_key=key,
                             batch=batch)

    keys = [intake.creator_key(me, k) for k in ("batch-1", "batch-2")]
    by_key: list[str] = []

    def count(conn, cursor, statement, *_):
        if "idempotency_key =" in statement:
            by_key.append(statement)

    with unit_of_work(world) as s:
        event.listen(s.get_bind(), "before_cursor_execute", count)
        with Batch(s) as batch:
            batch.look_up_keys(keys)
            assert batch.keys == {keys[0]: first, keys[1]: None}
            again, created = report(s, batch, "batch-1")
            assert (again.id, created) == (first, False)
            made, created = report(s, batch, "batch-2")
            assert created and batch.keys[keys[1]] == made.id
            assert report(s, batch, "batch-2") == (made, False)  # made earlier in the batch: found there
            assert by_key == []  # every key answered by the batch, none asked of the database one at a time
            for key in ("batch-1", "batch-2"):  # a key's other request is refused as on the single path
                with pytest.raises(Conflict):
                    intake.report(s, GridIndex.build(s), me, matter_code=MATTER, description="别的", lon=WEST_POINT[0],
                                  lat=WEST_POINT[1], channel="hotline", idempotency_key=key, batch=batch)
            number = made.number
            assert s.scalar(select(Case.number).where(Case.id == made.id)) is None  # not written yet
        assert s.scalar(select(Case.number).where(Case.id == made.id)) == number
        assert number == intake.number(s.get(Area, made.grid_id).code, made.created_at, made.id)
        assert number.endswith(f"-{made.id:07d}") and made.id > first
        assert s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == made.id)) == 1
        event.remove(s.get_bind(), "before_cursor_execute", count)


def test_a_batch_writes_a_case_it_reports_once_as_the_batch_leaves_it_and_a_merge_finds_it_there(world):
    """A case reported within a batch has its id taken with the day's others (``Batch.reserve``) and its row written
    once, in the state the batch left it (one INSERT of many rows, version 1), before its events and stage facts;
    a merge within the batch writes the rows first, so the master and its followers are found in the table."""
    from liandong.areas.index import GridIndex
    from liandong.cases import facts
    from liandong.cases.batch import Batch

    me, writes = boss(world), []

    def count(conn, cursor, statement, *_):
        if statement.lstrip().upper().startswith(("INSERT INTO CASES", 'INSERT INTO "CASES"', "UPDATE CASES")):
            writes.append(statement.split()[0].upper())

    def report(s, batch, index):
        return intake.report(s, index, me, matter_code=MATTER, description="测试：违章搭建", lon=WEST_POINT[0],
                             lat=WEST_POINT[1], channel="hotline", batch=batch)[0]

    older = new_case(world)
    with unit_of_work(world) as s:
        event.listen(s.get_bind(), "before_cursor_execute", count)
        with Batch(s) as batch:
            index = GridIndex.build(s)
            batch.reserve(2)
            a, b = report(s, batch, index), report(s, batch, index)
            assert b.id == a.id + 1 and a.id > older
            for action in ("accept", "file"):
                actions.act(s, index, a.id, action, me, batch=batch)
            assert writes == []  # nothing written until the flush
        assert writes == ([] if s.get_bind().dialect.name == "postgresql" else ["INSERT"])  # COPY there; no UPDATE
        event.remove(s.get_bind(), "before_cursor_execute", count)
    with unit_of_work(world) as s:
        rows = {c.id: (c.state, c.version, c.stage) for c in s.scalars(select(Case).where(Case.id.in_([a.id, b.id])))}
        assert rows == {a.id: ("filed", 1, "dispatch"), b.id: ("reported", 1, None)}
        assert [e.action for e in s.scalars(select(CaseEvent).where(CaseEvent.case_id == a.id)
                                            .order_by(CaseEvent.seq))] == ["report", "accept", "file"]
        assert [(f.stage, f.outcome) for f in facts.of_case(s, a.id)] == [("accept", "done"), ("file", "done"),
                                                                          ("dispatch", None)]
    with unit_of_work(world) as s, Batch(s) as batch:  # reported and merged the same day, with a follower
        index = GridIndex.build(s)
        batch.load([b.id])
        c, d = report(s, batch, index), report(s, batch, index)  # no ids reserved: taken one at a time
        assert d.id == c.id + 1 and c.id > b.id
        actions.act(s, index, d.id, "merge", me, {"master_id": c.id}, batch=batch)
        actions.act(s, index, c.id, "merge", me, {"master_id": b.id}, batch=batch)  # d follows c to b
    with unit_of_work(world) as s:
        got = {x.id: (x.state, x.master_id) for x in s.scalars(select(Case).where(Case.id.in_([b.id, c.id, d.id])))}
        assert got == {b.id: ("reported", None), c.id: ("merged", b.id), d.id: ("merged", b.id)}


def test_a_batch_given_ids_writes_nothing_before_its_flush_and_its_merge_moves_a_stored_follower(world):
    """With its new cases' ids given (``Batch.use_ids``) a batch writes nothing until its flush — a dispatch's units
    and a merge included: the merge finds its master and the master's followers through what the batch holds, and
    moves a follower stored by an earlier transaction there — so that on SQLite the processes of the simulated year
    compute their batches side by side and take the write lock only to write them. What it writes is what the
    actions one at a time would have written."""
    from liandong.areas.index import GridIndex
    from liandong.cases.batch import Batch
    from liandong.db import reserve_block

    me, west, east = boss(world), unit_id(world, f"B-cm-{WEST}"), unit_id(world, f"B-cm-{EAST}")
    master, follower, other = new_case(world), new_case(world), new_case(world)
    do(world, follower, "merge", master_id=master)  # a follower stored before the batch
    for action in ("accept", "file"):
        do(world, other, action)
    writes: list[str] = []

    def count(conn, cursor, statement, *_):
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement.split()[0].upper())

    with unit_of_work(world) as s:
        index, given = GridIndex.build(s), reserve_block(s, Case.__table__, 1)  # the id this job owns
        versions = dict(s.execute(select(Case.id, Case.version).where(Case.id.in_([master, follower]))).all())
        event.listen(s.get_bind(), "before_cursor_execute", count)
        try:
            with Batch(s) as batch:
                batch.use_ids([given])
                fresh = intake.report(s, index, me, matter_code=MATTER, description="测试：违章搭建",
                                      lon=WEST_POINT[0], lat=WEST_POINT[1], channel="hotline", batch=batch)[0]
                actions.act(s, index, other, "dispatch", me, {"lead_unit_id": west, "assisting_unit_ids": [east]},
                            batch=batch)
                actions.act(s, index, other, "sign", me, batch=batch)
                actions.act(s, index, master, "merge", me, {"master_id": fresh.id}, batch=batch)
                assert writes == []
            assert "UPDATE" in writes  # all of it at the flush (the rows COPY takes on PostgreSQL unseen here)
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", count)
    assert fresh.id == given
    with unit_of_work(world) as s:
        got = {c.id: (c.state, c.master_id, c.version) for c in s.scalars(
            select(Case).where(Case.id.in_([master, follower, fresh.id])))}
        assert got == {master: ("merged", fresh.id, versions[master] + 1),
                       follower: ("merged", fresh.id, versions[follower] + 1), fresh.id: ("reported", None, 1)}
        parts = {(p.unit_id, p.role, p.status) for p in s.scalars(select(CaseUnit).where(CaseUnit.case_id == other))}
        assert parts == {(west, "lead", "signed"), (east, "assist", "dispatched")}
        assert s.scalar(select(Case.state).where(Case.id == other)) == "in_progress"
        moved = s.scalar(select(CaseEvent.payload).where(CaseEvent.case_id == master, CaseEvent.action == "merge"))
        assert moved["followers_moved"] == 1


def test_a_batch_holding_case_ids_keeps_other_writers_from_taking_them(world):
    """Ids taken beyond those reserved follow them; while a batch holds ids for rows it has not written, a case
    reported one at a time in its transaction is refused (on SQLite it would take one of them) and on SQLite another
    connection cannot write at all; after the block both may. A batch that fails after a merge wrote its rows leaves
    nothing behind."""
    import sqlite3

    from liandong.areas.index import GridIndex
    from liandong.cases.batch import Batch

    me = boss(world)

    def report(s, batch, index):
        return intake.report(s, index, me, matter_code=MATTER, description="测试：违章搭建", lon=WEST_POINT[0],
                             lat=WEST_POINT[1], channel="hotline", batch=batch)[0]

    with unit_of_work(world) as s, Batch(s) as batch:
        index = GridIndex.build(s)
        batch.reserve(1)
        ids = [report(s, batch, index).id for _ in range(3)]  # one reserved, two more taken after it
        assert ids == sorted(set(ids)) and (ids[2] - ids[0] == 2 or s.get_bind().dialect.name == "postgresql")
        with pytest.raises(RuntimeError, match="holds case ids"):
            intake.report(s, index, me, matter_code=MATTER, description="测试", lon=WEST_POINT[0], lat=WEST_POINT[1],
                          channel="hotline")
        if s.get_bind().dialect.name == "sqlite":
            other = sqlite3.connect(s.get_bind().url.database, timeout=0.1)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("UPDATE cases SET description = description WHERE id = ?", (ids[0],))
            other.close()
        single = new_case  # after the block: one at a time again, in a transaction of its own
    assert single(world) > ids[2]
    with pytest.raises(Conflict), unit_of_work(world) as s, Batch(s) as batch:
        index = GridIndex.build(s)
        ab = [report(s, batch, index).id, report(s, batch, index).id]
        actions.act(s, index, ab[1], "merge", me, {"master_id": ab[0]}, batch=batch)  # the rows go in here
        actions.act(s, index, ab[1], "accept", me, batch=batch)  # refused: merged
    with unit_of_work(world) as s:
        assert s.scalar(select(func.count()).select_from(Case).where(Case.id.in_(ab))) == 0
        assert s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id.in_(ab))) == 0
        assert new_case(world) > 0 and not s.info.get("cases.batch_holds_ids")


def test_a_batch_flushed_twice_writes_both_and_leaves_its_cases_current(world):
    """The batch writes its changed cases itself and marks them stored with their new version: a second flush writes
    what changed after the first, and the caller's case object is the session's, as current as the row."""
    from liandong.areas.index import GridIndex
    from liandong.cases.batch import Batch

    me, cid = boss(world), new_case(world)
    with unit_of_work(world) as s:
        with Batch(s) as batch:
            batch.load([cid])
            index = GridIndex.build(s)
            first = batch.cases[cid].version
            actions.act(s, index, cid, "accept", me, batch=batch)
            batch.flush()
            actions.act(s, index, cid, "file", me, batch=batch)
        case = batch.cases[cid]
        assert s.get(Case, cid) is case and case.version == first + 2 and case not in s.dirty
    with unit_of_work(world) as s:
        assert (s.get(Case, cid).state, s.get(Case, cid).version) == ("filed", first + 2)
        assert [e.action for e in s.scalars(select(CaseEvent).where(CaseEvent.case_id == cid)
                                            .order_by(CaseEvent.seq))] == ["report", "accept", "file"]


def test_a_dispatch_names_only_units_that_exist_alone_and_in_a_batch(world):
    """A dispatch naming a unit that does not exist is refused (``unknown_units``), whether the single path asks the
    database or the batch answers from the unit ids it read."""
    from liandong.areas.index import GridIndex
    from liandong.cases.batch import Batch

    me, lead, nowhere = boss(world), unit_id(world, f"B-cm-{WEST}"), 987_654
    case_id = new_case(world)
    do(world, case_id, "accept")
    do(world, case_id, "file")
    with pytest.raises(Invalid) as refused:
        do(world, case_id, "dispatch", lead_unit_id=nowhere)
    assert (refused.value.code, refused.value.params) == ("unknown_units", {"units": [nowhere]})
    with pytest.raises(Invalid) as refused, unit_of_work(world) as s, Batch(s) as batch:
        batch.load([case_id])
        assert batch.units_there([lead, nowhere]) == {lead}
        assert batch.units_there([nowhere]) == set()  # asked again: still not there
        actions.act(s, GridIndex.build(s), case_id, "dispatch", me, {"lead_unit_id": lead,
                                                                      "assisting_unit_ids": [nowhere]}, batch=batch)
    assert (refused.value.code, refused.value.params) == ("unknown_units", {"units": [nowhere]})
    with unit_of_work(world) as s, Batch(s) as batch:
        batch.load([case_id])
        actions.act(s, GridIndex.build(s), case_id, "dispatch", me, {"lead_unit_id": lead}, batch=batch)
    with unit_of_work(world) as s:
        case = s.get(Case, case_id)
        assert (case.state, case.lead_unit_id) == ("dispatched", lead)


def test_a_batch_moves_each_case_version_once_and_a_case_changed_meanwhile_fails_its_flush(world):
    """A case's version moves on once a batch, however many actions it took; a case another transaction changed
    meanwhile fails the flush (StaleDataError) and the batch leaves nothing behind."""
    from sqlalchemy.orm.exc import StaleDataError

    from liandong.areas.index import GridIndex
    from liandong.cases.batch import Batch

    me = boss(world)
    ids = [new_case(world) for _ in range(3)]
    with unit_of_work(world) as s:
        before = dict(s.execute(select(Case.id, Case.version).where(Case.id.in_(ids))).all())
    with unit_of_work(world) as s, Batch(s) as batch:
        batch.load(ids)
        index = GridIndex.build(s)
        for case_id in (ids[0], ids[2]):
            actions.act(s, index, case_id, "accept", me, batch=batch)
        actions.act(s, index, ids[0], "file", me, batch=batch)
        actions.act(s, index, ids[1], "reject", me, {"reason": "不属于受理范围"}, batch=batch)
    with unit_of_work(world) as s:
        after = {c.id: (c.state, c.version) for c in s.scalars(select(Case).where(Case.id.in_(ids)))}
    assert after == {ids[0]: ("filed", before[ids[0]] + 1), ids[1]: ("rejected", before[ids[1]] + 1),
                     ids[2]: ("accepted", before[ids[2]] + 1)}
    with pytest.raises(StaleDataError), unit_of_work(world) as s, Batch(s) as batch:
        batch.load(ids)
        actions.act(s, GridIndex.build(s), ids[2], "file", me, batch=batch)
        do(world, ids[2], "file")  # another desk files it first, in a transaction of its own
    with unit_of_work(world) as s:
        events = list(s.scalars(select(CaseEvent.action).where(CaseEvent.case_id == ids[2]).order_by(CaseEvent.seq)))
        assert (events, s.get(Case, ids[2]).version) == (["report", "accept", "file"], before[ids[2]] + 2)


@pytest.mark.parametrize("change,message", [
    ({"matter_code": "99999"}, "unknown matter"), ({"channel": "pigeon"}, "unknown channel"),
    ({"lon": 120.0, "lat": 30.0}, "outside the district"), ({"urgency": "whenever"}, "urgency"),
    ({"crs": "EPSG:3857"}, "unknown coordinate system"),
])
def test_bad_reports_are_refused(world, change, message):
    client = make_client(world)
    rec = login(client, "receptionist", PASSWORD)
    body = {"matter_code": MATTER, "description": "x", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
            "channel": "hotline", **change}
    r = client.post("/api/v1/cases", json=body, headers=rec)
    assert r.status_code == 422 and message in r.json()["detail"]


@pytest.mark.parametrize("id_number, reason", [("110105194912310021", "check digit"), ("11010519491331002X", "date"),
                                                ("1101051949", "17 digits")])
def test_a_wrong_id_number_is_refused(world, id_number, reason):
    client = make_client(world)
    body = {"matter_code": MATTER, "description": "x", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
            "channel": "hotline", "reporter": {"phone": "13912345678", "id_number": id_number}}
    r = client.post("/api/v1/cases", json=body, headers=login(client, "receptionist", PASSWORD))
    assert r.status_code == 422 and reason in r.json()["detail"]


def test_idempotency_keys_belong_to_their_sender(world):
    """Two desks that happen to pick the same key make two cases; each desk's retry returns its own case."""
    client = make_client(world)
    body = {"matter_code": MATTER, "description": "同一个键", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
            "channel": "hotline"}
    rec, leader = login(client, "receptionist", PASSWORD), login(client, "shift_leader", PASSWORD)
    a = client.post("/api/v1/cases", json=body, headers={**rec, "Idempotency-Key": "call-0001"})
    b = client.post("/api/v1/cases", json=body, headers={**leader, "Idempotency-Key": "call-0001"})
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]
    again = client.post("/api/v1/cases", json=body, headers={**rec, "Idempotency-Key": "call-0001"})
    assert again.status_code == 200 and again.json()["id"] == a.json()["id"]


def test_the_app_runs_on_the_clock_it_is_given(world):
    """All case time comes from an injectable clock: a report, its deadlines and the figures follow it."""
    import datetime as dt

    from fastapi.testclient import TestClient

    from liandong.app import create_app
    from liandong.config import Settings

    then = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # Monday 09:00 in Shanghai
    clock = {"now": then}
    client = TestClient(create_app(Settings(database_url=world), clock=lambda: clock["now"]))
    h = {r: login(client, r, PASSWORD) for r in ROLES}
    body = {"matter_code": "06010", "description": "暴露垃圾", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
            "channel": "hotline"}
    case = client.post("/api/v1/cases", json=body, headers=h["receptionist"]).json()
    assert case["created_at"] == then.isoformat()
    client.post(f"/api/v1/cases/{case['id']}/actions/accept", json={}, headers=h["receptionist"])
    clock["now"] = then + dt.timedelta(minutes=30)
    filed = client.post(f"/api/v1/cases/{case['id']}/actions/file", json={}, headers=h["shift_leader"]).json()
    assert filed["deadlines"]["stage_deadline"] == (then + dt.timedelta(minutes=90)).isoformat()  # 1 working hour
    assert filed["deadlines"]["light"] == "green"
    clock["now"] = then + dt.timedelta(minutes=80)  # 50 of 60 minutes used
    assert client.get(f"/api/v1/cases/{case['id']}", headers=h["dispatcher"]).json()["deadlines"]["light"] == "yellow"
    events = client.get(f"/api/v1/cases/{case['id']}/events", headers=h["dispatcher"]).json()
    later = (then + dt.timedelta(minutes=30)).isoformat()
    assert [e["at"] for e in events] == [then.isoformat(), then.isoformat(), later]
    # the other channels run on the same clock (a citizen's report here)
    form = {"matter_code": "06010", "description": "垃圾没人收", "lon": str(WEST_POINT[0]), "lat": str(WEST_POINT[1])}
    number = client.post("/api/v1/public/reports", data=form).json()["number"]
    assert number.split("-")[1] == "20260302"
    found = client.get("/api/v1/cases", params={"q": number}, headers=h["receptionist"]).json()["items"]
    assert found[0]["created_at"] == (then + dt.timedelta(minutes=80)).isoformat()


def test_joint_handling_assisting_units_report_their_part(world):
    """条块联处: each assigned unit moves its own part whenever the case is being handled; the lead reports the
    case done only after its assisting units."""
    client = make_client(world)
    cid = case_in(world, "filed")
    lead, helper = unit_id(world, f"B-cm-{WEST}"), unit_id(world, f"S-{WEST}")
    do(world, cid, "dispatch", lead_unit_id=lead, assisting_unit_ids=[helper])
    town = Identity(roles=frozenset({"handler"}), unit_id=helper)
    assert do(world, cid, "sign") == "in_progress"  # the lead signs first: the assisting unit may still sign
    assert client.get(f"/api/v1/cases/{cid}", headers=login(client, "west_handler", PASSWORD)).json()[
        "allowed_actions"] == ["return", "sign"]
    with pytest.raises(Forbidden):  # only the lead asks for more time
        do(world, cid, "request_extension", town, amount=1, unit="day", reason="协调")
    assert do(world, cid, "sign", town) == "in_progress"
    with pytest.raises(Conflict) as err:  # its part is signed: signing again is refused, naming what it may do
        do(world, cid, "sign", town)
    assert err.value.extra == {"allowed_actions": ["report_done", "return"], "state": "in_progress",
                               "unit_status": "signed"}
    with pytest.raises(Conflict) as err:
        do(world, cid, "report_done", note="主办已完成")
    assert str(helper) in str(err.value)
    assert do(world, cid, "report_done", town, note="协办部分完成") == "in_progress"
    with unit_of_work(world) as s:
        rows = {u.unit_id: (u.role, u.status) for u in s.scalars(select(CaseUnit).where(CaseUnit.case_id == cid))}
        last = s.scalars(select(CaseEvent).where(CaseEvent.case_id == cid).order_by(CaseEvent.seq.desc())).first()
    assert rows == {lead: ("lead", "signed"), helper: ("assist", "done")}
    assert last.payload["as"] == "assist" and last.unit_id == helper and last.from_state == last.to_state
    assert do(world, cid, "report_done", note="主办已完成") == "disposed"


def test_a_suspended_case_resumes_where_it_was(world):
    """Suspended before the lead signed, it goes back to waiting for the signature, on the sign clock."""
    cid = case_in(world, "dispatched")
    do(world, cid, "suspend")
    assert do(world, cid, "resume") == "dispatched"
    with unit_of_work(world) as s:
        case = s.get(Case, cid)
        assert case.stage == "sign" and case.paused_remaining_minutes is None
    assert do(world, cid, "sign") == "in_progress"
    do(world, cid, "suspend")
    assert do(world, cid, "resume") == "in_progress"


def test_a_department_unit_sees_what_is_assigned_to_it(world):
    """DESIGN §1: a town sees its town, a department what is assigned to it; a withdrawn unit loses the case."""
    client = make_client(world)
    cid = case_in(world, "filed")
    squad = login(client, "cm_west", PASSWORD)  # the west city-management squad: a department's branch
    assert client.get(f"/api/v1/cases/{cid}", headers=squad).status_code == 404
    assert cid not in [c["id"] for c in client.get("/api/v1/cases?limit=500", headers=squad).json()["items"]]
    do(world, cid, "dispatch", lead_unit_id=unit_id(world, f"B-cm-{WEST}"))
    assert client.get(f"/api/v1/cases/{cid}", headers=squad).status_code == 200
    with unit_of_work(world) as s:  # the department above the squad sees what its squads hold
        from liandong.auth.service import create_user

        create_user(s, username="cm_chief", password=PASSWORD, unit_code="D-cm", roles=["handler"])
    chief = login(client, "cm_chief", PASSWORD)
    assert client.get(f"/api/v1/cases/{cid}", headers=chief).status_code == 200
    do(world, cid, "return", actor=Identity(roles=frozenset({"handler"}), unit_id=unit_id(world, f"B-cm-{WEST}")),
       reason="非本中队辖区")
    do(world, cid, "redispatch", lead_unit_id=unit_id(world, f"B-cm-{EAST}"))
    assert client.get(f"/api/v1/cases/{cid}", headers=squad).status_code == 404  # withdrawn: no longer its case
    assert client.get(f"/api/v1/cases/{cid}", headers=login(client, "west_handler", PASSWORD)).status_code == 200


def test_my_queue_holds_the_cases_waiting_for_me(world):
    """Not every case where I have some optional action (suspending, verifying): those whose next move is mine."""
    client = make_client(world)
    filed, dispatched, asking = case_in(world, "filed"), case_in(world, "dispatched"), case_in(world, "in_progress")
    do(world, asking, "request_extension", amount=2, unit="day", reason="等待材料")

    def queue(user):
        r = client.get("/api/v1/cases", params={"mine": "true", "limit": 500}, headers=login(client, user, PASSWORD))
        return {c["id"] for c in r.json()["items"]}

    disp = queue("dispatcher")
    assert filed in disp and asking in disp and dispatched not in disp
    squad = queue("cm_west")
    assert dispatched in squad and asking in squad and filed not in squad
    assert not {filed, dispatched, asking} & queue("receptionist")


def test_reporter_data_masked_and_unmasked_reads_audited(world):
    cid = new_case(world, reporter={"name": "李四", "phone": "13912345678", "id_number": "11010519491231002X"})
    client = make_client(world)
    disp = client.get(f"/api/v1/cases/{cid}", headers=login(client, "dispatcher", PASSWORD)).json()
    assert disp["reporter"] == {"name": "李*", "phone": "139****5678", "id_number": "1101**********002X"}
    rec = client.get(f"/api/v1/cases/{cid}", headers=login(client, "receptionist", PASSWORD)).json()
    assert rec["reporter"] == {"name": "李四", "phone": "13912345678", "id_number": "11010519491231002X"}
    with unit_of_work(world) as s:
        reads = s.scalars(select(AuditEntry).where(AuditEntry.action == "personal_data_read",
                                                   AuditEntry.target == f"case:{cid}")).all()
        actors = {s.get(User, e.actor_id).username for e in reads}
    assert actors == {"receptionist"}


def test_case_events_are_append_only(world):
    new_case(world)
    for stmt in ("UPDATE case_events SET actor = 'x'", "DELETE FROM case_events"):
        with pytest.raises(DBAPIError, match="append-only"), unit_of_work(world) as s:
            s.execute(text(stmt))


def test_queries_paging_and_csv(world):
    client = make_client(world)
    disp = login(client, "dispatcher", PASSWORD)
    mine = [new_case(world, point=EAST_POINT, matter="06010", reporter={"phone": "13700001234"}) for _ in range(3)]
    formula = new_case(world, point=EAST_POINT, matter="06010", description="=HYPERLINK(\"http://x\")")
    do(world, mine[0], "accept")
    get = lambda **p: client.get("/api/v1/cases", params=p, headers=disp).json()  # noqa: E731
    east = get(area=EAST, matter="06010", limit=500)
    assert {c["id"] for c in east["items"]} >= set(mine)
    assert all(c["grid_code"].startswith(EAST) and c["matter_code"] == "06010" for c in east["items"])
    accepted = get(area=EAST, matter="06010", state="accepted", limit=500)["items"]
    assert mine[0] in [c["id"] for c in accepted] and mine[1] not in [c["id"] for c in accepted]
    page1, page2 = get(area=EAST, limit=2, offset=0), get(area=EAST, limit=2, offset=2)
    assert page1["total"] == page2["total"] >= 3 and not {c["id"] for c in page1["items"]} & {
        c["id"] for c in page2["items"]}
    oldest = get(area=EAST, sort="created_at", limit=1)["items"][0]["id"]
    newest = get(area=EAST, sort="-created_at", limit=1)["items"][0]["id"]
    assert oldest < newest
    number = client.get(f"/api/v1/cases/{mine[1]}", headers=disp).json()["number"]
    assert [c["id"] for c in get(q=number)["items"]] == [mine[1]]
    assert get(area=EAST, created_from="2000-01-01", created_to="2000-01-02")["total"] == 0
    assert get(area=EAST, overdue=False, limit=500)["total"] == get(area=EAST, limit=500)["total"]  # none filed yet
    assert client.get("/api/v1/cases", params={"light": "purple"}, headers=disp).status_code == 422
    assert client.get("/api/v1/cases", params={"sort": "drop table"}, headers=disp).status_code == 422
    east_user = login(client, "east_handler", PASSWORD)
    assert client.get("/api/v1/cases", params={"area": WEST}, headers=east_user).status_code == 404
    r = client.get("/api/v1/cases/export.csv", params={"area": EAST, "matter": "06010"}, headers=disp)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("number,state,matter_code") and len(lines) - 1 == east["total"]
    assert "137****1234" in r.text and "13700001234" not in r.text
    assert formula in [c["id"] for c in east["items"]]
    assert "'=HYPERLINK" in r.text and ',"=HYPERLINK' not in r.text  # a citizen's text never runs in Excel


def test_duplicates_suggested_and_merged_reporters_kept(world):
    client = make_client(world)
    rec = login(client, "receptionist", PASSWORD)
    master = new_case(world, point=(121.3400, 31.1150), matter="06010",
                      reporter={"name": "王五", "phone": "13600000001"})
    near_same = new_case(world, point=(121.3405, 31.1152), matter="06010", reporter={"phone": "13600000002"})
    near_family = new_case(world, point=(121.3401, 31.1149), matter="06012")  # 道路不洁: same major (06)
    far = new_case(world, point=(121.3500, 31.1150), matter="06010")  # ~950 m east
    other_family = new_case(world, point=(121.3400, 31.1151), matter="08004")  # 工地扬尘: another major
    found = client.get(f"/api/v1/cases/{master}/duplicates", headers=rec).json()
    ids = [d["id"] for d in found]
    assert near_same in ids and near_family in ids and far not in ids and other_family not in ids
    assert ids.index(near_same) < ids.index(near_family)  # the same matter first
    assert all(d["distance_m"] <= 150 for d in found)
    r = client.post(f"/api/v1/cases/{near_same}/actions/merge", json={"master_id": master}, headers=rec)
    assert r.status_code == 200 and r.json()["state"] == "merged" and r.json()["master"]["id"] == master
    m = client.get(f"/api/v1/cases/{master}", headers=rec).json()
    assert [x["id"] for x in m["merged"]] == [near_same] and m["merged"][0]["reporter"]["phone"] == "13600000002"
    disp = client.get(f"/api/v1/cases/{master}", headers=login(client, "dispatcher", PASSWORD)).json()
    assert disp["merged"][0]["reporter"]["phone"] == "136****0002"
    do(world, master, "accept")  # the merged case follows: it shows the master's live state
    assert client.get(f"/api/v1/cases/{near_same}", headers=rec).json()["master"]["state"] == "accepted"
    assert near_same not in [d["id"] for d in client.get(f"/api/v1/cases/{master}/duplicates", headers=rec).json()]
    # the master itself merged into a third case: its follower moves along, never left on a dead case
    third = new_case(world, point=(121.3402, 31.1151), matter="06010")
    r = client.post(f"/api/v1/cases/{master}/actions/merge", json={"master_id": third}, headers=rec)
    assert r.status_code == 200 and r.json()["state"] == "merged"
    assert client.get(f"/api/v1/cases/{near_same}", headers=rec).json()["master"]["id"] == third
    assert sorted(x["id"] for x in client.get(f"/api/v1/cases/{third}", headers=rec).json()["merged"]) == sorted(
        [master, near_same])


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


def test_photos_checked_stored_and_served(world, tmp_path):
    from fastapi.testclient import TestClient

    from liandong.app import create_app
    from liandong.config import Settings

    client = TestClient(create_app(Settings(database_url=world, index_check_seconds=0,
                                            upload_dir=str(tmp_path / "up"), max_upload_bytes=1000)))
    insp = login(client, "inspector", PASSWORD)
    cid = new_case(world)
    r = client.post(f"/api/v1/cases/{cid}/attachments", files={"file": ("现场.png", PNG, "image/png")},
                    data={"kind": "before"}, headers=insp)
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["content_type"] == "image/png" and photo["size"] == len(PNG)
    got = client.get(photo["url"], headers=insp)
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
    again = client.post(f"/api/v1/cases/{cid}/attachments", files={"file": ("重发.png", PNG, "image/png")},
                        data={"kind": "before"}, headers=insp)  # a retry after a lost answer: the same photo
    assert again.status_code == 200 and again.json()["id"] == photo["id"]
    # a script renamed .png, an oversized file and a bad kind are refused, and nothing is stored for them
    bad = client.post(f"/api/v1/cases/{cid}/attachments", files={"file": ("x.png", b"<script>", "image/png")},
                      headers=insp)
    assert bad.status_code == 422 and "JPEG, PNG and WebP" in bad.json()["detail"]
    big = client.post(f"/api/v1/cases/{cid}/attachments", files={"file": ("b.png", PNG + b"0" * 2000, "image/png")},
                      headers=insp)
    assert big.status_code == 413
    kind = client.post(f"/api/v1/cases/{cid}/attachments", files={"file": ("k.png", PNG, "image/png")},
                       data={"kind": "selfie"}, headers=insp)
    assert kind.status_code == 422
    assert len(client.get(f"/api/v1/cases/{cid}/attachments", headers=insp).json()) == 1
    assert len(list((tmp_path / "up").rglob("*.png"))) == 1
    events = client.get(f"/api/v1/cases/{cid}/events", headers=insp).json()
    assert events[-1]["action"] == "attach" and events[-1]["payload"]["kind"] == "before"
    east = login(client, "east_handler", PASSWORD)
    assert client.get(photo["url"], headers=east).status_code == 404


def test_grids_in_use_cannot_be_regenerated(world):
    from liandong.areas import gridgen

    cid = new_case(world)
    grids = "SELECT count(*) FROM areas WHERE level = 'grid'"
    with unit_of_work(world) as s:
        before = s.execute(text(grids)).scalar()
    with unit_of_work(world) as s, pytest.raises(Conflict, match="in use"):
        gridgen.generate(s, "319901", target_m2=40_000, replace=True)
    with unit_of_work(world) as s:  # nothing was removed: the grids and the case's grid are all there
        assert s.execute(text(grids)).scalar() == before
        assert s.execute(text(f"SELECT a.level FROM cases c JOIN areas a ON a.id = c.grid_id WHERE c.id = {cid}")
                         ).scalar() == "grid"


def test_out_of_range_numbers_and_raced_rows_are_4xx_not_5xx(world):
    """Ids past 64 bits in an action's payload were a 500 (OverflowError from the driver); a unique key
    lost to a concurrent request is a 409 with nothing half-written."""
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import IntegrityError

    from liandong.app import create_app
    from liandong.config import Settings

    app = create_app(Settings(database_url=world, index_check_seconds=0))

    @app.get("/test-only/race")
    def race():
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    client = TestClient(app, raise_server_exceptions=False)
    cid = new_case(world)
    do(world, cid, "accept")
    do(world, cid, "file")
    disp = login(client, "dispatcher", PASSWORD)
    for payload in ({"lead_unit_id": 2**64}, {"lead_unit_id": 1, "assisting_unit_ids": [2**70]}):
        r = client.post(f"/api/v1/cases/{cid}/actions/dispatch", json=payload, headers=disp)
        assert 400 <= r.status_code < 500 and r.json()["detail"], (r.status_code, r.text)
    assert client.get(f"/api/v1/cases/{cid}", headers=disp).json()["state"] == "filed"
    r = client.get("/test-only/race")
    assert r.status_code == 409 and "retry" in r.json()["detail"]


def test_an_account_with_only_the_citizen_role_sees_and_rates_no_case(world):
    """Citizens follow their own reports by tracking key; a staff login with only ``citizen`` gets nothing."""
    from liandong.auth.service import create_user

    with unit_of_work(world) as s:
        create_user(s, username="resident", password=PASSWORD, unit_code="C", roles=["citizen"])
    cid = new_case(world)
    for action in ("accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"):
        do(world, cid, action, **({"note": "好"} if action == "report_done" else {}))
    client = make_client(world)
    who = login(client, "resident", PASSWORD)
    assert client.get("/api/v1/cases", headers=who).json()["total"] == 0
    assert client.get(f"/api/v1/cases/{cid}", headers=who).status_code == 404
    r = client.post(f"/api/v1/cases/{cid}/actions/rate", json={"satisfaction": "dissatisfied"}, headers=who)
    assert r.status_code == 404
    rec = login(client, "receptionist", PASSWORD)
    assert client.get(f"/api/v1/cases/{cid}", headers=rec).json()["satisfaction"] is None
    page = client.post("/login", data={"username": "resident", "password": PASSWORD}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/report"


def test_the_case_offers_only_the_actions_the_service_will_take(world):
    """A unit's own actions only to the unit the case is assigned to; deciding an extension only when one waits."""
    client = make_client(world)
    cid = new_case(world)
    do(world, cid, "accept")
    do(world, cid, "file")
    do(world, cid, "dispatch", lead_unit_id=unit_id(world, f"B-cm-{WEST}"))
    acts = lambda user: client.get(f"/api/v1/cases/{cid}", headers=login(client, user, PASSWORD)).json()[  # noqa: E731
        "allowed_actions"]
    assert "sign" in acts("cm_west") and "sign" not in acts("west_handler")
    assert "approve_extension" not in acts("dispatcher")
    h = login(client, "cm_west", PASSWORD)
    assert client.post(f"/api/v1/cases/{cid}/actions/sign", json={}, headers=h).status_code == 200
    r = client.post(f"/api/v1/cases/{cid}/actions/request_extension", headers=h,
                    json={"amount": 1, "unit": "day", "reason": "需要吊车"})
    assert r.status_code == 200, r.text
    assert {"approve_extension", "reject_extension"} <= set(acts("dispatcher"))


def test_the_notice_badge_counts_every_unread_notice(world):
    """The workbench lists the latest 20 notices, but its badge says how many wait in all."""
    import datetime as dt

    from liandong.cases.models import Notification

    west = unit_id(world, f"S-{WEST}")
    with unit_of_work(world) as s:
        before = s.scalar(select(func.count()).select_from(Notification).where(
            Notification.unit_id == west, Notification.read_at.is_(None)))
        s.add_all(Notification(unit_id=west, kind="urge", message=f"督办 {i}", created_at=dt.datetime.now(dt.UTC))
                  for i in range(25))
    client = make_client(world)
    h = login(client, "west_handler", PASSWORD)
    listed = client.get("/api/v1/notifications", params={"unread": "true", "limit": 20}, headers=h).json()
    assert len(listed) == 20 and {"kind", "details", "case_number"} <= set(listed[0])
    assert client.get("/api/v1/notifications/unread-count", headers=h).json() == {"unread": before + 25}
    assert client.post(f"/api/v1/notifications/{listed[0]['id']}/read", headers=h).status_code == 204
    assert client.get("/api/v1/notifications/unread-count", headers=h).json() == {"unread": before + 24}
    other = login(client, "east_handler", PASSWORD)
    assert client.get("/api/v1/notifications/unread-count", headers=other).json()["unread"] < before + 24


def test_a_unit_assisting_the_unit_it_heads_moves_its_own_part(world):
    """The west sub-centre assists its own workstation: its signature is its part, not the workstation's, and
    the lead is not offered a report it may not make yet."""
    cid = case_in(world, "filed")
    lead, sub = unit_id(world, f"W-{WEST}001"), unit_id(world, f"S-{WEST}")
    do(world, cid, "dispatch", lead_unit_id=lead, assisting_unit_ids=[sub])
    assert do(world, cid, "sign", Identity(roles=frozenset({"handler"}), unit_id=sub)) == "dispatched"
    with unit_of_work(world) as s:
        parts = {u.unit_id: u.status for u in s.scalars(select(CaseUnit).where(CaseUnit.case_id == cid))}
    assert parts == {lead: "dispatched", sub: "signed"}
    workstation = Identity(roles=frozenset({"handler"}), unit_id=lead)
    assert do(world, cid, "sign", workstation) == "in_progress"
    with unit_of_work(world) as s:
        case = s.get(Case, cid)
        offered = present.case_dict(s, case, workstation)["allowed_actions"]
    assert "report_done" not in offered and "return" in offered  # the sub-centre's part is still open
    do(world, cid, "report_done", Identity(roles=frozenset({"handler"}), unit_id=sub), note="已协调")
    assert do(world, cid, "report_done", workstation, note="已处理") == "disposed"


def test_rework_does_not_hand_back_a_part_that_was_returned(world):
    cid = case_in(world, "filed")
    lead, helper = unit_id(world, f"B-cm-{WEST}"), unit_id(world, f"S-{WEST}")
    do(world, cid, "dispatch", lead_unit_id=lead, assisting_unit_ids=[helper])
    town = Identity(roles=frozenset({"handler"}), unit_id=helper)
    do(world, cid, "return", town, reason="不属本单位")
    for action, payload in (("sign", {}), ("report_done", {"note": "好"}), ("request_check", {}),
                            ("check_failed", {"note": "未整改到位"})):
        do(world, cid, action, **payload)
    with unit_of_work(world) as s:
        parts = {u.unit_id: u.status for u in s.scalars(select(CaseUnit).where(CaseUnit.case_id == cid))}
    assert parts == {lead: "dispatched", helper: "returned"}


@pytest.mark.parametrize("odd", ["²10101199003074477", "１１0101199003074477"])
def test_id_numbers_take_ascii_digits_only(world, odd):
    client = make_client(world)
    body = {"matter_code": MATTER, "description": "x", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
            "channel": "hotline", "reporter": {"id_number": odd}}
    r = client.post("/api/v1/cases", json=body, headers=login(client, "receptionist", PASSWORD))
    assert r.status_code == 422 and "17 digits" in r.json()["detail"]


def test_a_report_rolled_back_in_a_savepoint_leaves_nothing_behind(world):
    """Cases go in with Core statements; a savepoint rolled back must take the case out of the session too."""
    from liandong.areas.index import GridIndex

    with unit_of_work(world) as s:
        index = GridIndex.build(s)
        with pytest.raises(RuntimeError), s.begin_nested():
            ghost, _ = intake.report(s, index, Identity(roles=frozenset({"receptionist"}), unit_id=None),
                                      matter_code=MATTER, description="回滚", lon=WEST_POINT[0], lat=WEST_POINT[1],
                                      channel="hotline")
            raise RuntimeError("the rest of the row failed")
        assert ghost not in s
        kept, _ = intake.report(s, index, Identity(roles=frozenset({"receptionist"}), unit_id=None),
                                 matter_code=MATTER, description="保留", lon=WEST_POINT[0], lat=WEST_POINT[1],
                                 channel="hotline")
        kept_id = kept.id
    with unit_of_work(world) as s:
        assert s.get(Case, kept_id).description == "保留"
        assert s.scalar(select(func.count()).select_from(Case).where(
            Case.description == "回滚")) == 0


def test_the_pages_get_refusals_in_their_language(world):
    """A page's own calls (Sec-Fetch-Site: same-origin) get the reason in the page's language, Chinese unless the
    English switch is on; API clients keep the English reason."""
    client = make_client(world)
    rec = login(client, "receptionist", PASSWORD)
    body = {"matter_code": MATTER, "description": "x", "lon": 120.0, "lat": 30.0, "channel": "hotline"}
    page = {**rec, "Sec-Fetch-Site": "same-origin"}
    zh = client.post("/api/v1/cases", json=body, headers=page).json()
    assert zh["detail"] == "该位置不在本区范围内，请在地图上重新选点" and "outside the district" in zh["detail_en"]
    unknown = client.post("/api/v1/cases", json={**body, "matter_code": "99999"}, headers=page).json()
    assert unknown["detail"] == "未知的问题类型 99999"
    client.cookies.set("liandong_lang", "en")
    assert "outside the district" in client.post("/api/v1/cases", json=body, headers=page).json()["detail"]
    client.cookies.clear()
    api = client.post("/api/v1/cases", json=body, headers=rec).json()
    assert "outside the district" in api["detail"] and "detail_en" not in api
    cid = case_in(world, "closed")
    refused = client.post(f"/api/v1/cases/{cid}/actions/accept", json={}, headers=page)
    assert refused.status_code == 409 and refused.json()["detail"] == "当前状态下不能执行该操作"
    assert refused.json()["allowed_actions"] == ["rate"]  # the page names these in its own words


def _refusal_codes(root: str) -> set[str]:
    """The codes the source under ``root`` gives its refusals: ``code=`` of a domain error raised, a
    ``Reason``'s code, and the default ``code`` of each error class defined there."""
    import ast
    import pathlib

    import liandong.app  # noqa: F401  (every module, so every error class, is loaded)
    from liandong.errors import DomainError

    def subclasses(cls):
        return {cls, *(c for sub in cls.__subclasses__() for c in subclasses(sub))}

    errors = {cls.__name__ for cls in subclasses(DomainError)}
    found = set()
    for path in pathlib.Path(root).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name in errors:
                    found |= {k.value.value for k in node.keywords
                              if k.arg == "code" and isinstance(k.value, ast.Constant)}
                elif name == "Reason" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                    found.add(node.args[1].value)
            elif isinstance(node, ast.ClassDef) and node.name in errors:
                found |= {n.value.value for n in node.body if isinstance(n, ast.Assign)
                          and isinstance(n.value, ast.Constant) and [ast.unparse(t) for t in n.targets] == ["code"]}
    return found


def test_the_pages_translate_refusals_by_code():
    """The pages translate a refusal by its machine code, not its English: every code they translate is one
    the server gives, and every code the case service gives has its translation."""
    from liandong.web import reasons

    given = _refusal_codes("src/liandong")
    assert not reasons.CODES - given, f"translated but never given: {reasons.CODES - given}"
    untranslated = _refusal_codes("src/liandong/cases") - reasons.CODES
    assert not untranslated, f"given by the case service without a translation: {untranslated}"


def test_one_extension_request_at_a_time_and_refusals_say_why(world):
    """While a request waits, asking again is not offered; a refusal for a stale page says so (``stale``), one
    for an action not possible now names only what the caller can do."""
    client = make_client(world)
    cid = case_in(world, "in_progress")
    squad = login(client, "cm_west", PASSWORD)
    asked = client.post(f"/api/v1/cases/{cid}/actions/request_extension",
                        json={"amount": 2, "unit": "day", "reason": "等配件"}, headers=squad).json()
    assert "request_extension" not in asked["allowed_actions"]
    disp = login(client, "dispatcher", PASSWORD)
    case = client.get(f"/api/v1/cases/{cid}", headers=disp).json()
    assert {"approve_extension", "reject_extension"} <= set(case["allowed_actions"])
    stale = client.post(f"/api/v1/cases/{cid}/actions/urge", json={"version": case["version"] - 1}, headers=disp)
    assert stale.status_code == 409 and stale.json()["stale"] is True
    assert client.post(f"/api/v1/cases/{cid}/actions/approve_extension", json={}, headers=disp).status_code == 200
    refused = client.post(f"/api/v1/cases/{cid}/actions/approve_extension", json={}, headers=disp)
    assert refused.status_code == 409 and "stale" not in refused.json()  # not a stale page: nothing waits
    assert "no extension request" in refused.json()["detail"]


def test_the_timeline_names_people_and_units(world):
    client = make_client(world)
    cid = case_in(world, "dispatched")  # acted on by a district user holding every role (boss), unit west squad
    disp = login(client, "dispatcher", PASSWORD)
    client.post(f"/api/v1/cases/{cid}/actions/urge", json={"note": "尽快"}, headers=disp)
    events = client.get(f"/api/v1/cases/{cid}/events", headers=disp).json()
    urge = events[-1]
    with unit_of_work(world) as s:
        me = s.scalar(select(User).where(User.username == "dispatcher"))
        name, unit = me.display_name, s.get(Unit, me.unit_id).name
    assert (urge["actor"], urge["actor_name"], urge["unit_name"]) == ("dispatcher", name, unit)
    assert events[0]["actor_name"] is None  # the report came from a system actor (no user id): the page names it
