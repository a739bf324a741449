"""partitioned history: on PostgreSQL the event log and the stage facts are partitioned by month

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-03 14:00:00

Nothing changes on SQLite (one file, one machine: nothing to prune or archive by the month).

On PostgreSQL both tables become ``PARTITION BY RANGE`` with one partition a month (months of the district's
time zone, ``LIANDONG_TIMEZONE``, so a month's or a year's figures read whole partitions), plus a DEFAULT
partition that takes whatever no month holds (history imported from long ago, a month not created ahead);
``liandong partitions ensure`` creates months ahead and moves rows out of the default one
(``liandong/ops/partitions.py``).

The partition keys, and why:

- ``case_events`` by ``at``, the event's time: never changes (the log is append-only), never null, and what
  every figure over the log filters on (``at`` in a period), so those read only the period's months; archiving
  a month takes exactly the events of that month.
- ``case_stage_facts`` by ``ended_at``: every period figure over the facts reads the stages *ended* in it; a
  running stage (``ended_at`` null) lives in the DEFAULT partition, which is where the event path looks for a
  case's running stage (``ended_at IS NULL`` prunes to it), and moves to its month when it ends (an UPDATE that
  moves the row; PostgreSQL does it as a delete and an insert). ``started_at`` was the other candidate: it never
  changes, but no figure could prune on it, and archiving by it would take stages that ended months later.

A partitioned table's primary key and unique constraints must contain the partition key, so:

- ``case_events``: the primary key becomes (id, at); ids still come from the same sequence, so ``id`` stays
  unique in practice (the live feed reads ``id > cursor``). The unique (case_id, seq) cannot be declared any
  more, and it is the only guard for the events that leave the case row alone (photos, channel follow-ups,
  incident links) and the first one hit by two concurrent actions (the event is inserted before the case row's
  version is flushed). It is kept by a trigger, ``case_events_number_guard``, and a small table of each case's
  last event number, ``case_event_heads`` (case_id primary key, seq): before each insert the trigger moves the
  case's head to the new number, and only forward (``INSERT ... ON CONFLICT DO UPDATE ... WHERE head < new``);
  when nothing moved, the number is taken and it raises ``unique_violation`` naming ``uq_case_events_case_id`` —
  what the unique index raised before, so callers (IntegrityError → 409, retry) see no difference. The upsert
  locks the head row, so concurrent writers of one case queue on it and the second re-checks the head the first
  committed (READ COMMITTED, the app's level). The guard costs one primary-key upsert per event, whatever the
  months kept (reading a case's last number, ``cases/log.py`` and ``cases/batch.py``, still looks in each month's
  (case_id, seq) index; a first version of the guard probed that index of every partition: 554 µs an insert at
  28 months, against 110 µs without a guard). Numbers must therefore rise within a case, which every writer does
  (the next number is the last plus one; a batch appends a case's events in order).
- ``case_stage_facts``: no primary key in the database (``ended_at`` may be null, and key columns may not);
  ``id`` keeps an index, the model keeps ``id`` as the ORM's key. The unique (case_id, seq) becomes a plain
  index: facts are only written right after an event of the same case in the same transaction (or by
  ``facts rebuild`` under a SHARE lock on the event log), so the event guard's lock on the case's head already
  serialises every writer of a case's facts.
- Foreign keys: nothing points at either table (checked: no ``ForeignKey`` to them); their own foreign keys to
  ``cases`` are declared on the partitioned tables and hold on every partition.
- The append-only trigger of the log is declared on the partitioned table (every partition gets it).

The conversion (each table): lock it, rename it aside, create the partitioned table ``LIKE`` it, create a month
partition for every month that holds rows and from this month to three months ahead, copy the rows, build the
indexes (on the parent: each partition gets its own), foreign key and triggers, hand the id sequence over to the
new table, drop the old one. Downgrade copies the rows back into plain tables with the old constraints.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from alembic import op
from sqlalchemy import text

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

AHEAD = 3
"""Months created ahead of the present by the migration (``liandong partitions ensure`` keeps them ahead)."""

TABLES = {
    "case_events": {"key": "at", "fk": ("fk_case_events_case_id_cases", "RESTRICT")},
    "case_stage_facts": {"key": "ended_at", "fk": ("fk_case_stage_facts_case_id_cases", "CASCADE")},
}

GUARD = """
CREATE TABLE case_event_heads (
    case_id integer PRIMARY KEY REFERENCES cases (id) ON DELETE CASCADE,
    seq integer NOT NULL
);
INSERT INTO case_event_heads SELECT case_id, max(seq) FROM case_events GROUP BY case_id;
CREATE FUNCTION case_events_number_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- the case's head moves forward to the new number, or the number is taken (the upsert locks the head row)
    INSERT INTO case_event_heads AS h (case_id, seq) VALUES (NEW.case_id, NEW.seq)
        ON CONFLICT (case_id) DO UPDATE SET seq = EXCLUDED.seq WHERE h.seq < EXCLUDED.seq;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_case_events_case_id',
            MESSAGE = 'duplicate key value violates unique constraint "uq_case_events_case_id"',
            DETAIL = format('Key (case_id, seq)=(%s, %s) already exists.', NEW.case_id, NEW.seq);
    END IF;
    RETURN NEW;
END $$
"""


def _tz() -> zoneinfo.ZoneInfo:
    from liandong.config import get_settings

    return zoneinfo.ZoneInfo(get_settings().timezone)


def _month(t: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    local = t.astimezone(tz)
    return dt.datetime(local.year, local.month, 1, tzinfo=tz)


def _next(m: dt.datetime) -> dt.datetime:
    return dt.datetime(m.year + (m.month == 12), m.month % 12 + 1, 1, tzinfo=m.tzinfo)


def _indexes(conn, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's plain indexes (not those behind a primary key or a unique constraint)."""
    return [tuple(r) for r in conn.execute(text(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = CAST(:t AS regclass) AND NOT x.indisunique AND NOT x.indisprimary ORDER BY 1"),
        {"t": table})]


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    tz = _tz()
    now = dt.datetime.now(dt.UTC)
    op.execute(GUARD)
    for table, spec in TABLES.items():
        key, old = spec["key"], f"{table}_unpartitioned"
        op.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        indexes = [(name, sql.split(" USING ", 1)[1]) for name, sql in _indexes(conn, table)
                   if name != f"ix_{table}_case_id"]  # (case_id, seq) below serves what it served
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE")
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT pk_{table}")
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT uq_{table}_case_id")
        for name, _ in indexes:
            op.execute(f"DROP INDEX {name}")
        op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
                   f"PARTITION BY RANGE ({key})")
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        months = {_month(r[0], tz) for r in conn.execute(text(
            f"SELECT DISTINCT date_trunc('month', {key}, :tz) FROM {old} WHERE {key} IS NOT NULL"),
            {"tz": tz.key})}
        m = _month(now, tz)
        for _ in range(AHEAD + 1):
            months.add(m)
            m = _next(m)
        for m in sorted(months):
            op.execute(f"CREATE TABLE {table}_p{m:%Y%m} PARTITION OF {table} "
                       f"FOR VALUES FROM ('{m.isoformat()}') TO ('{_next(m).isoformat()}')")
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
        if table == "case_events":
            op.execute("ALTER TABLE case_events ADD CONSTRAINT pk_case_events PRIMARY KEY (id, at)")
        else:
            op.execute(f"CREATE INDEX ix_{table}_id ON {table} (id)")
        op.execute(f"CREATE INDEX ix_{table}_case_id_seq ON {table} (case_id, seq)")
        for name, using in indexes:
            op.execute(f"CREATE INDEX {name} ON {table} USING {using}")
        fk, on_delete = spec["fk"]
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT {fk}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {fk} FOREIGN KEY (case_id) REFERENCES cases (id) "
                   f"ON DELETE {on_delete}")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
        op.execute(f"DROP TABLE {old}")
    op.execute("CREATE TRIGGER case_events_no_change BEFORE UPDATE OR DELETE ON case_events "
               "FOR EACH ROW EXECUTE FUNCTION case_events_append_only()")
    op.execute("CREATE TRIGGER case_events_number_guard BEFORE INSERT ON case_events "
               "FOR EACH ROW EXECUTE FUNCTION case_events_number_guard()")
    for table in TABLES:
        op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table, spec in TABLES.items():
        old = f"{table}_partitioned"
        op.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        indexes = [(name, sql.split(" USING ", 1)[1]) for name, sql in _indexes(conn, table)
                   if name not in (f"ix_{table}_id", f"ix_{table}_case_id_seq")]
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE")
        op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
        op.execute(f"DROP TABLE {old} CASCADE")  # its partitions, indexes, triggers and foreign key
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT uq_{table}_case_id UNIQUE (case_id, seq)")
        if table == "case_events":
            op.execute("CREATE INDEX ix_case_events_case_id ON case_events (case_id)")
        for name, using in indexes:
            op.execute(f"CREATE INDEX {name} ON {table} USING {using}")
        fk, on_delete = spec["fk"]
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {fk} FOREIGN KEY (case_id) REFERENCES cases (id) "
                   f"ON DELETE {on_delete}")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    op.execute("DROP FUNCTION case_events_number_guard()")
    op.execute("DROP TABLE case_event_heads")
    op.execute("CREATE TRIGGER case_events_no_change BEFORE UPDATE OR DELETE ON case_events "
               "FOR EACH ROW EXECUTE FUNCTION case_events_append_only()")
