"""The simulated Minhang year (issue 14): ``liandong simulate --scenario minhang-2012`` into a fresh database (the
district loaded without demo activity), in a child process. Reported: wall seconds; the steps a second (reports,
case actions, hazard and dispute steps, each through its service) and the case events a second, beside a bare batch
insert of as many event rows into a copy of the event table in the same database, in the same run; the child's peak
memory; the year's figures beside the scenario's targets; and the assessment of every object type and the annual
report over the simulated year (``bench/assessment.py``: a district's year with its people).

``run(url)`` is what ``bench/run.py`` calls; ``python -m bench.simulation [--scale F] [--postgres]`` runs it alone and
writes ``var/bench/simulation.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LIANDONG_ARGON2_TIME_COST", "1")

from sqlalchemy import Column, Integer, MetaData, Table, func, select  # noqa: E402

from liandong.cases.models import CaseEvent  # noqa: E402
from liandong.db import dispose_engine, get_engine, insert_values, migrate, unit_of_work  # noqa: E402
from liandong.demo import loader  # noqa: E402

OUT = Path("var/bench")


def run(url: str, scale: float = 1.0, seed: int = 1) -> dict:
    """Load the district into ``url`` (a fresh database), simulate the year in a child process, time a bare insert."""
    t = time.perf_counter()
    migrate(url)
    with unit_of_work(url) as s:
        loader.load(s, "bench-password-123", cases=0)
    load_s = time.perf_counter() - t
    dispose_engine(url)
    t = time.perf_counter()
    command = [str(Path(sys.executable).with_name("liandong")), "simulate", "--scale", str(scale), "--seed", str(seed),
               "--json"]
    child = subprocess.run(command, env={**os.environ, "LIANDONG_DATABASE_URL": url}, capture_output=True, text=True,
                           check=False)
    wall = time.perf_counter() - t
    if child.returncode != 0:
        return {"error": child.stderr[-2000:]}
    out = json.loads(child.stdout)
    with unit_of_work(url) as s:
        events = int(s.scalar(select(func.count()).select_from(CaseEvent)) or 0)
        last = s.scalar(select(func.max(CaseEvent.at)))
    bare = bare_insert(url, events)
    from bench import assessment
    assessed = assessment.measure(url, last, year=last.year) if last else None
    rate = events / out["seconds"] if out["seconds"] else None
    return {"scale": scale, "seed": seed, "district_load_seconds": round(load_s, 1), "wall_seconds": round(wall, 1),
            "play_seconds": out["seconds"], "statistics_seconds": out["statistics_seconds"],
            "months_seconds": out["months_seconds"], "plan_seconds": out["plan_seconds"],
            "reports": out["cases_planned"],
            "steps": out["steps"], "steps_per_second": out["steps_per_second"], "case_events": events,
            "case_events_per_second": round(rate) if rate else None, "bare_insert_rows_per_second": bare,
            "ratio_to_bare": round(rate / bare, 3) if rate and bare else None,
            "peak_memory_mib": out["peak_memory_mib"], "figures": out["figures"], "assessment": assessed}


def bare_insert(url: str, n: int, chunk: int = 10_000) -> int:
    """Rows a second of a plain batched insert of ``n`` event-shaped rows (a copy of the event table without its
    indexes and keys), ``chunk`` rows a transaction, through the path the event log is written by
    (``db.insert_values``: the driver's executemany, COPY on PostgreSQL) — the floor under any writer of the log."""
    columns = [Column(c.name, c.type) for c in CaseEvent.__table__.c if c.name != "id"]
    table = Table("bench_bare_events", MetaData(), Column("id", Integer, primary_key=True), *columns)
    engine = get_engine(url)
    table.drop(engine, checkfirst=True)
    table.create(engine)
    row = {"case_id": 1, "seq": 1, "at": None, "actor": "bench", "actor_id": None, "unit_id": None,
           "action": "accept", "from_state": "reported", "to_state": "accepted", "payload": {"note": "bench"}}
    row["at"] = dt.datetime(2012, 6, 1, tzinfo=dt.UTC)
    t = time.perf_counter()
    done = 0
    while done < n:
        k = min(chunk, n - done)
        with unit_of_work(url) as session:
            insert_values(session, table, tuple(row), [(done + i, *list(row.values())[1:]) for i in range(k)])
        done += k
    seconds = time.perf_counter() - t
    table.drop(engine)
    return round(n / seconds) if seconds else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (a database made and dropped)")
    args = parser.parse_args()
    from bench.run import drop_postgres, postgres_url

    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = run(f"sqlite:///{tmp}/sim.db", args.scale, args.seed)
        print("simulation (SQLite):", {k: v for k, v in result["sqlite"].items() if k != "figures"})
    if args.postgres and (pg := postgres_url()):
        try:
            result["postgresql"] = run(pg, args.scale, args.seed)
            print("simulation (PostgreSQL):", {k: v for k, v in result["postgresql"].items() if k != "figures"})
        finally:
            drop_postgres(pg)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "simulation.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
