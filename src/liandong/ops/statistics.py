"""PostgreSQL's planner statistics and visibility under a bulk writer (a simulated year, a migration of old cases).

A bulk job writes faster than autovacuum looks (and where autovacuum is off, nothing looks at all): the planner
then plans today's two million stage facts with the statistics of an empty table, and every running stage's
update leaves a dead index entry that later scans read again. Measured on a simulated year: 530 steps a second
before a ``VACUUM ANALYZE`` of the case tables, 1,900 after. Autovacuum never analyses a partitioned table's parent
either; ``ANALYZE`` on the parent does.

So a bulk job calls ``refresh`` between its transactions: ``ANALYZE`` often (it samples, so it costs about the same
at any size), ``VACUUM`` now and then (it skips the pages that did not change since its last run). On SQLite there
is nothing to do: its planner does not read statistics unless asked to, and the rows are rewritten in place.
"""

from __future__ import annotations

import time

from sqlalchemy import text

from liandong.db import get_engine

CASE_TABLES = ("cases", "case_events", "case_stage_facts", "case_units", "case_event_heads", "case_extensions")
"""The tables every step of a case writes."""


def refresh(url: str, tables: tuple[str, ...] = CASE_TABLES, vacuum: bool = False) -> float:
    """``ANALYZE`` (with ``vacuum``: ``VACUUM (ANALYZE)``) the tables that exist; returns the seconds it took (0 on
    SQLite). Runs outside any transaction, as VACUUM must: call it between a job's units of work."""
    engine = get_engine(url)
    if engine.dialect.name != "postgresql":
        return 0.0
    t = time.perf_counter()
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        there = set(conn.scalars(text("SELECT relname FROM pg_class WHERE relname = ANY(:names) AND relkind IN "
                                      "('r', 'p') AND pg_table_is_visible(oid)"), {"names": list(tables)}))
        for name in (t for t in tables if t in there):  # only names found as tables reach the statement
            conn.execute(text(f'{"VACUUM (ANALYZE)" if vacuum else "ANALYZE"} "{name}"'))
    return time.perf_counter() - t
