"""A PostgreSQL primary and its hot standby, made in a temporary directory for one test module or one benchmark.

A streaming replica copies a whole cluster, so the shared server (127.0.0.1:5432) cannot serve as either: the pair
is its own two servers — ``initdb`` of a primary on a free port, the database filled, ``pg_basebackup -R`` into a
standby on another port. Both are stopped and their directories removed at the end, whatever happens. The
PostgreSQL binaries refuse to run as root: as root they run as the ``postgres`` user (``runuser``).

Used by tests/test_replica.py (the small case world) and bench/replica.py (the demo district).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

PG_VERSION = "15"


def bin_dir() -> Path | None:
    found = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
    return found if (found / "initdb").exists() and (found / "pg_basebackup").exists() else None


def unavailable() -> str | None:
    """None when a pair can be made here, else why not (for a skip message)."""
    if bin_dir() is None:
        return f"PostgreSQL {PG_VERSION} server binaries (initdb, pg_basebackup) not found in /usr/lib/postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the PostgreSQL servers as"
        if shutil.which("runuser") is None:
            return "running as root and runuser(1) is missing"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    """A primary and its hot standby, each a PostgreSQL server of its own in ``root``."""

    root: Path
    bin: Path
    primary_port: int = field(default_factory=free_port)
    replica_port: int = field(default_factory=free_port)

    def run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    def start(self, which: str) -> None:
        self.run("pg_ctl", "-D", str(self.root / which), "-l", str(self.root / f"{which}.log"), "-w", "-t", "60",
                 "start")

    def stop(self, which: str) -> None:
        self.run("pg_ctl", "-D", str(self.root / which), "-m", "fast", "-w", "-t", "60", "stop")

    def url(self, port: int, database: str = "liandong") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica_port)


def sql(url: str, statement: str):
    """One statement's first value, on a connection of its own (autocommit)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return conn.execute(text(statement)).scalar()
    finally:
        engine.dispose()


def wait_until_replayed(cluster: Cluster, limit: float = 60.0) -> None:
    """Until the standby has replayed everything the primary has written now (bounded: fails past ``limit``)."""
    lsn = sql(cluster.primary_url, "SELECT CAST(pg_current_wal_lsn() AS text)")
    deadline = time.monotonic() + limit
    while not sql(cluster.replica_url, f"SELECT pg_last_wal_replay_lsn() >= CAST('{lsn}' AS pg_lsn)"):
        if time.monotonic() > deadline:
            raise AssertionError(f"the standby did not replay up to {lsn} within {limit} s")
        time.sleep(0.05)


def build(cluster: Cluster, fill: Callable[[str], None]) -> None:
    """initdb → primary started → ``fill(primary_url)`` (the database ``liandong`` exists, empty) →
    pg_basebackup -R → standby started."""
    cluster.run("initdb", "-D", str(cluster.root / "primary"), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                "--locale=C", "--no-sync")
    with open(cluster.root / "primary" / "postgresql.conf", "a") as conf:
        conf.write(f"\nport = {cluster.primary_port}\nlisten_addresses = '127.0.0.1'\n"
                   f"unix_socket_directories = '{cluster.root}'\nwal_level = replica\nmax_wal_senders = 4\n"
                   "fsync = off\nfull_page_writes = off\nshared_buffers = 32MB\nautovacuum = off\n")
    cluster.start("primary")
    admin = create_engine(cluster.url(cluster.primary_port, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE liandong"))
    admin.dispose()
    fill(cluster.primary_url)
    cluster.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(cluster.primary_port), "-U", "postgres",
                "-D", str(cluster.root / "replica"), "-R", "-X", "stream", "-c", "fast", "--no-sync")
    with open(cluster.root / "replica" / "postgresql.conf", "a") as conf:
        conf.write(f"\nport = {cluster.replica_port}\nhot_standby = on\n")
    cluster.start("replica")


@contextlib.contextmanager
def pair(fill: Callable[[str], None]) -> Iterator[Cluster]:
    """A running primary (filled by ``fill``, which gets its URL) and a standby that has replayed it all; both
    stopped and removed on leaving. Check ``unavailable()`` first."""
    from liandong.db import dispose_engine
    from liandong.ops import replica as replicas

    binaries = bin_dir()
    if binaries is None:
        raise RuntimeError(unavailable())
    root = Path(tempfile.mkdtemp(prefix="liandong-replica-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    made = Cluster(root=root, bin=binaries)
    try:
        build(made, fill)
        wait_until_replayed(made)
        yield made
    finally:
        for url in (made.primary_url, made.replica_url, replicas._with_timeout(made.replica_url)):
            dispose_engine(url)
        for which in ("replica", "primary"):
            if (root / which / "postmaster.pid").exists():
                with contextlib.suppress(Exception):
                    made.run("pg_ctl", "-D", str(root / which), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
