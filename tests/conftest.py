"""Test fixtures: every test runs on SQLite, and on PostgreSQL when a server is reachable.

PostgreSQL: ``LIANDONG_TEST_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``) names
a server and a database to connect to; each test session creates its own scratch databases there and
drops them afterwards, so no test relies on earlier state.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

# cheap password hashing for tests; set before liandong reads its settings
os.environ.setdefault("LIANDONG_ARGON2_TIME_COST", "1")
os.environ.setdefault("LIANDONG_ARGON2_MEMORY_KIB", "1024")
os.environ.setdefault("LIANDONG_ARGON2_PARALLELISM", "1")
os.environ.setdefault("LIANDONG_INDEX_CHECK_SECONDS", "0")
os.environ.setdefault("LIANDONG_PARTITION_CHECK_MINUTES", "0")  # the app's partition job only where a test asks
os.environ.setdefault("LIANDONG_LOG_LEVEL", "warning")  # a line per request only where a test reads the logs
# most tests report the same problem at the same point again and again on purpose: duplicate detection is
# off unless a test turns it on (tests/test_dedupe.py)
os.environ.setdefault("LIANDONG_DEDUPE_AUTO", "9")
os.environ.setdefault("LIANDONG_DEDUPE_REVIEW", "9")

import httpx._config  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from liandong.config import Settings, get_settings  # noqa: E402
from liandong.db import dispose_engine, migrate, unit_of_work  # noqa: E402

get_settings.cache_clear()

# httpx waits 5 s for an answer by default; on a loaded two-core CI machine a local request to a test server has
# once stalled longer than that, and a test that asserts nothing about time failed. Every plain httpx call and every
# client made after this copies this default object (httpx 0.28), so it is widened here, once: reading the answer
# and sending a large upload may take a minute; a real hang still fails, later.
httpx._config.DEFAULT_TIMEOUT_CONFIG.read = httpx._config.DEFAULT_TIMEOUT_CONFIG.write = 60.0

PG_ADMIN_URL = os.environ.get("LIANDONG_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
_pg_status: dict[str, str | None] = {}


def postgres_unavailable() -> str | None:
    """None when PostgreSQL answers, else the reason (reported in the skip message)."""
    if "reason" not in _pg_status:
        try:
            engine = create_engine(_psycopg(PG_ADMIN_URL), connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_status["reason"] = None
        except Exception as exc:  # any connection problem means: skip, and say why
            _pg_status["reason"] = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}: {exc}"
    return _pg_status["reason"]


def _psycopg(url: str) -> str:
    u = make_url(url)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def create_pg_database() -> str:
    name = f"liandong_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_psycopg(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(_psycopg(PG_ADMIN_URL)).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    dispose_engine(url)
    name = make_url(url).database
    admin = create_engine(_psycopg(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_database(backend: str, tmp_path_factory) -> Iterator[str]:
    if backend == "postgresql":
        reason = postgres_unavailable()
        if reason:
            pytest.skip(reason)
        url = create_pg_database()
        try:
            migrate(url)
            yield url
        finally:
            drop_pg_database(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'liandong.db'}"
        migrate(url)
        yield url
        dispose_engine(url)


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path_factory) -> Iterator[str]:
    """An empty, migrated database per test, on each backend."""
    yield from fresh_database(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=BACKENDS)
def small_db(request, tmp_path_factory) -> Iterator[str]:
    """The small test district (tests/factories.py), built once per module and backend; read-only use."""
    from tests.factories import build_small_district

    for url in fresh_database(request.param, tmp_path_factory):
        with unit_of_work(url) as session:
            build_small_district(session)
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def case_world(request, tmp_path_factory) -> Iterator[str]:
    """tests/caseworld.py's district, catalogue and users, once per module and backend."""
    from tests.caseworld import fill

    for url in fresh_database(request.param, tmp_path_factory):
        fill(url)
        yield url


def make_client(url: str):
    from fastapi.testclient import TestClient

    from liandong.app import create_app

    return TestClient(create_app(Settings(database_url=url, index_check_seconds=0)))


def login(client, username: str, password: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def pytest_report_header(config) -> str:
    reason = postgres_unavailable()
    if reason:
        return f"PostgreSQL: NOT reachable — PostgreSQL variants of the tests are SKIPPED ({reason})"
    return f"PostgreSQL: reachable at {PG_ADMIN_URL} — every database test also runs on PostgreSQL"


def pytest_terminal_summary(terminalreporter) -> None:
    reason = postgres_unavailable()
    if reason:
        terminalreporter.write_line(f"NOTE: PostgreSQL tests were skipped: {reason}", yellow=True)
