"""Intake with two app processes against one, on one PostgreSQL (issue 15: "2 processes against 1").

``POST /api/v1/cases`` through ``uvicorn liandong.app:create_app --factory --workers N`` on 127.0.0.1, driven by wrk
with bench/intake.py's script (mixed reports, every point a new one, duplicate detection on as deployed). Rounds
alternate one process and two, so that the drift of a busy machine falls on both alike; each run is a fresh server
on a fresh copy of the loaded database (``CREATE DATABASE … TEMPLATE``: without it every run found the cases of the
runs before it, and the duplicate search and the indexes grew from round to round), warmed for 2 s, then measured
for ``seconds`` at each connection count. The figure is the median over the rounds of
the two-process rate over the one-process rate at the same connections. Goal (DESIGN.md §6): ≥ 1.5 ×; the app
processes share the machine's cores with PostgreSQL and wrk, so the cores and the load average are reported beside it.

Alone: ``python -m bench.processes`` (a scratch database on ``LIANDONG_TEST_DATABASE_URL``'s server with the demo
district, dropped afterwards; JSON in var/bench/processes.json). In ``make bench``: ``processes.run(pg, PASSWORD,
intake_points(index))`` on the database bench/run.py made.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench import intake
from liandong.config import Settings


def _env(db_url: str) -> dict:
    defaults = Settings.model_construct()  # duplicate detection as deployed, whatever the shell says
    return {**os.environ, "LIANDONG_DATABASE_URL": db_url, "LIANDONG_SWEEP_SECONDS": "0",
            "LIANDONG_EARLY_WARNING_SCAN_MINUTES": "0", "LIANDONG_DEDUPE_AUTO": str(defaults.dedupe_auto),
            "LIANDONG_DEDUPE_REVIEW": str(defaults.dedupe_review)}


@contextmanager
def fresh_copy(db_url: str) -> Iterator[str]:
    """A copy of the database at ``db_url`` (nobody may be connected to it), dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from liandong.db import dispose_engine

    dispose_engine(db_url)
    url = make_url(db_url)
    name = f"{url.database}_copy_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d "
                              "AND usename = current_user AND pid <> pg_backend_pid()"),
                         {"d": url.database})  # a template must have nobody on it (the bench's own idle pools)
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(db_url: str, password: str, points: list[tuple[float, float]], workers: int, seconds: float,
            connections: tuple[int, ...]) -> dict[str, dict]:
    """One fresh server with ``workers`` processes on a fresh copy of the database: its wrk result at each
    connection count."""
    with fresh_copy(db_url) as copy:
        return _measure(copy, password, points, workers, seconds, connections)


def _measure(db_url: str, password: str, points: list[tuple[float, float]], workers: int, seconds: float,
             connections: tuple[int, ...]) -> dict[str, dict]:
    port = intake.free_port()
    with tempfile.TemporaryDirectory(prefix="liandong-processes-") as tmp, open(Path(tmp) / "server.log", "w+b") as log:
        # the server's log goes to a file: a pipe nobody reads would fill up with request logs and stall the server
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "liandong.app:create_app", "--factory", "--port",
                                 str(port), "--log-level", "warning", "--workers", str(workers)],
                                env=_env(db_url), stdout=log, stderr=subprocess.STDOUT)
        try:
            if not _ready(proc, port):
                raise RuntimeError(f"the server did not start: {_tail(log)}")
            login = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/token",
                               data={"username": "receptionist", "password": password}, timeout=30)
            login.raise_for_status()
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            url = f"http://127.0.0.1:{port}/api/v1/cases"
            intake.wrk(url, points, connections=max(connections), seconds=2, headers=auth)  # every worker warm
            return {str(c): intake.wrk(url, points, connections=c, seconds=seconds, headers=auth)
                    for c in connections}
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; the server said: {_tail(log)}") from exc
        finally:
            intake.stop(proc)


def _tail(log) -> list[str]:
    """The server's last lines that are not a request answered 201."""
    log.seek(0)
    return [ln for ln in log.read().decode(errors="replace").splitlines() if '"status": 201' not in ln][-5:]


def _ready(proc: subprocess.Popen, port: int, seconds: float = 120) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def run(db_url: str, password: str, points: list[tuple[float, float]], seconds: float = 8.0,
        connections: tuple[int, ...] = (16, 64), rounds: int = 3) -> dict:
    if not os.path.exists(intake.WRK):
        return {"skipped": "wrk is not installed (apt-get install wrk; make bench does it as root)"}
    if not db_url.startswith("postgresql"):
        return {"skipped": "several processes run on PostgreSQL (bench/processes.py)"}
    load_before = os.getloadavg()
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for _ in range(rounds):
        for workers in (1, 2):
            runs[workers].append(measure(db_url, password, points, workers, seconds, connections))
    out: dict = {"seconds": seconds, "rounds": rounds, "cpus": os.cpu_count(),
                 "load_average_before": [round(x, 2) for x in load_before],
                 "load_average_after": [round(x, 2) for x in os.getloadavg()],
                 "note": "wrk and PostgreSQL share the cores with the app processes"}
    for c in map(str, connections):
        one = [r[c]["per_s"] for r in runs[1]]
        two = [r[c]["per_s"] for r in runs[2]]
        out[c] = {
            "one_process_per_s": one, "two_processes_per_s": two,
            "one_process_p99_ms": [r[c]["p99_ms"] for r in runs[1]],
            "two_processes_p99_ms": [r[c]["p99_ms"] for r in runs[2]],
            "ratio": round(statistics.median(two) / statistics.median(one), 3),
        }
    out["target"] = "2 processes >= 1.5 x 1 on PostgreSQL (DESIGN.md §6)"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", default="16,64", help="comma-separated wrk connection counts")
    args = parser.parse_args()
    from bench import run as bench_run
    from liandong.areas.index import GridIndex
    from liandong.db import unit_of_work

    pg = bench_run.postgres_url()
    if pg is None:
        raise SystemExit("PostgreSQL is not reachable (LIANDONG_TEST_DATABASE_URL): nothing to measure")
    try:
        loaded = bench_run.load_demo(pg)
        with unit_of_work(pg) as s:
            points = bench_run.intake_points(GridIndex.build(s), 40_000)
        result = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "demo_load_seconds": round(loaded, 1),
                  "processes_postgresql": run(pg, bench_run.PASSWORD, points, args.seconds,
                                              tuple(int(c) for c in args.connections.split(",")), args.rounds)}
    finally:
        bench_run.drop_postgres(pg)
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "processes.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(result["processes_postgresql"], indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    main()
