"""A bulk job's planner statistics (``ops/vacuum.py``): on PostgreSQL the tables named are analysed (and vacuumed
when asked) outside any transaction, a table whose lock is held elsewhere is passed over; on SQLite nothing is
done."""

from __future__ import annotations

import threading

from sqlalchemy import text

from liandong.db import get_engine, unit_of_work
from liandong.ops import vacuum


def _pg(url: str, sql: str):
    with get_engine(url).connect() as conn:
        return conn.scalar(text(sql))


def test_tidy_analyses_and_vacuums_the_tables_on_postgresql(db_url):
    if not db_url.startswith("postgresql"):
        assert vacuum.tidy(db_url, ("meta",), vacuum=True) == 0.0
        return
    with unit_of_work(db_url) as s:
        s.execute(text("INSERT INTO meta (key, value) SELECT 'k' || g, 'v' FROM generate_series(1, 500) g"))
    vacuum.tidy(db_url, ("meta", "no_such_table"))  # a table not there is passed over
    rows = _pg(db_url, "SELECT count(*) FROM meta")
    # ANALYZE reads every row of a table this small: the planner's count is exact (before it, -1 or a guess)
    assert rows >= 500 and _pg(db_url, "SELECT reltuples FROM pg_class WHERE relname = 'meta'") == rows
    with unit_of_work(db_url) as s:
        s.execute(text("DELETE FROM meta WHERE key LIKE 'k%'"))
    vacuum.tidy(db_url, ("meta",), vacuum=True)
    assert _pg(db_url, "SELECT reltuples FROM pg_class WHERE relname = 'meta'") == rows - 500
    assert _pg(db_url, "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'meta'") >= 1


def test_a_name_is_looked_up_before_it_reaches_a_statement(db_url):
    vacuum.tidy(db_url, ('meta"; DROP TABLE cases; --',))
    assert _pg(db_url, "SELECT count(*) FROM cases") == 0  # still there


def test_a_table_locked_elsewhere_is_passed_over(db_url, monkeypatch):
    if not db_url.startswith("postgresql"):
        return
    monkeypatch.setattr(vacuum, "LOCK_TIMEOUT", "200ms")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with get_engine(db_url).begin() as conn:
            conn.execute(text("LOCK TABLE meta IN SHARE MODE"))
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        vacuum.tidy(db_url, ("meta", "cases"), vacuum=True)  # waiting for the holder, it would vacuum meta at last
        assert _pg(db_url, "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'cases'") >= 1
        assert _pg(db_url, "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'meta'") == 0
    finally:
        release.set()
        holder.join()
