"""Backup and restore of the configured database, on SQLite and PostgreSQL.

A backup is one uncompressed tar file: ``manifest.json`` first (what it is: format, backend, schema revision,
time, row count of every table, payload checksum), then the payload — a copy of the SQLite file made with the
sqlite3 online-backup API, or a ``pg_dump -Fc`` archive. A tar keeps manifest and data together (a sidecar can
be lost or mixed up) and stays readable with ordinary tools (``tar xf`` gives a plain SQLite file or an archive
for ``pg_restore``).

Both directions write nothing half-way: a backup is written to a temporary file beside PATH and renamed; an
SQLite restore is built in a temporary file beside the database, checked, then renamed over it; a PostgreSQL
restore runs in one transaction (drop and recreate the schema, load the dump, check the row counts) that
commits whole or not at all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url

from liandong import __version__
from liandong.db import alembic_config, dispose_engine, get_engine
from liandong.errors import DomainError

FORMAT = "liandong-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PAYLOAD = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
PG_DIRS = "/usr/lib/postgresql/*/bin"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHUNK = 1 << 20


class BackupError(DomainError):
    """A backup or restore that cannot be done; nothing was written (the CLI exits non-zero)."""

    code = "backup"


# --- the two commands ------------------------------------------------------------------------------


def backup(url: str, path: Path) -> dict[str, Any]:
    """Back up the database at ``url`` into the file ``path`` (replaced whole, or left as it was); returns the
    manifest."""
    path = Path(path)
    backend = _backend(url)
    _check_destination(url, backend, path)
    with _scratch_file(path.parent, ".liandong-backup-") as payload:
        if backend == "sqlite":
            manifest = _sqlite_backup(_sqlite_path(url, must_exist=True), payload)
        else:
            manifest = _pg_backup(url, payload)
        manifest.update(format=FORMAT, format_version=FORMAT_VERSION, backend=backend, liandong=__version__,
                        payload=PAYLOAD[backend], payload_bytes=payload.stat().st_size,
                        payload_sha256=_sha256(payload))
        with _scratch_file(path.parent, f".{path.name}.") as tmp:
            _write_tar(tmp, manifest, payload)
            _publish(tmp, path)
    return manifest


def restore(url: str, path: Path) -> dict[str, Any]:
    """Replace the database at ``url`` with the backup in ``path``; returns the backup's manifest plus ``head``
    (this code's latest schema revision: when it differs, the restored database wants ``liandong migrate``).

    Refused, with the database untouched, when the file is missing or not a backup, was made from the other
    backend, or carries a schema newer than this code."""
    path = Path(path)
    manifest = read_manifest(path)
    backend = _backend(url)
    if manifest["backend"] != backend:
        raise BackupError(f"{path} is a backup of a {manifest['backend']} database; the configured database is "
                          f"{backend} ({_safe(url)}): restore it into a {manifest['backend']} database")
    head = _check_revision(url, manifest["revision"])
    dispose_engine(url)  # this process's pooled connections must not outlive the old data
    try:
        if backend == "sqlite":
            _sqlite_restore(url, path, manifest)
        else:
            _pg_restore(url, path, manifest)
    finally:
        dispose_engine(url)
    return {**manifest, "head": head}


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the backup at ``path``, checked for shape; a clear error for anything else."""
    path = Path(path)
    if not path.exists():
        raise BackupError(f"backup file not found: {path}")
    if not path.is_file():
        raise BackupError(f"not a file: {path}")
    try:
        with tarfile.open(path, "r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile() or first.size > 10 << 20:
                raise BackupError(f"{path} is not a Liandong backup (no {MANIFEST} at its start)")
            raw = tar.extractfile(first).read()
    except (tarfile.TarError, EOFError):
        raise BackupError(f"{path} is not a Liandong backup (not a tar archive)") from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise BackupError(f"{path} is not a Liandong backup ({MANIFEST} is not JSON)") from None
    problems = _manifest_problems(manifest)
    if problems:
        raise BackupError(f"{path} is not a Liandong backup this code can read", problems)
    return manifest


def _manifest_problems(m: Any) -> list[str]:
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        return [f"format is not {FORMAT!r}"]
    out = []
    if m.get("format_version") != FORMAT_VERSION:
        out.append(f"format_version {m.get('format_version')!r}; this code reads {FORMAT_VERSION}")
    if m.get("backend") not in PAYLOAD:
        out.append(f"unknown backend {m.get('backend')!r}")
    elif m.get("payload") != PAYLOAD[m["backend"]]:
        out.append(f"payload {m.get('payload')!r} is not {PAYLOAD[m['backend']]!r}")
    if not isinstance(m.get("revision"), str) or not m["revision"]:
        out.append("no schema revision")
    tables = m.get("tables")
    if not isinstance(tables, dict) or not all(isinstance(k, str) and _NAME.match(k) and type(v) is int and v >= 0
                                               for k, v in tables.items()):
        out.append("tables must map table names to row counts")
    if not isinstance(m.get("payload_sha256"), str):
        out.append("no payload checksum")
    return out


# --- SQLite ------------------------------------------------------------------------------------------


def _sqlite_backup(db: Path, dest: Path) -> dict[str, Any]:
    """One backup step over the whole file: SQLite holds a read transaction for it, so the copy is the database
    as of one commit, while writers carry on in the WAL (a stepwise copy would restart on every write)."""
    src = sqlite3.connect(db, timeout=30)
    try:
        out = sqlite3.connect(dest)
        try:
            src.backup(out)
            out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            facts = _sqlite_facts(out, str(db), dest)
        finally:
            out.close()
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {db} failed: {exc}") from None
    finally:
        src.close()
    return {**facts, "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "sqlite_version": sqlite3.sqlite_version}


def _sqlite_facts(conn: sqlite3.Connection, name: str, file: Path) -> dict[str, Any]:
    """Revision and row counts of an SQLite copy (in rollback-journal mode, so the file is all of it), after
    checking its structure and that the file is as long as its header says (a cut file can pass the first)."""
    check = conn.execute("PRAGMA quick_check").fetchall()
    if check != [("ok",)]:
        raise BackupError(f"the copy of {name} fails SQLite's check", [str(r[0]) for r in check[:20]])
    pages, size = conn.execute("PRAGMA page_count").fetchone()[0], conn.execute("PRAGMA page_size").fetchone()[0]
    if file.stat().st_size != pages * size:
        raise BackupError(f"the copy of {name} is damaged: {file.stat().st_size} bytes, its header says "
                          f"{pages} pages of {size}")
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    if "alembic_version" not in names:
        raise BackupError(f"{name} has no Liandong schema (no alembic_version table): run `liandong migrate`")
    revision = ",".join(sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version")))
    tables = {n: conn.execute('SELECT count(*) FROM "{}"'.format(n.replace('"', '""'))).fetchone()[0] for n in names}
    return {"revision": revision, "tables": tables}


def _sqlite_restore(url: str, path: Path, manifest: dict[str, Any]) -> None:
    """Build the new database in a temporary file beside the old one, check it, remove the old file's -wal and
    -shm (a stale WAL would be replayed into the new file), then rename it over the old one."""
    target = _sqlite_path(url, must_exist=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _scratch_file(target.parent, f".{target.name}.restore-") as tmp:
        _extract_payload(path, manifest, tmp)
        try:
            conn = sqlite3.connect(tmp)
            try:
                facts = _sqlite_facts(conn, str(path), tmp)
                conn.execute("PRAGMA journal_mode=WAL")  # the mode the app runs in
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise BackupError(f"{path} does not hold a usable SQLite database: {exc}") from None
        _same_content(path, manifest, facts)
        _same_mode(target, tmp)
        _quiesce(target)
        for suffix in ("-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{target}{suffix}")
        _publish(tmp, target)


def _quiesce(target: Path) -> None:
    """Fold the old database's WAL into its file before the WAL is removed (a crash between the removal and the
    rename then leaves the old database whole), and refuse while another connection is using it: a running app
    would go on writing into a file that is about to be replaced."""
    if not target.exists():
        return
    try:
        conn = sqlite3.connect(target, timeout=2)
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"the database {target} cannot be replaced now ({exc}): stop the app first") from None
    if busy:
        raise BackupError(f"the database {target} is in use: stop the app first, then restore")


def _same_mode(old: Path, new: Path) -> None:
    """The restored file keeps the old one's permissions and owner (a temporary file is private to its maker)."""
    try:
        st = old.stat()
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(new, 0o666 & ~umask)
        return
    os.chmod(new, stat.S_IMODE(st.st_mode))
    with contextlib.suppress(PermissionError):
        os.chown(new, st.st_uid, st.st_gid)


def _sqlite_path(url: str, must_exist: bool) -> Path:
    name = make_url(url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupError(f"an SQLite database in memory or given as a URI cannot be backed up or restored: "
                          f"{_safe(url)}")
    db = Path(name).resolve()
    if must_exist and not db.is_file():
        raise BackupError(f"database file not found: {db}")
    return db


# --- PostgreSQL --------------------------------------------------------------------------------------


def _pg_backup(url: str, dest: Path) -> dict[str, Any]:
    """``pg_dump -Fc`` of the snapshot that the row counts were taken in (exported to pg_dump), so the manifest
    describes exactly what the archive holds, however busy the database."""
    engine = get_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            major, server = _pg_server(conn)
            tool = find_tool("pg_dump", major)
            facts = _pg_facts(conn, url)
            created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            _run([tool, "--format=custom", f"--snapshot={snapshot}", f"--file={dest}", f"--dbname={_libpq(url)}"],
                 url, "pg_dump")
            conn.rollback()
    except BackupError:
        raise
    except Exception as exc:  # a connection problem: say which database
        raise BackupError(f"cannot read {_safe(url)}: {exc.__class__.__name__}: {str(exc)[:300]}") from None
    return {**facts, "created_at": created, "server_version": server, "server_major": major,
            "pg_dump": _version_of(tool)[1]}


def _pg_facts(conn, url: str) -> dict[str, Any]:
    names = sorted(inspect(conn).get_table_names())
    if "alembic_version" not in names:
        raise BackupError(f"{_safe(url)} has no Liandong schema (no alembic_version table): run `liandong migrate`")
    revision = ",".join(sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()))
    q = conn.dialect.identifier_preparer.quote
    tables = {n: conn.execute(text(f"SELECT count(*) FROM {q(n)}")).scalar_one() for n in names}
    return {"revision": revision, "tables": tables}


def _pg_restore(url: str, path: Path, manifest: dict[str, Any]) -> None:
    """Load the archive in one transaction: drop schema ``public`` (and any schema the archive creates) with
    everything in it, recreate it with its owner and grants as they were, replay the archive, then check every
    table's row count against the manifest. Any failure rolls all of it back.

    Dropping the schema, rather than ``pg_restore --clean``, also removes what the archive does not know: tables
    of a later migration, partitions made after the backup. The price is a restore without ``-j`` parallelism."""
    try:
        with get_engine(url).connect() as conn:
            major, _ = _pg_server(conn)
    except Exception as exc:
        raise BackupError(f"cannot reach {_safe(url)}: {exc.__class__.__name__}: {str(exc)[:300]}") from None
    if int(manifest.get("server_major") or 0) > major:
        raise BackupError(f"{path} was dumped from PostgreSQL {manifest['server_major']}; the server at "
                          f"{_safe(url)} is {major}: restore into PostgreSQL {manifest['server_major']} or later")
    pg_restore = find_tool("pg_restore", major)
    try:  # the psql of the same installation reads what that pg_restore writes
        psql = find_tool("psql", major, [str(Path(pg_restore).parent)])
    except BackupError:
        psql = find_tool("psql", major)
    with tempfile.TemporaryDirectory(prefix="liandong-restore-") as tmpdir:
        archive = Path(tmpdir) / PAYLOAD["postgresql"]
        _extract_payload(path, manifest, archive)
        listing = _run([pg_restore, "--list", str(archive)], url, "pg_restore",
                       bad=f"{path} does not hold a usable pg_dump archive")
        schemas = sorted(set(re.findall(r"^\d+; \d+ \d+ SCHEMA - (\S+) ", listing, re.M)) - {"public"})
        script = [psql, "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
                  f"--dbname={_libpq(url)}", f"--command={_clean_schemas_sql(schemas)}", "--file=-",
                  f"--command={_check_counts_sql(manifest)}"]
        _pipe([pg_restore, "--no-owner", "--no-privileges", "--file=-", str(archive)], script, url)


def _pipe(producer_args: list[str], consumer_args: list[str], url: str) -> None:
    """pg_restore's script into psql, relayed here so that psql reaches the end of its input (and commits) only
    after pg_restore has ended well; otherwise psql is killed, and the server rolls the transaction back."""
    failed = f"restore into {_safe(url)} failed and was rolled back; the database is as it was"
    with tempfile.TemporaryFile() as err_restore, tempfile.TemporaryFile() as err_psql:
        producer = subprocess.Popen(producer_args, stdout=subprocess.PIPE, stderr=err_restore)
        consumer = subprocess.Popen(consumer_args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err_psql,
                                    env=_pg_env(url))
        try:
            psql_stopped = False
            try:
                while chunk := producer.stdout.read(_CHUNK):
                    consumer.stdin.write(chunk)
            except BrokenPipeError:  # psql stopped at an error: the rest of the script is of no use
                psql_stopped = True
                producer.kill()
            if producer.wait() != 0:
                if psql_stopped:
                    consumer.wait()
                else:  # pg_restore failed: psql must not reach its COMMIT
                    consumer.kill()
                    consumer.wait()
                said = err_psql if psql_stopped else err_restore
                said.seek(0)
                raise BackupError(failed, _tail(said.read()).splitlines())
            with contextlib.suppress(BrokenPipeError):
                consumer.stdin.close()
            if consumer.wait() != 0:
                err_psql.seek(0)
                raise BackupError(failed, _tail(err_psql.read()).splitlines())
        finally:
            for proc in (producer, consumer):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


def _clean_schemas_sql(schemas: list[str]) -> str:
    """Empty schema ``public``, keeping its owner, grants and comment; drop the other schemas the archive makes."""
    drops = "".join(f"DROP SCHEMA IF EXISTS {_ident(s)} CASCADE;\n" for s in schemas)
    return "SET LOCAL client_min_messages = warning;\n" + drops + """DO $liandong$
DECLARE
  owner_name text;
  note text;
  grants text[];
  stmt text;
BEGIN
  SELECT nspowner::regrole::text, obj_description(oid, 'pg_namespace') INTO owner_name, note
    FROM pg_namespace WHERE nspname = 'public';
  SELECT array_agg(format('GRANT %s ON SCHEMA public TO %s%s', a.privilege_type,
                          CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
                          CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END))
    INTO grants FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = 'public';
  DROP SCHEMA IF EXISTS public CASCADE;
  CREATE SCHEMA public;
  IF owner_name IS NOT NULL AND owner_name <> current_user THEN
    EXECUTE format('ALTER SCHEMA public OWNER TO %s', owner_name);
  END IF;
  FOREACH stmt IN ARRAY coalesce(grants, '{}') LOOP
    EXECUTE stmt;
  END LOOP;
  IF note IS NOT NULL THEN
    EXECUTE format('COMMENT ON SCHEMA public IS %L', note);
  END IF;
END $liandong$;"""


def _check_counts_sql(manifest: dict[str, Any]) -> str:
    """A check run last in the restore's transaction: a table or revision that differs from the manifest raises,
    and the whole restore rolls back."""
    lines = ["DO $liandong$", "DECLARE n bigint;", "BEGIN"]
    for name, count in sorted(manifest["tables"].items()):
        lines += [f"  SELECT count(*) INTO n FROM public.{_ident(name)};",
                  f"  IF n <> {int(count)} THEN",
                  f"    RAISE EXCEPTION 'table {name} has % rows, the backup says {int(count)}', n;",
                  "  END IF;"]
    lines += ["  IF (SELECT string_agg(version_num, ',' ORDER BY version_num) FROM public.alembic_version)"
              f" IS DISTINCT FROM '{manifest['revision'].replace(chr(39), chr(39) * 2)}' THEN",
              "    RAISE EXCEPTION 'the restored schema revision differs from the backup''s';",
              "  END IF;", "END $liandong$;"]
    return "\n".join(lines)


def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise BackupError(f"unexpected name in the backup: {name!r}")
    return f'"{name}"'


def _pg_server(conn) -> tuple[int, str]:
    num = int(conn.execute(text("SHOW server_version_num")).scalar_one())
    return num // 10000, conn.execute(text("SHOW server_version")).scalar_one()


def find_tool(name: str, major: int, dirs: list[str] | None = None) -> str:
    """The PostgreSQL client program ``name`` of the server's major version: on PATH or in
    /usr/lib/postgresql/*/bin (or only in ``dirs``). A client of another version is refused: pg_dump refuses
    a newer server, and an archive or script of a newer client may not load into an older server."""
    if dirs is None:
        on_path = shutil.which(name)
        dirs = ([str(Path(on_path).parent)] if on_path else []) + [f"/usr/lib/postgresql/{major}/bin"] \
            + sorted(glob.glob(PG_DIRS), reverse=True)
    seen: dict[str, str] = {}
    for d in dict.fromkeys(dirs):
        exe = os.path.join(d, name)
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            continue
        found, version = _version_of(exe)
        if found == major:
            return exe
        seen[exe] = version
    if not seen:
        raise BackupError(f"{name} not found (looked on PATH and in {PG_DIRS}): install the PostgreSQL {major} "
                          f"client programs (Debian: postgresql-client-{major})")
    raise BackupError(f"{name} of PostgreSQL {major} (the server's version) not found; found only "
                      + ", ".join(f"{exe} ({v})" for exe, v in seen.items())
                      + f": install postgresql-client-{major}")


def _version_of(exe: str) -> tuple[int | None, str]:
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, "does not run"
    m = re.search(r"\(PostgreSQL\) (\d+)(\.\d+)?", out)
    return (int(m.group(1)), m.group(1) + (m.group(2) or "")) if m else (None, out[:60] or "unknown version")


def _libpq(url: str) -> str:
    """The URL as a libpq connection URI, without the password (which goes in PGPASSWORD, out of ``ps``)."""
    u: URL = make_url(url)
    user = quote(u.username or "", safe="")
    host = f"[{u.host}]" if u.host and ":" in u.host else quote(u.host or "", safe="")
    netloc = (f"{user}@" if user else "") + host + (f":{u.port}" if u.port else "")
    query = {k: (v if isinstance(v, str) else v[-1]) for k, v in u.query.items()}
    return f"postgresql://{netloc}/{quote(u.database or '', safe='')}" + (f"?{urlencode(query)}" if query else "")


def _pg_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    password = make_url(url).password
    if password:
        env["PGPASSWORD"] = password
    return env


def _run(args: list[str], url: str, what: str, bad: str | None = None) -> str:
    try:
        done = subprocess.run(args, capture_output=True, env=_pg_env(url))
    except OSError as exc:
        raise BackupError(f"cannot run {what}: {exc}") from None
    if done.returncode != 0:
        raise BackupError(bad or f"{what} failed (exit {done.returncode})", _tail(done.stderr).splitlines())
    return done.stdout.decode("utf-8", "replace")


def _tail(raw: bytes, lines: int = 15) -> str:
    return "\n".join(raw.decode("utf-8", "replace").strip().splitlines()[-lines:])


# --- files ---------------------------------------------------------------------------------------------


def _backend(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in PAYLOAD:
        raise BackupError(f"cannot back up or restore a {name} database ({_safe(url)}): only SQLite and PostgreSQL")
    return name


def _check_destination(url: str, backend: str, path: Path) -> None:
    """Refuse a PATH that cannot take the backup, before any work; above all the database file itself."""
    if path.is_dir():
        raise BackupError(f"{path} is a directory: give the backup's file name")
    if not path.parent.is_dir():
        raise BackupError(f"cannot write {path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise BackupError(f"cannot write {path}: folder {path.parent} is not writable")
    if backend == "sqlite":
        db = _sqlite_path(url, must_exist=False)
        if path.resolve() in {db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")}:
            raise BackupError(f"{path} is the database itself: write the backup to another file")


@contextlib.contextmanager
def _scratch_file(folder: Path, prefix: str) -> Iterator[Path]:
    """A new file in ``folder`` (so a rename from it is atomic), removed afterwards unless renamed away."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".part")
    except OSError as exc:
        raise BackupError(f"cannot write in {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    except OSError as exc:
        raise BackupError(f"cannot write in {folder}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _write_tar(dest: Path, manifest: dict[str, Any], payload: Path) -> None:
    raw = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
    now = int(dt.datetime.now(dt.UTC).timestamp())
    with open(dest, "wb") as f:
        with tarfile.open(fileobj=f, mode="w:", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(raw), now, 0o600
            tar.addfile(info, io.BytesIO(raw))
            info = tarfile.TarInfo(manifest["payload"])
            info.size, info.mtime, info.mode = payload.stat().st_size, now, 0o600
            with open(payload, "rb") as data:
                tar.addfile(info, data)
        f.flush()
        os.fsync(f.fileno())


def _extract_payload(path: Path, manifest: dict[str, Any], dest: Path) -> None:
    """Copy the payload out of the archive, refusing it unless its checksum is the manifest's."""
    digest = hashlib.sha256()
    try:
        with tarfile.open(path, "r:") as tar:
            member = next((m for m in tar if m.name == manifest["payload"]), None)
            if member is None or not member.isfile():
                raise BackupError(f"{path} is incomplete: no {manifest['payload']} in it")
            with tar.extractfile(member) as data, open(dest, "wb") as out:
                while chunk := data.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
    except (tarfile.TarError, EOFError) as exc:
        raise BackupError(f"{path} is damaged: {exc}") from None
    if digest.hexdigest() != manifest["payload_sha256"]:
        raise BackupError(f"{path} is damaged: its data does not match the checksum in its manifest")


def _same_content(path: Path, manifest: dict[str, Any], facts: dict[str, Any]) -> None:
    problems = []
    if facts["revision"] != manifest["revision"]:
        problems.append(f"schema revision {facts['revision']}, the manifest says {manifest['revision']}")
    for name in sorted(set(facts["tables"]) | set(manifest["tables"])):
        have, want = facts["tables"].get(name), manifest["tables"].get(name)
        if have != want:
            problems.append(f"table {name}: {have} rows, the manifest says {want}")
    if problems:
        raise BackupError(f"{path} does not hold what its manifest describes", problems)


def _publish(tmp: Path, target: Path) -> None:
    """Rename a finished file into place and make the rename durable."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_revision(url: str, revision: str) -> str:
    """This code's head; a backup whose schema revision this code does not know (a newer Liandong) is refused."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(url))
    known = {r.revision for r in script.walk_revisions()}
    unknown = [r for r in revision.split(",") if r not in known]
    head = ",".join(sorted(script.get_heads()))
    if unknown:
        raise BackupError(f"the backup's schema revision {revision} is newer than this code's (head {head}): "
                          "restore it with the Liandong version that made it")
    return head


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
