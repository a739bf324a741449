"""A bulk job's planner statistics (``ops/statistics.py``): on PostgreSQL the tables named are analysed (and
vacuumed when asked) outside any transaction; on SQLite nothing is done."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from liandong.db import get_engine, unit_of_work
from liandong.ops import statistics


def _reltuples(url: str, table: str) -> float:
    with get_engine(url).connect() as conn:
        return conn.scalar(text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": table})


def test_refresh_analyses_and_vacuums_the_tables_on_postgresql(db_url):
    if not db_url.startswith("postgresql"):
        assert statistics.refresh(db_url, ("meta",), vacuum=True) == 0.0
        return
    with unit_of_work(db_url) as s:
        s.execute(text("INSERT INTO meta (key, value) SELECT 'k' || g, 'v' FROM generate_series(1, 500) g"))
    assert _reltuples(db_url, "meta") == -1  # never analysed: the planner guesses
    assert statistics.refresh(db_url, ("meta", "no_such_table")) > 0  # a table not there is passed over
    with get_engine(db_url).connect() as conn:
        rows = conn.scalar(text("SELECT count(*) FROM meta"))
    assert rows >= 500 and _reltuples(db_url, "meta") == rows
    with unit_of_work(db_url) as s:
        s.execute(text("DELETE FROM meta WHERE key LIKE 'k%'"))
    statistics.refresh(db_url, ("meta",), vacuum=True)
    with get_engine(db_url).connect() as conn:
        dead = conn.scalar(text("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'meta'"))
    assert _reltuples(db_url, "meta") == rows - 500 and dead == 0


@pytest.mark.parametrize("name", ['meta"; DROP TABLE cases; --'])
def test_refresh_takes_only_tables_that_exist(db_url, name):
    """A name is looked up before it is used in a statement: nothing but an existing table's name is run."""
    statistics.refresh(db_url, (name,))
    with get_engine(db_url).connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM cases")) == 0
