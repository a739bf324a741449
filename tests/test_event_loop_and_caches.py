"""No async endpoint or dependency does database work on the event loop (a source scan, shown to
catch a planted one); the principal cache is told of a change only once it commits (a rollback tells it
nothing, and a lookup made before the commit does not outlive it); a citizen report merged into a closed case
can be rated, once, as the action table says."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from liandong.app import create_app
from liandong.auth import principals, service
from liandong.auth.models import User
from liandong.auth.principals import PrincipalCache
from liandong.cases import actions
from liandong.cases.models import Case
from liandong.config import Settings
from liandong.db import session_factory, unit_of_work, utcnow
from liandong.errors import Unauthorized
from liandong.intake import citizen
from liandong.units.models import Unit
from tests.caseworld import WEST_POINT, do, new_case, unit_id
from tests.factories import WEST

SRC = Path(__file__).resolve().parents[1] / "src" / "liandong"
THREAD_CALLS = frozenset({"to_thread", "run_in_threadpool", "run_sync", "_every"})
"""Calls that run the function they are given in a worker thread: what is handed to them may block (``_every``:
the app's background loops, ``asyncio.to_thread`` every so often — checked below)."""

ALLOWED = {
    # the request's unit of work: creating the session does no I/O; commit and rollback go to a thread (_in_thread)
    "auth/deps.py:_unit_of_work",
    # the unit of work's helper: in_transaction()/close() of a session that never began do no I/O; the rest is
    # sent to a thread (to_thread.run_sync)
    "auth/deps.py:_in_thread",
    # hands the unit of work's session on, touching nothing
    "auth/deps.py:get_session",
    # a cache hit needs no database; a miss is looked up in run_in_threadpool
    "auth/deps.py:optional_principal",
    # hands the request's session on, or opens the replica's in a thread (anyio.to_thread.run_sync(replica.open,
    # session, …)) and discards it in one (_in_thread)
    "auth/deps.py:_replica_read",
    # hands the session chosen by _replica_read on, touching nothing
    "auth/deps.py:read_session",
}
def _is_session_type(node: ast.expr | None) -> bool:
    return node is not None and any(
        (isinstance(n, ast.Name) and n.id == "Session") or (isinstance(n, ast.Attribute) and n.attr == "Session")
        or (isinstance(n, ast.Constant) and n.value == "Session") for n in ast.walk(node))


def _threaded_names(fn: ast.AST) -> set[str]:
    """Names of functions this one hands to a worker thread (``to_thread(f)``, ``run_in_threadpool(f, …)``)."""
    out = set()
    for call in ast.walk(fn):
        if not isinstance(call, ast.Call):
            continue
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
        if name in THREAD_CALLS:
            out |= {a.id for a in call.args if isinstance(a, ast.Name)}
    return out


def _blocking_reasons(fn: ast.AsyncFunctionDef) -> list[str]:
    """Why ``fn`` would touch the database on the event loop: a Session-typed parameter, or a use of a name
    ``session`` in its body (nested functions included, unless they are handed to a worker thread)."""
    args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
    reasons = [f"parameter {a.arg}: Session" for a in args if _is_session_type(a.annotation)]
    threaded = _threaded_names(fn)
    todo = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in threaded:
            continue  # runs in a thread
        if isinstance(node, ast.Name) and node.id == "session":
            reasons.append(f"uses session (line {node.lineno})")
        todo.extend(ast.iter_child_nodes(node))
    return reasons


def offenders_in(source: str, where: str) -> dict[str, list[str]]:
    """``where:function`` → reasons, for every async function of a module using FastAPI (its endpoints and
    dependencies, and anything they nest) that would block the loop on the database."""
    tree = ast.parse(source)
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef) and (reasons := _blocking_reasons(node)):
            out[f"{where}:{node.name}"] = reasons
    return out


def all_offenders() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if "fastapi" in text or "starlette" in text:
            out |= offenders_in(text, path.relative_to(SRC).as_posix())
    return out


def test_no_async_endpoint_does_database_work_on_the_loop():
    found = {k: v for k, v in all_offenders().items() if k not in ALLOWED}
    assert not found, f"async endpoints/dependencies doing database work on the event loop: {found}"


def test_the_allowances_are_still_needed():
    gone = ALLOWED - set(all_offenders())
    assert not gone, f"allowed but no longer an async function using a session: {gone}"


def test_the_scan_catches_a_planted_endpoint():
    planted = '''
@router.post("/x")
async def typed(body: bytes = Depends(_body), session: Session = Depends(get_session)):
    return {"ok": True}

@router.post("/y")
async def used(request: Request, db=Depends(get_session)):
    session = db
    def make():
        return service.query(session)
    return _answer(make)

@router.get("/z")
async def threaded(request: Request):
    def load():
        with request.app.state.sessionmaker() as session:
            return session.get(User, 1)
    return await asyncio.to_thread(load)

@router.get("/w")
def plain(session: Session = Depends(get_session)):
    return session.get(User, 1)
'''
    assert set(offenders_in(planted, "m.py")) == {"m.py:typed", "m.py:used"}


# --- the principal cache hears of a change after its commit ----------------------------------------------------

@pytest.fixture(scope="module")
def world(case_world):
    return case_world


def _changes(session, username: str, secret: str) -> None:
    """Every kind of change the cache must hear of: logout, roles, password, disabling, a unit's edit."""
    service.sign_out(session, secret)
    service.set_roles(session, username, ["inspector", "dispatcher"])
    service.set_password(session, username, "Another-Passw0rd!x")
    service.set_active(session, username, False)
    unit = session.scalar(select(Unit).where(Unit.code == f"B-cm-{WEST}"))
    unit.name = unit.name + " "
    session.flush()


def _token(url: str, username: str) -> str:
    with unit_of_work(url) as s:
        return service.issue_token(s, s.scalar(select(User).where(User.username == username)), "api")


def test_the_cache_hears_of_a_change_after_its_commit_and_not_of_a_rolled_back_one(world, monkeypatch):
    told = []
    monkeypatch.setattr(principals, "changed", lambda: told.append(1))
    factory = session_factory(world)
    secret = _token(world, "shift_leader")
    with factory() as s:
        _changes(s, "shift_leader", secret)
        assert told == []  # not before the commit
        s.rollback()
    assert told == []  # nothing changed: nothing to tell
    with factory() as s:
        _changes(s, "shift_leader", secret)
        assert told == []
        s.commit()
    assert told, "a committed change must reach the cache"


def test_a_lookup_made_before_the_commit_does_not_outlive_it(world):
    """Another thread looks the token up between the change and its commit: it reads the old, still committed
    state (the user active). Once the change commits, that entry must not be trusted any more."""
    cache, factory, now = PrincipalCache(3600), session_factory(world), utcnow()
    secret = _token(world, "inspector")
    digest = service.digest(secret)

    def load():
        with factory() as other:
            return service.identity_for_token(other, secret)

    writer = factory()
    try:
        service.set_active(writer, "inspector", False)
        writer.flush()
        assert cache.get(digest, now, load).username == "inspector"  # still active for everyone else
        writer.commit()
    finally:
        writer.close()
    try:
        assert cache.cached(digest, now) is None  # the entry loaded before the commit is stale now
        with pytest.raises(Unauthorized):
            cache.get(digest, now, load)
    finally:
        with unit_of_work(world) as s:
            service.set_active(s, "inspector", True)


# --- a merged citizen report whose master is closed can be rated --------------------------------------------------

FULL = ["accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"]


def test_a_merged_report_whose_master_is_closed_can_be_rated_once(world, tmp_path):
    client = TestClient(create_app(Settings(database_url=world, upload_dir=str(tmp_path), index_check_seconds=0)))
    master = new_case(world)
    r = client.post("/api/v1/public/reports", data={
        "matter_code": "06010", "description": "小区门口暴露垃圾", "lon": str(WEST_POINT[0]),
        "lat": str(WEST_POINT[1])})
    assert r.status_code == 201, r.text
    number, key = r.json()["number"], r.json()["key"]
    with unit_of_work(world) as s:
        mine = s.scalar(select(Case.id).where(Case.number == number))
    assert do(world, mine, "merge", master_id=master) == "merged"
    seen = client.get(f"/api/v1/public/reports/{number}", params={"key": key}).json()
    assert seen["can_rate"] is False  # the master is still open
    extra = {"report_done": {"note": "已清运"}, "dispatch": {"lead_unit_id": unit_id(world, f"B-cm-{WEST}")}}
    for action in FULL:
        do(world, master, action, **extra.get(action, {}))
    with unit_of_work(world) as s:
        assert s.get(Case, mine).state == "merged" and s.get(Case, master).state == "closed"
        assert "rate" in actions.allowed_for(s, s.get(Case, mine), citizen.CITIZEN)  # the table's own answer
    seen = client.get(f"/api/v1/public/reports/{number}", params={"key": key}).json()
    assert seen["stage"] == "closed" and seen["can_rate"] is True
    rating = {"key": key, "satisfaction": "satisfied"}
    done = client.post(f"/api/v1/public/reports/{number}/rating", json=rating)
    assert done.status_code == 200, done.text
    assert done.json()["satisfaction"] == "satisfied" and done.json()["can_rate"] is False
    again = client.post(f"/api/v1/public/reports/{number}/rating", json=rating)
    assert again.status_code == 422 and again.json()["code"] == "already_rated"


def test_the_app_s_background_loop_runs_its_work_in_a_thread():
    """``app._every`` is counted among the thread calls above: it must hand its function to a worker thread."""
    import inspect

    from liandong import app

    body = ast.parse(inspect.getsource(app._every))
    assert "once" in _threaded_names(body)
