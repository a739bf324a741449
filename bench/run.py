"""Benchmarks (``make bench``): results as JSON under var/bench/, baselines measured in the same run.

- demo load: migrate + load the Minhang demo district into a fresh SQLite file (and PostgreSQL when
  reachable), seconds;
- point → grid, one point at a time: ``GridIndex.locate`` and the full ``locate`` answer (ancestors,
  responsible units, scope check) against the raw Shapely STRtree query on the same tree and points;
- point → grid in bulk: ``GridIndex.locate_many`` against one raw vectorised STRtree query;
- HTTP ``GET /api/v1/areas/locate`` through uvicorn on 127.0.0.1 (bounded request count), p50/p99;
- the case life cycle in process: full report→close cycles per second, one transaction per action, beside
  bare one-row transactions on the same database;
- change → screen: a new case's time from its committed POST to its event on an open SSE stream (bench/live.py);
- HTTP intake (``POST /api/v1/cases``) against a bare FastAPI endpoint inserting one row, driven by wrk: mixed
  reports and a report storm at 16 and 64 connections too, and on PostgreSQL two app processes against one
  (bench/intake.py);
- early warning: the space-time scan beside the EARS C2-style baseline on a simulated district-month with injected
  clusters — recall, false alarms a week, hours to warning, scan time (bench/early_warning.py);
- CAP import throughput: the shared samples with fresh identifiers through the importer, beside a bare lxml parse
  and XSD validation of the same documents (bench/cap.py);
- the Boston 2015 year through the history path (bench/history.py);
- command-centre figures (overview, series, breakdowns, map, overdue list) over 250,000 cases made through the
  batch paths (bench/figures.py), and on the same cases the assessment of every object type and the annual report
  beside a bare aggregate over the facts (bench/assessment.py);
- the simulated Minhang 2012 year through the services (``--sim-scale``, default the whole year), beside a bare batch
  insert of as many event rows, with its peak memory (bench/simulation.py);
- on PostgreSQL: recovery after every database connection is killed under steady intake, and every acknowledged
  report stored exactly once (bench/faults.py); intake and dashboard reads with a hot standby for reads against the
  primary alone, with the replica's share of the reads and its replay lag (bench/replica.py, a pair of its own).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("LIANDONG_ARGON2_TIME_COST", "1")
os.environ.setdefault("LIANDONG_ARGON2_MEMORY_KIB", "1024")
os.environ.setdefault("LIANDONG_ARGON2_PARALLELISM", "1")

import numpy as np  # noqa: E402
import shapely  # noqa: E402

from bench import (  # noqa: E402
    assessment,
    cap,
    early_warning,
    faults,
    figures,
    history,
    intake,
    live,
    partitions,
    plans,
    processes,
    replica,
    simulation,
)
from liandong.areas.index import GridIndex, locate  # noqa: E402
from liandong.auth.identity import Identity  # noqa: E402
from liandong.config import get_settings  # noqa: E402
from liandong.db import dispose_engine, migrate, unit_of_work  # noqa: E402
from liandong.demo import loader  # noqa: E402

OUT = Path("var/bench")
PASSWORD = "bench-password-123"
PG_URL = os.environ.get("LIANDONG_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def load_demo(url: str) -> float:
    def go():
        migrate(url)
        with unit_of_work(url) as s:
            loader.load(s, PASSWORD)

    seconds, _ = timed(go)
    return seconds


def random_points(index: GridIndex, n: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = shapely.total_bounds(index.geoms)
    rng = np.random.default_rng(seed)
    return rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)


def per_point(index: GridIndex, lons: np.ndarray, lats: np.ndarray, rounds: int = 5) -> dict:
    """Best-of-rounds µs per point, raw tree query and ours interleaved so drift hits both alike."""
    tree = index.tree
    xs, ys = lons.tolist(), lats.tolist()

    def raw():
        for x, y in zip(xs, ys, strict=True):
            tree.query(shapely.Point(x, y), predicate="intersects")

    def ours():
        for x, y in zip(xs, ys, strict=True):
            index.locate(x, y)

    def full():
        for x, y in zip(xs, ys, strict=True):
            locate(index, x, y)

    best = {"raw": 1e9, "index": 1e9, "full": 1e9}
    for _ in range(rounds):
        for name, fn in (("raw", raw), ("index", ours), ("full", full)):
            seconds, _ = timed(fn)
            best[name] = min(best[name], seconds / len(xs) * 1e6)
    return {
        "points": len(xs),
        "raw_strtree_us_per_point": round(best["raw"], 3),
        "index_locate_us_per_point": round(best["index"], 3),
        "full_answer_us_per_point": round(best["full"], 3),
        "ratio_index_vs_raw": round(best["index"] / best["raw"], 3),
        "ratio_full_vs_raw": round(best["full"] / best["raw"], 3),
        "target": "index_locate <= 2 x raw STRtree (DESIGN.md §6)",
    }


def bulk(index: GridIndex, lons: np.ndarray, lats: np.ndarray, rounds: int = 5) -> dict:
    tree = index.tree
    best_raw = best_ours = 1e9
    for _ in range(rounds):
        s, _ = timed(lambda: tree.query(shapely.points(lons, lats), predicate="intersects"))
        best_raw = min(best_raw, s)
        s, _ = timed(lambda: index.locate_many(lons, lats))
        best_ours = min(best_ours, s)
    n = len(lons)
    return {
        "points": n,
        "raw_strtree_us_per_point": round(best_raw / n * 1e6, 3),
        "locate_many_us_per_point": round(best_ours / n * 1e6, 3),
        "ratio_vs_raw": round(best_ours / best_raw, 3),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_locate(url: str, lons: np.ndarray, lats: np.ndarray, requests: int = 2000) -> dict:
    """Sequential requests from one client over keep-alive: latency of one locate request end to end."""
    import httpx
    import uvicorn

    from liandong.app import create_app
    from liandong.config import Settings

    port = free_port()
    app = create_app(Settings(database_url=url))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            token = client.post("/api/v1/auth/token", data={"username": "dispatcher", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            client.get("/api/v1/areas/locate", params={"lon": lons[0], "lat": lats[0]}, headers=headers)  # warm
            latencies = []
            t0 = time.perf_counter()
            for i in range(requests):
                t = time.perf_counter()
                r = client.get("/api/v1/areas/locate", params={"lon": lons[i], "lat": lats[i]}, headers=headers)
                latencies.append((time.perf_counter() - t) * 1000)
                assert r.status_code in (200, 404)
            wall = time.perf_counter() - t0
            health = []
            for _ in range(500):
                t = time.perf_counter()
                client.get("/healthz")
                health.append((time.perf_counter() - t) * 1000)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": requests,
        "req_per_s": round(requests / wall, 1),
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(q[98], 3),
        "baseline_healthz_p50_ms": round(statistics.median(health), 3),
        "note": "one client, sequential, keep-alive; the token is remembered per process (auth/principals.py)",
    }


def bare_transactions(url: str, n: int) -> float:
    """The database's floor for the life cycle: one-row INSERT transactions per second, same engine (Core)."""
    from sqlalchemy import Column, Integer, MetaData, String, Table, insert

    from liandong.db import get_engine

    engine = get_engine(url)
    table = Table("bench_bare_events", MetaData(), Column("id", Integer, primary_key=True),
                  Column("case_id", Integer), Column("action", String(32)))
    table.create(engine, checkfirst=True)
    t = time.perf_counter()
    for i in range(n):
        with engine.begin() as conn:
            conn.execute(insert(table).values(case_id=i // 9, action="bench"))
    per_s = n / (time.perf_counter() - t)
    table.drop(engine)
    return per_s


def lifecycle(url: str, cycles: int) -> dict:
    """Full report→close cycles through the case service, one transaction per action (as the API does),
    beside the same number of bare one-row transactions on the same database."""
    from sqlalchemy import select

    from liandong.cases import actions, calendar, intake
    from liandong.units.models import Unit

    with unit_of_work(url) as s:
        index = GridIndex.build(s)
        cal = calendar.calendar_for(s)
        centre = s.scalar(select(Unit.id).where(Unit.code == "LD-310112"))
    actor = Identity(roles=frozenset({"receptionist", "shift_leader", "dispatcher", "handler",
                                           "inspector"}), unit_id=centre)
    points = [index.geoms[i].representative_point() for i in range(0, len(index.geoms), len(index.geoms) // cycles)]
    steps = [("accept", {}), ("file", {}), ("dispatch", {"lead_unit_id": centre}), ("sign", {}),
             ("report_done", {"note": "done"}), ("request_check", {}), ("check_passed", {}), ("close", {})]
    t = time.perf_counter()
    for p in points[:cycles]:
        with unit_of_work(url) as s:
            case, _ = intake.report(s, index, actor, matter_code="06010", description="bench", lon=p.x, lat=p.y,
                                     channel="hotline")
            cid = case.id
        for action, payload in steps:
            with unit_of_work(url) as s:
                actions.act(s, index, cid, action, actor, dict(payload), calendar=cal)
    seconds = time.perf_counter() - t
    transitions = cycles * (len(steps) + 1)
    bare = bare_transactions(url, transitions)
    ours = transitions / seconds
    return {"cycles": cycles, "transitions": transitions, "seconds": round(seconds, 2),
            "cycles_per_s": round(cycles / seconds, 1), "transitions_per_s": round(ours, 1),
            "bare_one_row_transactions_per_s": round(bare, 1), "ratio_vs_bare": round(ours / bare, 3),
            "note": "each transition: read the case, check role and state, update it, append its event, commit"}


def intake_points(index: GridIndex, n: int = 2000) -> list[tuple[float, float]]:
    step = max(1, len(index.geoms) // n)
    return [(p.x, p.y) for p in (index.geoms[i].representative_point() for i in range(0, len(index.geoms), step))]


def http_intake(url: str, index: GridIndex, seconds: float, scaling: bool = False) -> dict:
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed (apt-get install wrk; make bench does it as root)"}
    return intake.run(url, PASSWORD, intake_points(index, 40_000), intake.storm_points(index), seconds,
                      scaling=scaling)


def figure_run(url: str, index: GridIndex, cases: int) -> dict:
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    made = figures.populate(url, index, cases, open_share=0.04, now=now)
    return {"made": made, "seconds": figures.measure(url, now), "assessment": assessment.measure(url, now)}


def postgres_url() -> str | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    try:
        admin = create_engine(make_url(PG_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 3})
        name = f"liandong_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return make_url(PG_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(False)
    except Exception as exc:  # unreachable server: benchmark SQLite only, and say so
        print(f"PostgreSQL not reachable ({exc.__class__.__name__}); PostgreSQL figures skipped")
        return None


def drop_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    dispose_engine(url)
    admin = create_engine(make_url(PG_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--bulk-points", type=int, default=200_000)
    parser.add_argument("--http-requests", type=int, default=2000)
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--intake-seconds", type=float, default=8.0)
    parser.add_argument("--figure-cases", type=int, default=250_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--sim-scale", type=float, default=1.0, help="the simulated year's share of Minhang 2012")
    args = parser.parse_args()
    get_settings.cache_clear()
    OUT.mkdir(parents=True, exist_ok=True)
    result: dict = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "shapely": shapely.__version__, "geos": shapely.geos_version_string},
    }
    result["early_warning"] = early_warning.run()  # a simulated district-month: no database
    print("early warning (scan vs baseline):", {k: v for k, v in result["early_warning"].items() if k != "runs"})
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        result["demo_load_seconds"] = {"sqlite": round(load_demo(url), 2)}
        print("demo load (SQLite):", result["demo_load_seconds"]["sqlite"], "s")
        with unit_of_work(url) as s:
            build_s, index = timed(lambda: GridIndex.build(s))
        result["grid_index"] = {"grids": len(index), "build_seconds": round(build_s, 3)}
        lons, lats = random_points(index, args.points)
        result["locate_single"] = per_point(index, lons, lats)
        print("locate single:", result["locate_single"])
        blons, blats = random_points(index, args.bulk_points, seed=43)
        result["locate_bulk"] = bulk(index, blons, blats)
        print("locate bulk:", result["locate_bulk"])
        result["http_locate_sqlite"] = http_locate(url, lons, lats, args.http_requests)
        print("http locate (SQLite):", result["http_locate_sqlite"])
        result["lifecycle_sqlite"] = lifecycle(url, args.cycles)
        print("case life cycle (SQLite):", result["lifecycle_sqlite"])
        result["plan_activation_sqlite"] = plans.run(url, PASSWORD)
        print("district-wide plan activation (SQLite):", result["plan_activation_sqlite"])
        result["cap_import_sqlite"] = cap.run(url)
        print("CAP import (SQLite):", result["cap_import_sqlite"])
        dispose_engine(url)
        result["live_feed_sqlite"] = live.run(url, PASSWORD, intake_points(index))
        print("change → screen (SQLite):", result["live_feed_sqlite"])
        dispose_engine(url)
        result["http_intake_sqlite"] = http_intake(url, index, args.intake_seconds)
        print("http intake (SQLite):", result["http_intake_sqlite"])
        dispose_engine(url)
        result["figures_sqlite"] = figure_run(url, index, args.figure_cases)
        print("figures (SQLite):", result["figures_sqlite"])
        dispose_engine(url)
        result["history_sqlite"] = history.run(f"sqlite:///{tmp}/history.db")
        print("history (SQLite):", result["history_sqlite"])
        result["simulation_sqlite"] = simulation.run(f"sqlite:///{tmp}/simulation.db", args.sim_scale)
        print("simulated year (SQLite):", {k: v for k, v in result["simulation_sqlite"].items() if k != "figures"})
    if not args.no_postgres and (pg := postgres_url()):
        try:
            result["demo_load_seconds"]["postgresql"] = round(load_demo(pg), 2)
            print("demo load (PostgreSQL):", result["demo_load_seconds"]["postgresql"], "s")
            result["http_locate_postgresql"] = http_locate(pg, lons, lats, args.http_requests)
            print("http locate (PostgreSQL):", result["http_locate_postgresql"])
            result["lifecycle_postgresql"] = lifecycle(pg, args.cycles)
            print("case life cycle (PostgreSQL):", result["lifecycle_postgresql"])
            result["plan_activation_postgresql"] = plans.run(pg, PASSWORD)
            print("district-wide plan activation (PostgreSQL):", result["plan_activation_postgresql"])
            result["cap_import_postgresql"] = cap.run(pg)
            print("CAP import (PostgreSQL):", result["cap_import_postgresql"])
            result["live_feed_postgresql"] = live.run(pg, PASSWORD, intake_points(index))
            print("change → screen (PostgreSQL):", result["live_feed_postgresql"])
            result["http_intake_postgresql"] = http_intake(pg, index, args.intake_seconds, scaling=True)
            print("http intake (PostgreSQL):", result["http_intake_postgresql"])
            result["processes_postgresql"] = processes.run(pg, PASSWORD, intake_points(index, 40_000))
            print("2 processes vs 1 (PostgreSQL):", result["processes_postgresql"])
            result["figures_postgresql"] = figure_run(pg, index, args.figure_cases)
            print("figures (PostgreSQL):", result["figures_postgresql"])
        finally:
            drop_postgres(pg)
        if sim_pg := postgres_url():
            try:
                result["simulation_postgresql"] = simulation.run(sim_pg, args.sim_scale)
                print("simulated year (PostgreSQL):",
                      {k: v for k, v in result["simulation_postgresql"].items() if k != "figures"})
            finally:
                drop_postgres(sim_pg)
        if part_pg := postgres_url():
            try:
                result["partitions_postgresql"] = partitions.run(part_pg, events=1_000_000, months=24)
                print("partitioned history (PostgreSQL):", result["partitions_postgresql"]["readers"])
            finally:
                drop_postgres(part_pg)
        if fault_pg := postgres_url():
            try:
                load_demo(fault_pg)
                dispose_engine(fault_pg)  # this process holds no connection while the app's are killed
                result["faults_postgresql"] = faults.run(fault_pg, PASSWORD, intake_points(index, 40_000))
                print("connections killed under intake (PostgreSQL):",
                      {k: v for k, v in result["faults_postgresql"].items() if k != "per_round"})
            finally:
                drop_postgres(fault_pg)
        result["replica_postgresql"] = replica.run(PASSWORD, intake_points(index, 40_000))  # a pair of its own
        print("intake and reads through a replica (PostgreSQL):",
              {k: {n: f for n, f in v.items() if n != "runs"} if isinstance(v, dict) else v
               for k, v in result["replica_postgresql"].items()})
    path = OUT / "foundation.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"written {path}")


if __name__ == "__main__":
    main()
