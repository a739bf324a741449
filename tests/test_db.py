"""Transactions: a savepoint's work goes when its transaction rolls back (pysqlite needs help for that); the
migrations build what the models describe; binary results give the same values; rows through the driver are stored
as SQLAlchemy stores them."""

import pytest
from sqlalchemy import LargeBinary, cast, func, literal, select
from sqlalchemy.exc import IntegrityError

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


def test_rows_through_the_driver_are_stored_as_sqlalchemy_stores_them(db_url):
    """``insert_values``: a row of the types the event log and the stage facts hold, written through the driver's
    executemany (COPY on PostgreSQL), reads back, column by column and as the database holds them (SQLite's datetime
    text, JSON text, booleans), equal to the same row written by SQLAlchemy — a Shanghai time,
    Chinese JSON, None in a JSON column and elsewhere."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from sqlalchemy import JSON, Boolean, Column, Float, Integer, MetaData, String, Table, text

    from liandong.db import UTCDateTime, get_engine, insert_values

    at = dt.datetime(2012, 3, 4, 8, 30, 1, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))
    table = Table("t_driver_rows", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime),
                  Column("gone", UTCDateTime), Column("body", JSON), Column("blank", JSON), Column("ok", Boolean),
                  Column("late", Boolean), Column("minutes", Float), Column("who", String(16)))
    row = {"at": at, "gone": None, "body": {"事": "占道经营", "n": 1.5, "l": [1, None]}, "blank": None, "ok": True,
           "late": False, "minutes": 12.25, "who": "甲"}
    engine = get_engine(db_url)
    table.drop(engine, checkfirst=True)
    table.create(engine)
    try:
        with unit_of_work(db_url) as s:
            s.execute(table.insert(), [row])
            insert_values(s, table, tuple(row), [tuple(row.values())])
        with unit_of_work(db_url) as s:
            names = ", ".join(row)
            raw = s.execute(text(f"SELECT {names} FROM t_driver_rows ORDER BY id")).all()
            typed = s.execute(select(*(table.c[k] for k in row)).order_by(table.c.id)).all()
        assert raw[0] == raw[1] and typed[0] == typed[1]
        assert typed[1].at == at and typed[1].body == row["body"] and typed[1].ok is True and typed[1].late is False
        with pytest.raises(IntegrityError), unit_of_work(db_url) as s:  # SQLAlchemy's error, COPY's too
            insert_values(s, table, ("id", *row), [(1, *row.values())])
        with unit_of_work(db_url) as s:
            assert s.scalar(select(func.count()).select_from(table)) == 2
    finally:
        table.drop(engine)


def test_a_copy_error_does_not_quote_the_row(db_url):
    """On PostgreSQL a COPY's error names the row it failed on (the server's CONTEXT quotes it whole when a row
    trigger ran, as on the event log): the error raised leaves that out, as an INSERT's does with its parameters
    hidden. It is still SQLAlchemy's IntegrityError with the server's code."""
    if not db_url.startswith("postgresql"):
        pytest.skip("COPY is PostgreSQL's; SQLite's executemany errors carry no values")
    from sqlalchemy import column, table, text

    from liandong.db import insert_many

    with unit_of_work(db_url) as s:
        s.execute(text("DROP TABLE IF EXISTS t_copy_guarded"))
        s.execute(text("CREATE TABLE t_copy_guarded (id int PRIMARY KEY, phone text)"))
        s.execute(text("CREATE OR REPLACE FUNCTION t_copy_pass() RETURNS trigger LANGUAGE plpgsql AS "
                       "$$ BEGIN RETURN NEW; END $$"))
        s.execute(text("CREATE TRIGGER t_copy_pass BEFORE INSERT ON t_copy_guarded FOR EACH ROW "
                       "EXECUTE FUNCTION t_copy_pass()"))
        s.execute(text("INSERT INTO t_copy_guarded VALUES (1, 'x')"))
    guarded = table("t_copy_guarded", column("id"), column("phone"))
    try:
        with pytest.raises(IntegrityError) as refused, unit_of_work(db_url) as s:
            insert_many(s, guarded, ("id", "phone"), [(1, "13800138000")])
        assert "13800138000" not in str(refused.value) and refused.value.orig.sqlstate == "23505"
        assert "Key (id)=(1)" in str(refused.value)  # the duplicate key is named, as an INSERT's error names it
        with pytest.raises(IntegrityError) as refused, unit_of_work(db_url) as s:  # NOT NULL: the row is not quoted
            insert_many(s, guarded, ("id", "phone"), [(None, "13800138000")])
        assert "13800138000" not in str(refused.value) and refused.value.orig.sqlstate == "23502"
    finally:
        with unit_of_work(db_url) as s:
            s.execute(text("DROP TABLE t_copy_guarded"))
            s.execute(text("DROP FUNCTION t_copy_pass()"))


def test_sqlite_datetime_text_is_sqlalchemys():
    """``UTCDateTime``'s own SQLite bind processor (``isoformat`` in C) gives the very text SQLAlchemy's DATETIME
    stores for the instant in UTC — the stored text is compared as text by SQL — for any zone, microseconds or none,
    and the first and last years; a naive datetime is refused as before."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from sqlalchemy.dialects import sqlite

    from liandong.db import UTCDateTime

    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    theirs = sqlite.DATETIME().bind_processor(dialect)
    moments = [dt.datetime(2012, 3, 4, 8, 30, 1, 123456, tzinfo=ZoneInfo("Asia/Shanghai")),
               dt.datetime(2012, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")),  # the UTC day before
               dt.datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York")),
               dt.datetime(1, 1, 2, 0, 0, 0, 5, tzinfo=dt.UTC), dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)]
    for at in moments:
        assert ours(at) == theirs(at.astimezone(dt.UTC)), at
    assert ours(None) is None
    with pytest.raises(ValueError):
        ours(dt.datetime(2012, 1, 1))
