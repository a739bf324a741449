"""Intake and dashboard reads through a replica-backed deployment, against the primary alone (issue 15, point 2).

A PostgreSQL pair of its own (bench/pgpair.py: ``initdb`` primary with the demo district, ``pg_basebackup -R`` hot
standby, both on free ports, removed at the end). The app runs as deployed (``liandong serve``, JSON log in a file),
once with ``LIANDONG_DATABASE_REPLICA_URL`` naming the standby and once without, rounds alternating so that the drift
of a busy machine falls on both alike. In each run, for ``seconds``: wrk reports cases as ``receptionist``
(bench/intake.py's script, mixed reports, duplicate detection as deployed) while reader threads — users who write
nothing — fetch the command centre's KPI cards (``GET /api/v1/stats/overview``) one after another, each over its own
kept-alive connection.

Reported per configuration: intake cases/s (wrk), read p50/p95/p99 and reads/s (the clients' clocks), the share of
the reads served by the replica (each measured read carries an ``X-Request-ID``; the server's closing line for it
says ``read_from``), and the standby's replay lag seen on the primary (``pg_stat_replication``: ``replay_lag`` and
the bytes not yet replayed), sampled every 0.25 s through the run. Both servers share the machine's cores with the
app and wrk, so a replica here adds no capacity: what it shows is where the reads went and what it costs.

Alone: ``python -m bench.replica`` (JSON in var/bench/replica.json). In ``make bench``: ``replica.run(PASSWORD,
intake_points(index, 40_000))``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import intake, pgpair
from bench.faults import liandong_serve, log_records, server_env

WRITER = "receptionist"
READERS = ("leader", "commander", "dispatcher", "inspector")
"""Demo users who write nothing in the run: their reads may go to the replica."""
OVERVIEW = "/api/v1/stats/overview"
_LAG = ("SELECT COALESCE(EXTRACT(EPOCH FROM replay_lag), 0), "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication")


@dataclass
class Reader:
    """A reader thread: the KPI cards again and again over one kept-alive connection."""

    base: str
    token: str
    tag: str
    took_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        with httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=30) as c:
            n = 0
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    r = c.get(OVERVIEW, headers={"X-Request-ID": f"{self.tag}-{n}"})
                except httpx.HTTPError as exc:
                    self.failures.append(f"{exc.__class__.__name__}: {exc}")
                    continue
                self.took_ms.append((time.perf_counter() - t) * 1000)
                self.statuses[r.status_code] += 1
                n += 1


class LagSampler:
    """The standby's replay lag as the primary sees it, every ``every`` seconds, on one connection."""

    def __init__(self, primary_url: str, every: float = 0.25):
        from sqlalchemy import create_engine

        self.engine = create_engine(primary_url, isolation_level="AUTOCOMMIT")
        self.every = every
        self.seconds: list[float] = []
        self.bytes: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            while not self.stop.is_set():
                row = conn.execute(text(_LAG)).first()
                if row is not None:
                    self.seconds.append(float(row[0]))
                    self.bytes.append(float(row[1] or 0))
                self.stop.wait(self.every)

    def __enter__(self) -> LagSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.engine.dispose()

    def figures(self) -> dict:
        if not self.seconds:
            return {"samples": 0, "note": "no standby streaming from the primary"}
        q = statistics.quantiles(self.seconds, n=20) if len(self.seconds) > 1 else [self.seconds[0]] * 19
        return {"samples": len(self.seconds), "replay_lag_p50_ms": round(statistics.median(self.seconds) * 1000, 1),
                "replay_lag_p95_ms": round(q[18] * 1000, 1), "replay_lag_max_ms": round(max(self.seconds) * 1000, 1),
                "bytes_behind_max": int(max(self.bytes))}


def _pct(values: list[float], p: int) -> float | None:
    if len(values) < 2:
        return round(values[0], 1) if values else None
    return round(statistics.quantiles(values, n=100)[p - 1], 1)


def measure(cluster: pgpair.Cluster, password: str, points: list[tuple[float, float]], with_replica: bool,
            seconds: float, connections: int, round_no: int) -> dict:
    """One fresh server, with or without the replica: intake and reads for ``seconds`` at once."""
    extra = {"LIANDONG_DATABASE_REPLICA_URL": cluster.replica_url} if with_replica else {}
    with tempfile.TemporaryDirectory(prefix="liandong-replica-bench-") as tmp:
        log_path = Path(tmp) / "server.log"
        with liandong_serve(server_env(cluster.primary_url, **extra), log_path) as base:
            tokens = {}
            for name in (WRITER, *READERS):
                r = httpx.post(f"{base}/api/v1/auth/token", data={"username": name, "password": password},
                               timeout=30)
                if r.status_code != 200:
                    raise RuntimeError(f"{name} could not sign in: {r.status_code} {r.text[:200]}")
                tokens[name] = r.json()["access_token"]
            auth = {"Authorization": f"Bearer {tokens[WRITER]}"}
            url = f"{base}/api/v1/cases"
            intake.wrk(url, points, connections=connections, seconds=2, headers=auth)  # warm: grid index, pools
            for name in READERS:
                warm = httpx.get(f"{base}{OVERVIEW}", headers={"Authorization": f"Bearer {tokens[name]}"}, timeout=30)
                if warm.status_code != 200:
                    raise RuntimeError(f"{name} may not read the overview: {warm.status_code} {warm.text[:200]}")
            pgpair.wait_until_replayed(cluster)  # the sign-ins and the warm-up's reports: the replica is level
            tag = f"m{round_no}{'r' if with_replica else 'p'}"
            readers = [Reader(base, tokens[name], f"{tag}-{i}") for i, name in enumerate(READERS)]
            stop = threading.Event()
            threads = [threading.Thread(target=r.run, args=(stop,), daemon=True) for r in readers]
            with LagSampler(cluster.primary_url) as lag:
                t0 = time.perf_counter()
                for t in threads:
                    t.start()
                written = intake.wrk(url, points, connections=connections, seconds=seconds, headers=auth)
                stop.set()
                for t in threads:
                    t.join(timeout=60)
                wall = time.perf_counter() - t0
        measured = [r for r in log_records(log_path)
                    if r.get("route") == OVERVIEW and str(r.get("request_id", "")).startswith(f"{tag}-")]
    took = [ms for r in readers for ms in r.took_ms]
    where = Counter(r.get("read_from", "primary (no replica set)") for r in measured)
    on_replica = where.get("replica", 0)
    return {
        "intake": {k: written[k] for k in ("per_s", "requests", "p50_ms", "p99_ms")},
        "reads": {"count": len(took), "per_s": round(len(took) / wall, 1), "p50_ms": _pct(took, 50),
                  "p95_ms": _pct(took, 95), "p99_ms": _pct(took, 99),
                  "statuses": {str(k): v for k, v in sum((r.statuses for r in readers), Counter()).items()},
                  "failures": [f for r in readers for f in r.failures][:5]},
        "read_from": dict(where), "logged_reads": len(measured),
        "replica_share": round(on_replica / len(measured), 4) if measured else None,
        "replay_lag": lag.figures(),
    }


def _demo(password: str):
    def fill(url: str) -> None:
        from liandong.db import dispose_engine, migrate, unit_of_work
        from liandong.demo import loader

        migrate(url)
        with unit_of_work(url) as s:
            loader.load(s, password)
        dispose_engine(url)

    return fill


def _points(primary_url: str) -> list[tuple[float, float]]:
    from liandong.areas.index import GridIndex
    from liandong.db import dispose_engine, unit_of_work

    with unit_of_work(primary_url) as s:
        index = GridIndex.build(s)
    dispose_engine(primary_url)
    step = max(1, len(index.geoms) // 40_000)
    return [(p.x, p.y) for p in (index.geoms[i].representative_point() for i in range(0, len(index.geoms), step))]


def run(password: str, points: list[tuple[float, float]] | None = None, seconds: float = 8.0, rounds: int = 2,
        connections: int = 8) -> dict:
    """Alternating rounds of the primary alone and the primary with its replica; the medians beside each run."""
    reason = pgpair.unavailable()
    if reason:
        return {"skipped": reason}
    if not os.path.exists(intake.WRK):
        return {"skipped": "wrk is not installed (apt-get install wrk; make bench does it as root)"}
    load_before = os.getloadavg()
    t = time.perf_counter()
    with pgpair.pair(_demo(password)) as cluster:
        built = time.perf_counter() - t
        points = points or _points(cluster.primary_url)
        runs: dict[str, list[dict]] = {"primary_only": [], "with_replica": []}
        for round_no in range(rounds):
            for name in ("primary_only", "with_replica"):
                runs[name].append(measure(cluster, password, points, name == "with_replica", seconds, connections,
                                          round_no))
    out: dict = {"seconds": seconds, "rounds": rounds, "wrk_connections": connections, "readers": len(READERS),
                 "pair_built_seconds": round(built, 1), "cpus": os.cpu_count(),
                 "load_average_before": [round(x, 2) for x in load_before],
                 "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    for name, got in runs.items():
        out[name] = {
            "intake_cases_per_s": round(statistics.median(r["intake"]["per_s"] for r in got), 1),
            "read_p50_ms": round(statistics.median(r["reads"]["p50_ms"] for r in got), 1),
            "read_p95_ms": round(statistics.median(r["reads"]["p95_ms"] for r in got), 1),
            "reads_per_s": round(statistics.median(r["reads"]["per_s"] for r in got), 1),
            "replica_share": statistics.median(r["replica_share"] or 0 for r in got),
            "runs": got,
        }
    out["note"] = ("primary, standby, app, wrk and the readers share the machine's cores; the primary runs with "
                   "fsync off (a scratch cluster): compare the two configurations, not with the shared server")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8, help="wrk connections reporting cases")
    args = parser.parse_args()
    from bench import run as bench_run

    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "replica_postgresql": run(bench_run.PASSWORD, None, args.seconds, args.rounds, args.connections)}
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "replica.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(result["replica_postgresql"], indent=2, ensure_ascii=False))
    print(f"written {path}")


if __name__ == "__main__":
    main()
