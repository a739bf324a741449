"""Backup and restore (liandong backup / restore): a round trip on each backend gives back every table row for
row; an SQLite backup taken while another thread writes is one consistent commit; refusals exit non-zero with
a message and leave the database and the folders as they were."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from typer.testing import CliRunner

import liandong.models  # noqa: F401  (every table in the metadata)
from liandong import audit
from liandong.audit import AuditEntry
from liandong.cli import app
from liandong.config import get_settings
from liandong.db import Base, dispose_engine, get_engine, migrate, unit_of_work
from liandong.errors import DomainError
from liandong.ops import backup as ops
from tests.caseworld import do, fill, new_case
from tests.conftest import BACKENDS, create_pg_database, drop_pg_database, fresh_database, postgres_unavailable

LIFE = ["accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"]
NOTES = {"report_done": {"note": "已拆除"}, "return": {"reason": "非本单位职责"}}


@pytest.fixture
def cli(monkeypatch) -> Iterator[Callable]:
    """Runs the real CLI in-process against ``url`` (settings are cached, so cleared around each call)."""
    def run(url: str, *args: str):
        monkeypatch.setenv("LIANDONG_DATABASE_URL", url)
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, list(args))
        finally:
            get_settings.cache_clear()

    yield run
    get_settings.cache_clear()


@pytest.fixture(params=BACKENDS)
def world(request, tmp_path_factory) -> Iterator[str]:
    """A fresh database per test with real content: district, units, users, catalogue, and cases moved through
    their life cycle (events, stage facts, audit entries)."""
    for url in fresh_database(request.param, tmp_path_factory):
        fill(url)
        for steps in (LIFE, LIFE[:4], ["accept", "file", "dispatch", "return"], [], LIFE[:2]):
            cid = new_case(url, description=f"测试：{len(steps)} 步")
            for action in steps:
                do(url, cid, action, **NOTES.get(action, {}))
        yield url


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every table in the database (as the inspector finds them, alembic_version included),
    in a stable order."""
    dispose_engine(url)
    with get_engine(url).connect() as conn:
        out = {}
        for name in inspect(conn).get_table_names():
            rows = conn.execute(text(f'SELECT * FROM "{name}"')).all()
            out[name] = sorted((tuple(r) for r in rows), key=repr)
        if conn.dialect.name == "postgresql":  # the guards live beside the rows: the append-only log, the numbers
            out["(triggers)"] = sorted(conn.execute(text(
                "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal")).all())
            out["(functions)"] = sorted(conn.execute(text(
                "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace")).all())
        else:
            out["(triggers)"] = sorted(conn.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all())
    dispose_engine(url)
    return out


def change_everything(url: str) -> None:
    """After the backup: a new case, a case moved on, rows deleted and updated, a table the backup never had."""
    new_case(url, description="备份之后的新案件")
    with unit_of_work(url) as s:
        first = s.execute(text("SELECT min(id) FROM cases WHERE state = 'in_progress'")).scalar_one()
    do(url, first, "report_done", note="备份之后")
    with unit_of_work(url) as s:
        s.execute(text("DELETE FROM matter_time_limits WHERE matter_id % 3 = 0"))
        s.execute(text("UPDATE users SET is_active = :f, failed_logins = 4 WHERE username = 'inspector'"),
                  {"f": False})
        s.execute(text("CREATE TABLE stray_after_backup (id integer PRIMARY KEY, note text)"))
        s.execute(text("INSERT INTO stray_after_backup VALUES (1, 'not in the backup')"))


def rewrite(src: Path, dst: Path, manifest: Callable[[dict], None] | None = None,
            payload: Callable[[bytes], bytes] | None = None, checksum: bool = False) -> None:
    """A copy of a backup with its manifest or its data changed (for the refusals); ``checksum``: the manifest's
    checksum made to match the changed data."""
    with tarfile.open(src) as tar:
        m = json.loads(tar.extractfile(ops.MANIFEST).read())
        data = tar.extractfile(m["payload"]).read()
    if manifest:
        manifest(m)
    if payload:
        data = payload(data)
    if checksum:
        m["payload_sha256"] = hashlib.sha256(data).hexdigest()
    with tarfile.open(dst, "w") as tar:
        for name, raw in ((ops.MANIFEST, json.dumps(m).encode()), (m["payload"], data)):
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def backend_of(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def test_round_trip_gives_back_every_row_of_every_table(world, cli, tmp_path):
    before = snapshot(world)
    metadata_tables = set(Base.metadata.tables) | {"alembic_version"}
    assert metadata_tables <= set(before), metadata_tables - set(before)
    for busy in ("areas", "units", "users", "matters", "cases", "case_events", "case_stage_facts", "audit_log"):
        assert before[busy], f"{busy} is empty: the round trip would prove little"

    path = tmp_path / "liandong.backup"
    r = cli(world, "backup", str(path))
    assert r.exit_code == 0, r.output
    manifest = ops.read_manifest(path)
    assert manifest["backend"] == backend_of(world)
    assert manifest["revision"] == before["alembic_version"][0][0]
    assert manifest["tables"] == {name: len(rows) for name, rows in before.items() if not name.startswith("(")}
    assert sorted(os.listdir(tmp_path)) == ["liandong.backup"]  # no temporary file left

    change_everything(world)
    changed = snapshot(world)
    assert changed != before and "stray_after_backup" in changed

    # a backup whose data is not what its manifest says is refused, and the database stays as it was: on SQLite
    # the new file is checked before it replaces the old one; on PostgreSQL the check runs last inside the
    # restore's one transaction, so its failure also undoes the dropped schema and the loaded dump
    lying = tmp_path / "lying.backup"
    rewrite(path, lying, manifest=lambda m: m["tables"].update(cases=m["tables"]["cases"] + 1))
    r = cli(world, "restore", str(lying))
    assert r.exit_code == 2
    if backend_of(world) == "sqlite":
        assert "table cases: 5 rows, the manifest says 6" in r.stderr
    else:
        assert "table cases has 5 rows, the backup says 6" in r.stderr and "rolled back" in r.stderr
    assert snapshot(world) == changed
    lying.unlink()

    # a payload cut short (its checksum made to match): pg_restore fails at the very end, after the last rows and
    # before the keys and indexes, so psql must not reach its COMMIT; SQLite finds the copy damaged
    cut = tmp_path / "cut.backup"
    rewrite(path, cut, payload=lambda b: b[:-3], checksum=True)
    r = cli(world, "restore", str(cut))
    assert r.exit_code == 2, r.output
    assert ("is damaged" if backend_of(world) == "sqlite" else "rolled back") in r.stderr
    assert snapshot(world) == changed
    cut.unlink()

    r = cli(world, "restore", str(path))
    assert r.exit_code == 0, r.output
    after = snapshot(world)
    assert set(after) == set(before)  # the table made after the backup is gone too
    for name in sorted(before):
        assert after[name] == before[name], f"table {name} differs after the restore"

    # the restored database works on: ids (PostgreSQL sequences, SQLite rowids) carry on from the backup's
    cid = new_case(world, description="恢复之后")
    assert cid > max(row[0] for row in before["cases"])
    if backend_of(world) == "sqlite":
        db = Path(world.removeprefix("sqlite:///"))
        assert not [f for f in os.listdir(db.parent) if ".restore-" in f]


@pytest.fixture
def lite(tmp_path_factory) -> Iterator[str]:
    yield from fresh_database("sqlite", tmp_path_factory)


@pytest.fixture(params=BACKENDS)
def empty_target(request, tmp_path) -> Iterator[str]:
    """Where a backup is restored to: a database not yet made (SQLite) or empty (PostgreSQL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'restored' / 'liandong.db'}"
        yield url
        dispose_engine(url)
        return
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def source(empty_target, tmp_path_factory) -> Iterator[str]:
    """A database with content on the backend of ``empty_target``."""
    for url in fresh_database(backend_of(empty_target), tmp_path_factory):
        fill(url)
        yield url


def test_backup_while_another_thread_writes_is_one_commit(source, empty_target, tmp_path):
    """Each writer transaction adds two audit entries numbered k; each backup must hold entries 1..m, both of
    each, with m at least what was committed before the backup began and at most one past what was committed
    when it ended (the writer counts a commit only after it returns). On PostgreSQL the row counts are taken in
    the snapshot pg_dump dumps; the restore checks them, so a dump of another moment would be refused."""
    backend = backend_of(source)
    committed, errors, stop, started = [0], [], threading.Event(), threading.Event()

    def write() -> None:
        k = 0
        try:
            while not stop.is_set():
                k += 1
                with unit_of_work(source) as s:
                    for part in (1, 2):
                        audit.record(s, "backup_probe", actor_name="probe", target=str(k), detail={"part": part})
                committed[0] = k
                if k == 20:
                    started.set()
        except Exception as exc:  # reported below
            errors.append(exc)
            started.set()

    writer = threading.Thread(target=write)
    writer.start()
    taken = []
    try:
        assert started.wait(60)
        for i in range(2):  # one after the other, while the writer keeps going
            low = committed[0]
            manifest = ops.backup(source, tmp_path / f"busy-{i}.backup")
            taken.append((low, manifest, committed[0]))
    finally:
        stop.set()
        writer.join(60)
    assert not errors, errors

    for i, (low, manifest, high) in enumerate(taken):
        path = tmp_path / f"busy-{i}.backup"
        if backend == "sqlite":  # the copy itself, as SQLite sees it
            with tarfile.open(path) as tar:
                (tmp_path / "copy.db").write_bytes(tar.extractfile(manifest["payload"]).read())
            copy = sqlite3.connect(tmp_path / "copy.db")
            assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            copy.close()
        ops.restore(empty_target, path)  # checks every table's row count against the manifest
        with unit_of_work(empty_target) as s:
            rows = s.execute(select(AuditEntry.target, AuditEntry.detail)
                             .where(AuditEntry.action == "backup_probe")).all()
        m = len(rows) // 2
        assert sorted((int(t), d["part"]) for t, d in rows) == [(k, p) for k in range(1, m + 1) for p in (1, 2)]
        assert low <= m <= high + 1, (low, m, high)
        print(f"{backend} backup {i}: writer commits {low}..{high} while it ran, the backup holds 1..{m}")


@pytest.mark.postgres
def test_a_backup_refuses_the_other_backend(lite, tmp_path, cli):
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    pg = create_pg_database()
    try:
        migrate(pg)
        for source, target in ((lite, pg), (pg, lite)):
            path = tmp_path / f"{backend_of(source)}.backup"
            assert cli(source, "backup", str(path)).exit_code == 0
            before = snapshot(target)
            r = cli(target, "restore", str(path))
            assert r.exit_code == 2
            assert f"is a backup of a {backend_of(source)} database" in r.stderr
            assert snapshot(target) == before
    finally:
        drop_pg_database(pg)


def test_refusals_exit_non_zero_and_leave_everything_as_it_was(lite, cli, tmp_path):
    new_case_free = snapshot(lite)
    db = Path(lite.removeprefix("sqlite:///"))
    db_files = sorted(os.listdir(db.parent))
    good = tmp_path / "good.backup"
    assert cli(lite, "backup", str(good)).exit_code == 0
    garbage = tmp_path / "garbage.backup"
    garbage.write_bytes(os.urandom(5000))
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(garbage, arcname="something.txt")
    rewrite(good, tmp_path / "other.backup", manifest=lambda m: m.update(backend="postgresql",
                                                                        payload="database.pgdump"))
    rewrite(good, tmp_path / "newer.backup", manifest=lambda m: m.update(revision="9999_from_the_future"))
    rewrite(good, tmp_path / "damaged.backup", payload=lambda b: b[:-4096] + bytes(4096))
    rewrite(good, tmp_path / "old-format.backup", manifest=lambda m: m.update(format_version=99))
    listing = sorted(os.listdir(tmp_path))

    cases = {
        "missing.backup": "backup file not found",
        "garbage.backup": "not a Liandong backup",
        "plain.tar": "not a Liandong backup",
        "other.backup": "is a backup of a postgresql database",
        "newer.backup": "newer than this code",
        "damaged.backup": "does not match the checksum",
        "old-format.backup": "format_version 99",
        ".": "not a file",
    }
    for name, message in cases.items():
        r = cli(lite, "restore", str(tmp_path / name))
        assert r.exit_code == 2, (name, r.output)
        assert r.stderr.startswith("error:") and message in r.stderr, (name, r.stderr)
    assert snapshot(lite) == new_case_free
    assert sorted(os.listdir(db.parent)) == db_files

    for target, message in ((tmp_path / "no-such-folder" / "x.backup", "does not exist"),
                            (tmp_path, "is a directory"),
                            (db, "is the database itself"),
                            (Path(f"{db}-wal"), "is the database itself"),
                            *([(Path("/sys/liandong.backup"), "cannot write")] if Path("/sys").is_dir() else [])):
        r = cli(lite, "backup", str(target))
        assert r.exit_code == 2 and message in r.stderr, (target, r.stderr)
    r = cli(f"sqlite:///{tmp_path / 'never-made.db'}", "backup", str(tmp_path / "x.backup"))
    assert r.exit_code == 2 and "database file not found" in r.stderr
    assert sorted(os.listdir(tmp_path)) == listing  # nothing half-written, no database created
    assert snapshot(lite) == new_case_free
    assert ops.read_manifest(good)["revision"]  # the good one untouched


def test_a_backup_of_an_older_schema_is_restored_and_says_to_migrate(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url, "0028")
    try:
        assert cli(url, "backup", str(tmp_path / "old.backup")).exit_code == 0
        migrate(url)
        r = cli(url, "restore", str(tmp_path / "old.backup"))
        assert r.exit_code == 0, r.output
        assert "run `liandong migrate`" in r.stderr
        assert snapshot(url)["alembic_version"] == [("0028",)]
    finally:
        dispose_engine(url)


def test_a_tool_of_another_version_or_none_is_refused(tmp_path):
    """The PostgreSQL client programs must match the server's major version; missing ones are named."""
    old = tmp_path / "pg9"
    old.mkdir()
    exe = old / "pg_dump"
    exe.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    exe.chmod(0o755)
    with pytest.raises(DomainError, match=r"pg_dump of PostgreSQL 15 .*not found; found only .*pg_dump \(9\.6\)"):
        ops.find_tool("pg_dump", 15, [str(old)])
    assert ops.find_tool("pg_dump", 9, [str(old)]) == str(exe)
    with pytest.raises(DomainError, match="pg_restore not found .*postgresql-client-15"):
        ops.find_tool("pg_restore", 15, [str(tmp_path / "empty")])
