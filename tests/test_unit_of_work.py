"""One unit of work per request (``auth/deps.py``): committed once, before the answer is sent; a commit the
database refuses is an error answer, never a success for data that was not stored; anything raised rolls
everything back; the session is gone before a streamed body runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from fastapi import Depends
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.exc import InvalidRequestError, OperationalError
from sqlalchemy.orm import Session

from liandong import audit
from liandong.app import create_app
from liandong.audit import AuditEntry
from liandong.auth.deps import ErrorAnswer, get_session
from liandong.cases.models import Notification
from liandong.config import Settings
from liandong.db import is_postgres, session_factory, unit_of_work
from liandong.errors import Conflict
from liandong.units.models import Unit
from tests.conftest import login
from tests.factories import PASSWORD, build_small_district


@pytest.fixture
def world(db_url) -> str:
    with unit_of_work(db_url) as s:
        build_small_district(s)
        unit_id = s.scalar(select(Unit.id).where(Unit.code == "C"))
        s.add(Notification(unit_id=unit_id, kind="urge", message="尽快处理 / please hurry"))
    return db_url


@pytest.fixture
def app(world):
    app = create_app(Settings(database_url=world, index_check_seconds=0))

    @app.post("/probe/{outcome}")
    def probe(outcome: str, session: Session = Depends(get_session)):
        """Writes one audit entry, then ends as ``outcome`` says."""
        audit.record(session, "probe", target=outcome)
        if outcome == "refused":
            raise Conflict("refused after writing")
        if outcome == "answered":
            raise ErrorAnswer(JSONResponse({"error": "in my own format"}, status_code=400))
        if outcome == "streamed":
            def body() -> Iterator[bytes]:  # runs while the answer is sent: the row must be stored by then
                yield str(probes(world, "streamed")).encode()
            return StreamingResponse(body(), media_type="text/plain")
        if outcome == "late":
            def late() -> Iterator[bytes]:  # a body that still wants the request's session
                yield b"start\n"
                yield str(session.scalar(select(func.count()).select_from(AuditEntry))).encode()
            return StreamingResponse(late(), media_type="text/plain")
        return {"ok": True}

    return app


def probes(url: str, outcome: str) -> int:
    with session_factory(url)() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "probe",
                                                                            AuditEntry.target == outcome))


def read_at(url: str) -> dt.datetime | None:
    with session_factory(url)() as s:
        return s.scalar(select(Notification.read_at))


@contextmanager
def at_commit(app, hook: Callable[[Session], None]) -> Iterator[None]:
    """Run ``hook`` in every commit of the app's sessions, between the endpoint's work and the COMMIT."""
    event.listen(app.state.sessionmaker, "before_commit", hook)
    try:
        yield
    finally:
        event.remove(app.state.sessionmaker, "before_commit", hook)


def refuse_writes_at_commit(session: Session) -> None:
    """The database turns read-only between the endpoint's work and its commit (a fail-over, a full disk)."""
    if is_postgres(session):
        session.connection().exec_driver_sql("SET TRANSACTION READ ONLY")
    else:
        session.connection().exec_driver_sql("PRAGMA query_only = ON")  # this connection only; the test's own


def test_a_normal_return_is_committed_before_the_answer_is_sent(app, world):
    client = TestClient(app)
    assert client.post("/probe/ok").json() == {"ok": True} and probes(world, "ok") == 1
    streamed = client.post("/probe/streamed")
    assert streamed.status_code == 200 and streamed.text == "1"  # stored before the first byte went out


def test_anything_raised_rolls_back_everything(app, world):
    client = TestClient(app)
    assert client.post("/probe/refused").status_code == 409
    answered = client.post("/probe/answered")
    assert answered.status_code == 400 and answered.json() == {"error": "in my own format"}
    assert probes(world, "refused") == probes(world, "answered") == 0


def test_the_session_is_gone_before_a_streamed_body_runs(app):
    """A body that reached for the request's session would hold a connection for the stream's whole life."""
    with pytest.raises(InvalidRequestError, match="permanently closed"):
        TestClient(app).post("/probe/late")


def test_a_commit_the_database_refuses_is_an_error_not_a_success(app, world):
    client = TestClient(app)
    auth = login(client, "dispatcher", PASSWORD)
    notice = client.get("/api/v1/notifications", headers=auth).json()[0]["id"]
    with at_commit(app, refuse_writes_at_commit):
        r = client.post(f"/api/v1/notifications/{notice}/read", headers=auth)
        probe = client.post("/probe/ok")
    assert r.status_code == probe.status_code == 503 and "nothing was saved" in r.json()["detail"]
    assert r.headers["Retry-After"]
    assert read_at(world) is None and probes(world, "ok") == 0


def test_a_unique_violation_at_commit_is_a_conflict(app, world):
    """Two requests passed the same check; the loser's insert fails only when its unit of work commits."""
    def twin(session: Session) -> None:
        if not session.info.get("twin"):
            session.info["twin"] = True
            session.add(Unit(code="C", name="twin", kind="centre", area_id=1))

    with at_commit(app, twin):
        r = TestClient(app).post("/probe/ok")
    assert r.status_code == 409 and "retry" in r.json()["detail"]
    assert probes(world, "ok") == 0


def test_a_serialisation_failure_at_commit_is_a_conflict(app, world):
    def lose(session: Session) -> None:
        raise OperationalError("COMMIT", None, psycopg.errors.SerializationFailure("could not serialize access"))

    with at_commit(app, lose):
        r = TestClient(app).post("/probe/ok")
    assert r.status_code == 409 and probes(world, "ok") == 0


def test_a_refused_login_stays_recorded_though_the_request_rolls_back(app, world):
    client = TestClient(app)
    assert client.post("/api/v1/auth/token", data={"username": "dispatcher", "password": "wrong"}).status_code == 401
    with session_factory(world)() as s:
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.actor == "dispatcher")) == "login_failed"
