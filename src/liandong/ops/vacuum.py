"""PostgreSQL's planner statistics and visibility under a bulk writer (a simulated year, a migration of old cases).

A bulk job writes faster than autovacuum looks (and where autovacuum is off, nothing looks at all): the planner
then plans today's two million stage facts with the statistics of an empty table, and every running stage's
update leaves a dead index entry that later scans read again. Measured on a simulated year: 530 steps a second
before a ``VACUUM ANALYZE`` of the case tables, 1,900 after. Autovacuum never analyses a partitioned table's parent
either; ``ANALYZE`` on the parent does.

So a bulk job calls ``tidy`` between its transactions: ``ANALYZE`` (it samples, so it costs about the same at any
size), with ``VACUUM`` (it skips the pages that did not change since its last run). On SQLite there is nothing to
do: its planner does not read statistics unless asked to, and the rows are rewritten in place.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from liandong.db import get_engine, is_postgres

log = logging.getLogger(__name__)

CASE_TABLES = ("cases", "case_events", "case_stage_facts", "case_units", "case_event_heads", "case_extensions")
"""The tables every step of a case writes."""
LOCK_TIMEOUT = "5s"
"""How long a table's turn waits for its lock (a ``facts rebuild`` holds the event log for minutes): it is passed
over, not waited for — the next turn takes it."""


def tidy(url: str, tables: tuple[str, ...] = CASE_TABLES, vacuum: bool = False) -> float:
    """``ANALYZE`` (with ``vacuum``: ``VACUUM (ANALYZE)``) the tables that exist; returns the seconds it took (0 on
    SQLite). Runs outside any transaction, as VACUUM must: call it between a job's units of work."""
    engine = get_engine(url)
    if not is_postgres(engine):
        return 0.0
    t = time.perf_counter()
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT}'"))
        there = set(conn.scalars(text("SELECT relname FROM pg_class WHERE relname = ANY(:names) AND relkind IN "
                                      "('r', 'p') AND pg_table_is_visible(oid)"), {"names": list(tables)}))
        quote = conn.dialect.identifier_preparer.quote
        for name in (t for t in tables if t in there):  # only names found as tables reach the statement, quoted
            try:
                conn.execute(text(f"{'VACUUM (ANALYZE)' if vacuum else 'ANALYZE'} {quote(name)}"))
            except OperationalError as exc:  # its lock not granted in time: passed over this turn
                log.warning("statistics of %s not taken: %s", name, exc.orig)
        conn.execute(text("RESET lock_timeout"))
    return time.perf_counter() - t
