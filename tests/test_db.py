"""Transactions: a savepoint's work goes when its transaction rolls back (pysqlite needs help for that); the
migrations build what the models describe; binary results give the same values."""

import pytest
from sqlalchemy import LargeBinary, cast, func, literal, select

from liandong.areas.models import Meta
from liandong.db import BINARY, is_postgres, session_factory, unit_of_work


def test_savepoints_roll_back_with_their_transaction(db_url):
    with pytest.raises(RuntimeError), unit_of_work(db_url) as s:
        with s.begin_nested():  # the first statement of the transaction runs inside the savepoint
            s.add(Meta(key="inside", value="1"))
        s.add(Meta(key="outside", value="1"))
        s.flush()
        raise RuntimeError("the caller gives up")
    with unit_of_work(db_url) as s:
        assert s.scalar(select(func.count()).select_from(Meta).where(Meta.key.in_(("inside", "outside")))) == 0


def test_a_failed_savepoint_keeps_the_rest(db_url):
    session = session_factory(db_url)()
    try:
        session.add(Meta(key="kept", value="1"))
        session.flush()
        with pytest.raises(RuntimeError), session.begin_nested():
            session.add(Meta(key="dropped", value="1"))
            session.flush()
            raise RuntimeError("this row is bad")
        session.commit()
    finally:
        session.close()
    with unit_of_work(db_url) as s:
        assert set(s.scalars(select(Meta.key).where(Meta.key.in_(("kept", "dropped"))))) == {"kept"}


def test_sqlite_tables_rebuilt_by_migrations_keep_their_rows(tmp_path):
    """Batch migrations copy and drop tables that other rows point at (cases ← case_events): with data in
    them, down and up again must work and keep every row."""
    from alembic import command
    from sqlalchemy import text

    from liandong.db import alembic_config, dispose_engine, migrate
    from tests.caseworld import fill, new_case

    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate(url)
    fill(url)
    cid = new_case(url)
    command.downgrade(alembic_config(url), "0009")
    migrate(url)
    with unit_of_work(url) as s:
        assert s.execute(text("SELECT count(*) FROM case_events WHERE case_id = :c"), {"c": cid}).scalar() == 1
        assert s.execute(text("SELECT out_of_area FROM cases WHERE id = :c"), {"c": cid}).scalar() in (0, False)
        assert s.execute(text("PRAGMA foreign_key_check")).all() == []
    dispose_engine(url)


def test_the_migrations_build_the_tables_the_models_describe(db_url):
    """A model changed without its migration (or the other way round) shows here, on each backend."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import liandong.models  # noqa: F401  (every table registered on the metadata)
    from liandong.db import Base, get_engine

    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    from liandong.ops.partitions import expected_difference

    diff = [d for d in diff if not expected_difference(d)]  # PostgreSQL's partitions and what they ask of the tables
    assert diff == []


def test_binary_results_give_the_same_values(db_url):
    """``BINARY``: the same values either way; on PostgreSQL the result really came in binary."""
    blob = bytes(range(256)) * 1000
    stmt = select(cast(literal(blob), LargeBinary), literal("路"), literal(7))
    with unit_of_work(db_url) as s:
        plain = s.execute(stmt).one()
        result = s.execute(stmt.execution_options(**{BINARY: True}))
        if is_postgres(s):
            assert result.cursor.pgresult.fformat(0) == 1  # 1: binary
        assert tuple(result.one()) == tuple(plain) == (blob, "路", 7)
