"""Monthly partitions of the history on PostgreSQL: made ahead, archived and dropped when old.

Migration 0031 partitions ``case_events`` by ``at`` and ``case_stage_facts`` by ``ended_at`` (its docstring
says why), one partition per month of the district's time zone and a DEFAULT partition for everything else
(running stages, whose ``ended_at`` is null; history imported from months that have no partition).

- ``ensure`` creates the months from this one to ``ahead`` months on, and gives every month that has rows in
  the DEFAULT partition its own partition, moving the rows (so an old imported year is pruned like the rest).
  The deadline sweep may call it; ``liandong partitions ensure`` runs it by hand.
- ``archive`` exports each month partition older than the months to keep to ``DIR/<partition>.csv.gz``
  (``COPY`` in one REPEATABLE READ snapshot, read back and counted), records it in ``DIR/manifest.json``
  (rows, SHA-256), and with ``drop=True`` detaches and drops it — only when its archive is there, intact and
  holds as many rows as the partition does at that moment; anything else is refused and nothing is dropped.
- ``restore`` loads an archived month back as its partition.

What archiving means for the figures: every period figure reads the event log (``at`` in the period) and the
stage facts (``ended_at`` in the period), so once a month is dropped, its events and the stages ended in it are
gone from the assessment, the annual report and the on-time rates of any period that covers it — a dropped year
reads as empty. The case rows stay (the case list and search still find old cases), but a case page shows its
timeline only from the oldest month kept, and ``liandong facts rebuild`` (which replays the log) leaves the
stored stages of a case whose report event was archived as they are (it cannot derive them from what is left).
Restore the months first to report on them.

Nothing here touches SQLite: there the tables are plain and every function refuses with a clear message.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import os
import re
import zoneinfo
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from liandong.config import get_settings
from liandong.errors import DomainError

TABLES = {"case_events": "at", "case_stage_facts": "ended_at"}
"""The partitioned tables and their partition keys."""
AHEAD = 3
MANIFEST = "manifest.json"
_NAME = re.compile(r"^(case_events|case_stage_facts)_p(\d{4})(\d{2})$")
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


class PartitionError(DomainError):
    """A partition command that cannot be done; nothing was dropped (the CLI exits non-zero)."""

    code = "partitions"


@dataclasses.dataclass(frozen=True)
class Partition:
    table: str
    name: str
    lo: dt.datetime | None
    """Inclusive lower bound; None for the DEFAULT partition."""
    hi: dt.datetime | None
    rows: int
    """Estimated from the statistics (``reltuples``; exact counts are taken where it matters)."""

    @property
    def default(self) -> bool:
        return self.lo is None


# --- months ------------------------------------------------------------------------------------------

def zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(get_settings().timezone)


def month_of(t: dt.datetime, tz: zoneinfo.ZoneInfo | None = None) -> dt.datetime:
    """The start of the district month ``t`` falls in."""
    tz = tz or zone()
    local = t.astimezone(tz)
    return dt.datetime(local.year, local.month, 1, tzinfo=tz)


def add_months(m: dt.datetime, n: int) -> dt.datetime:
    k = m.year * 12 + m.month - 1 + n
    return dt.datetime(k // 12, k % 12 + 1, 1, tzinfo=m.tzinfo)


def partition_name(table: str, month: dt.datetime) -> str:
    return f"{table}_p{month:%Y%m}"


# --- reading the catalogue ---------------------------------------------------------------------------

def is_partitioned(conn: Connection) -> bool:
    """Whether the history is partitioned here (PostgreSQL at migration 0031 or later)."""
    if conn.dialect.name != "postgresql":
        return False
    return conn.execute(text("SELECT relkind FROM pg_class WHERE oid = to_regclass('case_events')")).scalar() == "p"


def require(conn: Connection) -> None:
    """Refuse, saying why, where nothing is partitioned."""
    if conn.dialect.name != "postgresql":
        raise PartitionError("partitions exist only on PostgreSQL; on SQLite the history is one plain table")
    if not is_partitioned(conn):
        raise PartitionError("the history is not partitioned yet: run `liandong migrate` first")


def _when(literal: str) -> dt.datetime:
    # PostgreSQL prints '2026-11-30 16:00:00+00' (offset without minutes)
    if re.search(r"[+-]\d{2}$", literal):
        literal += ":00"
    return dt.datetime.fromisoformat(literal)


def partitions(conn: Connection, table: str) -> list[Partition]:
    """The partitions of ``table``, oldest first, the DEFAULT one last; bounds in the district's time zone."""
    tz = zone()
    rows = conn.execute(text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0)::bigint "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST(:t AS regclass)"), {"t": table}).all()
    out = []
    for name, bound, n in rows:
        found = _BOUNDS.search(bound)
        lo, hi = (_when(found.group(1)).astimezone(tz), _when(found.group(2)).astimezone(tz)) if found else (None, None)
        out.append(Partition(table, name, lo, hi, int(n)))
    return sorted(out, key=lambda p: (p.default, p.lo or dt.datetime.min.replace(tzinfo=dt.UTC)))


def _columns(conn: Connection, table: str) -> list[str]:
    return list(conn.execute(text("SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
                                  "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"), {"t": table}).scalars())


def _count(conn: Connection, name: str) -> int:
    return int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar())


# --- making months -----------------------------------------------------------------------------------

LOCK = "SELECT pg_advisory_xact_lock(hashtext('liandong.partitions'))"
"""Taken by everything that changes the partitions (make, drop, restore): one at a time, so that no two of them
lock the parent and the DEFAULT partition in opposite orders (a deadlock)."""


def ensure(conn: Connection, now: dt.datetime, ahead: int = AHEAD, since: dt.datetime | None = None) -> list[str]:
    """Create the partitions from ``now``'s month (or ``since``'s, before loading old history) to ``ahead``
    months on, and one for every month that has rows in a DEFAULT partition (moving them there). Returns the
    partitions created. The caller commits; creating a partition locks its table for a moment (and moving rows
    out of the DEFAULT partition, while it lasts)."""
    require(conn)
    if not 0 <= ahead <= 120:
        raise PartitionError("ahead must lie between 0 and 120 months")
    conn.execute(text(LOCK))
    return _make(conn, now, ahead, since, move=True)


def make_coming(conn: Connection, now: dt.datetime) -> list[str]:
    """The running app's hourly job: create the coming months that are missing, and nothing more. It never waits:
    skipped while another process holds the partitions' lock, given up after 2 s waiting for a table's lock (a long
    report reading the history), and a month whose rows already sit in the DEFAULT partition is left to
    ``liandong partitions ensure``, which moves them while every writer of the history waits."""
    if not is_partitioned(conn):
        return []
    if not conn.execute(text("SELECT pg_try_advisory_xact_lock(hashtext('liandong.partitions'))")).scalar():
        return []
    conn.execute(text("SET LOCAL lock_timeout = '2s'"))
    conn.execute(text("SET LOCAL statement_timeout = '30s'"))
    return _make(conn, now, AHEAD, None, move=False)


def _make(conn: Connection, now: dt.datetime, ahead: int, since: dt.datetime | None, move: bool) -> list[str]:
    tz = zone()
    first, this = month_of(since or now, tz), month_of(now, tz)
    if first > this:
        raise PartitionError("since must not lie after this month")
    span = (this.year - first.year) * 12 + this.month - first.month + ahead
    created = []
    for table, key in TABLES.items():
        have = {p.lo for p in partitions(conn, table) if not p.default}
        wanted = {add_months(first, i) for i in range(span + 1)}
        if move:
            wanted |= {month_of(r[0], tz) for r in conn.execute(text(
                f'SELECT DISTINCT date_trunc(\'month\', {key}, :tz) FROM "{table}_default" WHERE {key} IS NOT NULL'),
                {"tz": tz.key})}
        for month in sorted(m for m in wanted if m not in have):
            if _create(conn, table, key, month, move):
                created.append(partition_name(table, month))
    return created


def _create(conn: Connection, table: str, key: str, month: dt.datetime, move: bool = True) -> bool:
    """Make a month's partition; False when its rows sit in the DEFAULT partition and ``move`` is off."""
    name, lo, hi = partition_name(table, month), month.isoformat(), add_months(month, 1).isoformat()
    bounds = f"FROM ('{lo}') TO ('{hi}')"
    default = f"{table}_default"
    moving = conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{default}" WHERE {key} >= :lo AND {key} < :hi)'),
                          {"lo": month, "hi": add_months(month, 1)}).scalar()
    if not moving:
        conn.execute(text(f'CREATE TABLE "{name}" PARTITION OF {table} FOR VALUES {bounds}'))
        return True
    if not move:
        return False
    # PostgreSQL refuses a partition for rows the DEFAULT one holds: take the DEFAULT one out (its cloned
    # triggers go with it, so the append-only log lets the rows move), move them, put both in
    conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {default}"))
    conn.execute(text(f'CREATE TABLE "{name}" (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'))
    where = f"{key} >= '{lo}' AND {key} < '{hi}'"
    conn.execute(text(f'INSERT INTO "{name}" SELECT * FROM {default} WHERE {where}'))
    conn.execute(text(f"DELETE FROM {default} WHERE {where}"))
    conn.execute(text(f'ALTER TABLE "{name}" ADD CONSTRAINT "{name}_bounds" CHECK ({key} IS NOT NULL AND {where})'))
    conn.execute(text(f'ALTER TABLE {table} ATTACH PARTITION "{name}" FOR VALUES {bounds}'))
    conn.execute(text(f'ALTER TABLE "{name}" DROP CONSTRAINT "{name}_bounds"'))
    conn.execute(text(f"ALTER TABLE {table} ATTACH PARTITION {default} DEFAULT"))
    return True


# --- archiving ----------------------------------------------------------------------------------------

def cutoff(now: dt.datetime, keep_months: int) -> dt.datetime:
    """The start of the oldest month kept: ``keep_months`` whole months before this one."""
    if keep_months < 1:
        raise PartitionError("keep at least one month before this one (--keep-months 1 or more)")
    return add_months(month_of(now), -keep_months)


def due(conn: Connection, before: dt.datetime) -> list[Partition]:
    """Month partitions that end on or before ``before`` (both tables), oldest first."""
    require(conn)
    return sorted((p for t in TABLES for p in partitions(conn, t) if not p.default and p.hi <= before),
                  key=lambda p: (p.lo, p.table))


def straddling(conn: Connection, before: dt.datetime) -> int:
    """Cases opened before ``before`` and closed after it or still open: archiving up to ``before`` leaves them
    with a timeline that begins at ``before`` (the CLI warns)."""
    return int(conn.execute(text("SELECT count(*) FROM cases WHERE created_at < :b AND "
                                 "(closed_at IS NULL OR closed_at >= :b)"), {"b": before}).scalar())


def read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.exists():
        return {"partitions": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def _write_manifest(directory: Path, manifest: dict) -> None:
    tmp = directory / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    os.replace(tmp, directory / MANIFEST)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _records(path: Path) -> int:
    """Rows in an archive file (CSV records less the header; a payload may hold a line break)."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def export(engine: Engine, part: Partition, directory: Path) -> dict:
    """Write ``part`` to ``directory/<name>.csv.gz`` from one snapshot and check the file: its records are
    counted back against the rows read in that snapshot. Returns the manifest entry."""
    directory.mkdir(parents=True, exist_ok=True)
    target, tmp = directory / f"{part.name}.csv.gz", directory / f".{part.name}.csv.gz.tmp"
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            rows = _count(conn, part.name)
            cursor = conn.connection.driver_connection.cursor()
            with gzip.open(tmp, "wb", compresslevel=6) as out, cursor.copy(
                    f'COPY (SELECT * FROM "{part.name}" ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)') as cp:
                for block in cp:
                    out.write(block)
    written = _records(tmp)
    if written != rows:
        tmp.unlink()
        raise PartitionError(f"{part.name}: the archive holds {written} rows, the partition {rows}; nothing kept")
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return {"table": part.table, "lo": part.lo.isoformat(), "hi": part.hi.isoformat(), "rows": rows,
            "file": target.name, "sha256": _sha256(target),
            "archived_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "dropped_at": None}


def archive(engine: Engine, directory: Path, before: dt.datetime, drop: bool = False) -> list[dict]:
    """Export every month partition older than ``before`` not already archived intact, and with ``drop``,
    drop each one whose archive checks out. Returns one line per partition: name, rows, what was done."""
    with engine.begin() as conn:
        parts = due(conn, before)
    manifest = read_manifest(directory)
    done = []
    for part in parts:
        entry = manifest["partitions"].get(part.name)
        if entry is not None and entry["rows"] != _exact(engine, part.name):
            entry = None  # rows came in after it was archived: archive it again
        if entry is None or not _intact(directory, entry):
            entry = manifest["partitions"][part.name] = export(engine, part, directory)
            _write_manifest(directory, manifest)
            action = "archived"
        else:
            action = "already archived"
        if drop:
            drop_partition(engine, directory, part.name)
            action += ", dropped"
        done.append({"partition": part.name, "rows": entry["rows"], "file": entry["file"], "done": action})
    return done


def _exact(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return _count(conn, name)


def _intact(directory: Path, entry: dict) -> bool:
    path = directory / entry["file"]
    return path.exists() and _sha256(path) == entry["sha256"]


FACTS_GENERATION = "stage_facts_generation"
"""``cases/facts.GENERATION`` (which ops may not import: cases imports auth, which imports ops)."""


def _history_changed(conn) -> None:
    """A month of the history left or came back: what was derived from the facts (the assessment's month figures)
    is outdated."""
    conn.execute(text("INSERT INTO meta (key, value) VALUES (:key, md5(random()::text)) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value"), {"key": FACTS_GENERATION})


def drop_partition(engine: Engine, directory: Path, name: str) -> int:
    """Detach and drop partition ``name`` if ``directory`` holds its archive, unchanged, with as many rows as the
    partition has now (its writers wait meanwhile). Returns the rows dropped; refuses otherwise."""
    entry = read_manifest(directory)["partitions"].get(name)
    if entry is None:
        raise PartitionError(f"{name} is not archived in {directory}: archive it first; nothing dropped")
    if not _intact(directory, entry):
        raise PartitionError(f"{name}: its archive {directory / entry['file']} is missing or changed; "
                             "nothing dropped")
    with engine.begin() as conn:
        require(conn)
        conn.execute(text(LOCK))
        if name not in {p.name for p in partitions(conn, entry["table"]) if not p.default}:
            raise PartitionError(f"{name} is not a month partition of {entry['table']}")
        conn.execute(text(f'LOCK TABLE "{name}" IN SHARE MODE'))
        rows = _count(conn, name)
        if rows != entry["rows"]:
            raise PartitionError(f"{name} holds {rows} rows, its archive {entry['rows']}: rows came in after it "
                                 "was archived; archive it again (nothing dropped)")
        conn.execute(text(f'ALTER TABLE {entry["table"]} DETACH PARTITION "{name}"'))
        conn.execute(text(f'DROP TABLE "{name}"'))
        _history_changed(conn)
    manifest = read_manifest(directory)
    manifest["partitions"][name]["dropped_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    _write_manifest(directory, manifest)
    return rows


def restore(engine: Engine, directory: Path, name: str) -> int:
    """Load an archived month back as its partition (the file checked first). Returns the rows loaded."""
    entry = read_manifest(directory)["partitions"].get(name)
    if entry is None:
        raise PartitionError(f"{name} is not in {directory / MANIFEST}")
    if not _intact(directory, entry):
        raise PartitionError(f"{name}: its archive {directory / entry['file']} is missing or changed")
    table = entry["table"]
    try:  # what goes into the statements below: a month partition's name and two moments, nothing else
        lo, hi = (dt.datetime.fromisoformat(entry[k]).isoformat() for k in ("lo", "hi"))
    except (TypeError, ValueError):
        raise PartitionError(f"{name}: the manifest's bounds are not times; nothing restored") from None
    if not _NAME.match(name) or table not in TABLES or not name.startswith(table):
        raise PartitionError(f"{name}: not a month partition of {table}; nothing restored")
    key = TABLES[table]
    with engine.begin() as conn:
        require(conn)
        conn.execute(text(LOCK))
        if name in {p.name for p in partitions(conn, table)}:
            raise PartitionError(f"{name} exists already; nothing restored")
        conn.execute(text(f'CREATE TABLE "{name}" (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'))
        cursor = conn.connection.driver_connection.cursor()
        with gzip.open(directory / entry["file"], "rb") as f:
            # by the archive's own columns: one written before a column was added loads with its default
            columns, known = next(csv.reader([f.readline().decode()])), _columns(conn, table)
            if not columns or set(columns) - set(known):
                raise PartitionError(f"{name}: the archive's columns {columns} are not {table}'s; nothing restored")
            listed = ", ".join(f'"{c}"' for c in columns)
            with cursor.copy(f'COPY "{name}" ({listed}) FROM STDIN WITH (FORMAT csv)') as cp:
                while chunk := f.read(1 << 20):
                    cp.write(chunk)
        rows = _count(conn, name)
        _history_changed(conn)
        if table == "case_stage_facts" and set(known) - set(columns):
            # the next `liandong migrate` derives them (the stored rules' key of cases/upkeep.py, which ops may
            # not import: cases imports auth, which imports ops)
            conn.execute(text("DELETE FROM meta WHERE key = 'stage_facts_rules'"))
        if rows != entry["rows"]:
            raise PartitionError(f"{name}: {rows} rows loaded, the manifest says {entry['rows']}; nothing restored")
        where = f"{key} IS NOT NULL AND {key} >= '{lo}' AND {key} < '{hi}'"
        conn.execute(text(f'ALTER TABLE "{name}" ADD CONSTRAINT "{name}_bounds" CHECK ({where})'))
        conn.execute(text(f"ALTER TABLE {table} ATTACH PARTITION \"{name}\" FOR VALUES FROM ('{lo}') TO ('{hi}')"))
        conn.execute(text(f'ALTER TABLE "{name}" DROP CONSTRAINT "{name}_bounds"'))
    manifest = read_manifest(directory)
    manifest["partitions"][name]["dropped_at"] = None
    _write_manifest(directory, manifest)
    return rows


# --- the schema check ----------------------------------------------------------------------------------

def expected_difference(diff: tuple) -> bool:
    """Whether an Alembic ``compare_metadata`` difference is one that partitioning makes on purpose (the
    partitions themselves, the event-number guard's ``case_event_heads``, and on the two parents: no unique
    (case_id, seq), the indexes that replace it)."""
    kind, obj = diff[0], diff[1]
    table = getattr(obj, "table", obj)
    name = getattr(table, "name", "")
    if _NAME.match(name) or name in {f"{t}_default" for t in TABLES} | {"case_event_heads"}:
        return True
    if name not in TABLES:
        return False
    if kind == "add_constraint":
        return sorted(c.name for c in obj.columns) == ["case_id", "seq"]
    if kind in ("add_index", "remove_index"):
        return obj.name in {"ix_case_events_case_id", "ix_case_events_case_id_seq", "ix_case_stage_facts_id",
                            "ix_case_stage_facts_case_id_seq"}
    return False

