"""Recovery after the database's connections are killed, under steady intake (issue 15, point 4).

The app runs as it is deployed: ``liandong serve`` in a process of its own on 127.0.0.1, on PostgreSQL, its log (JSON
lines) in a file. A few client threads report cases without pause, each over one kept-alive httpx connection, each
report with its own Idempotency-Key and retried with the same key until it is answered 2xx (after 0.1 s: a client
that honoured ``Retry-After`` would wait longer, and the recovery measured would be its wait). Every few seconds
every backend of the app's database is terminated (``pg_terminate_backend`` on its ``pg_stat_activity`` rows, all but
the killer's own): the request transactions, the pool's idle connections and the LISTEN connection alike.

Per round: the seconds from the kill to the first 2xx answer to a request sent after it (recovery) and to the last
refusal; the answers of the outage (from the kill to the later of those two) and of the whole round, by kind (2xx,
JSON 503, other 5xx, other, connection errors, hangs — no answer within ``bound`` seconds); how many kept-alive
connections the server dropped. At the end: every
acknowledged report is stored exactly once (none lost, none doubled), the server logged no error, and ``/readyz``
answers 200 — the service came back without a restart.

Alone: ``python -m bench.faults`` (a scratch database on ``LIANDONG_TEST_DATABASE_URL``'s server with the demo
district, dropped afterwards; JSON in var/bench/faults.json). In ``make bench``: ``faults.run(pg, PASSWORD,
intake_points(index))`` on a database of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import intake
from liandong.config import Settings

PREFIX = "fault-bench "
"""Each report's description: this and its Idempotency-Key, so what is stored is told apart by it."""
RETRY_PAUSE = 0.1
GIVE_UP_SECONDS = 60.0
"""A report still not acknowledged this long after its first try is given up (and counted: none should be)."""


@contextlib.contextmanager
def liandong_serve(env: dict, log_path: Path, workers: int = 1, ready_seconds: float = 120) -> Iterator[str]:
    """``liandong serve`` on a free port until the block ends; yields its base URL once ``/readyz`` says 200.

    The log goes to ``log_path``: a pipe nobody reads would fill up with request lines and stall the server."""
    port = intake.free_port()
    cmd = [str(Path(sys.executable).parent / "liandong"), "serve", "--port", str(port), "--workers", str(workers)]
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + ready_seconds
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"liandong serve ended ({proc.returncode}): {tail(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"liandong serve was not ready within {ready_seconds:g} s: {tail(log_path)}")
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield base
    finally:
        intake.stop(proc)


def tail(log_path: Path, lines: int = 5) -> list[str]:
    """The log's last lines that are not an ordinary request's."""
    text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    return [ln for ln in text.splitlines() if '"logger": "liandong.request"' not in ln][-lines:]


def log_records(log_path: Path) -> list[dict]:
    """The server log's JSON lines (anything else, e.g. a line uvicorn wrote before logging was set up, skipped)."""
    out = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                out.append(record)
    return out


def server_env(db_url: str, **extra: str) -> dict:
    """The deployed settings, background jobs off (the only database work is the requests'), JSON logs."""
    defaults = Settings.model_construct()  # duplicate detection as deployed, whatever the shell says
    return {**os.environ, "LIANDONG_DATABASE_URL": db_url, "LIANDONG_SWEEP_SECONDS": "0",
            "LIANDONG_EARLY_WARNING_SCAN_MINUTES": "0", "LIANDONG_DEDUPE_AUTO": str(defaults.dedupe_auto),
            "LIANDONG_DEDUPE_REVIEW": str(defaults.dedupe_review), "LIANDONG_LOG_FORMAT": "json",
            "LIANDONG_LOG_LEVEL": "info", **extra}


@dataclass
class Answer:
    """One try of one report, as its client saw it (``time.monotonic()`` seconds)."""

    sent: float
    took: float
    kind: str  # ok | json_503 | other_5xx | other | connection_error | hang
    status: int | None = None

    @property
    def received(self) -> float:
        return self.sent + self.took


def kind_of(r: httpx.Response) -> str:
    if r.is_success:
        return "ok"
    if r.status_code == 503 and r.headers.get("content-type", "").startswith("application/json"):
        with contextlib.suppress(ValueError):
            if r.json().get("code") == "unavailable":
                return "json_503"
    return "other_5xx" if r.status_code >= 500 else "other"


@dataclass
class Reporter:
    """A client thread: one report after another over one kept-alive connection, each retried with its key."""

    base: str
    token: str
    points: list[tuple[float, float]]
    offset: int
    bound: float
    answers: list[Answer] = field(default_factory=list)
    acknowledged: dict[str, int] = field(default_factory=dict)  # key → the 2xx status that acknowledged it
    given_up: list[str] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)  # the client's local ports: one while the connection is kept
    crashed: list[str] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        client = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"},
                              timeout=httpx.Timeout(self.bound, connect=5.0))
        try:
            n = 0
            while not stop.is_set():
                self.report(client, n)
                n += 1
        except Exception as exc:  # a bug of the bench's, not the server's: say so in the result
            self.crashed.append(f"{exc.__class__.__name__}: {exc}")
        finally:
            client.close()

    def report(self, client: httpx.Client, n: int) -> None:
        key = uuid.uuid4().hex
        x, y = self.points[(self.offset + n * 7) % len(self.points)]
        body = {"matter_code": intake.MATTERS[n % len(intake.MATTERS)], "description": PREFIX + key,
                "lon": x, "lat": y, "channel": "hotline"}
        first = time.monotonic()
        while True:
            sent = time.monotonic()
            try:
                r = client.post("/api/v1/cases", json=body, headers={"Idempotency-Key": key})
                kind, status = kind_of(r), r.status_code
                with contextlib.suppress(Exception):
                    self.ports.add(r.extensions["network_stream"].get_extra_info("client_addr")[1])
            except httpx.TimeoutException:
                kind, status = "hang", None
            except httpx.TransportError:
                kind, status = "connection_error", None
            self.answers.append(Answer(sent, time.monotonic() - sent, kind, status))
            if kind == "ok":
                self.acknowledged[key] = status
                return
            if time.monotonic() - first > GIVE_UP_SECONDS:
                self.given_up.append(key)
                return
            time.sleep(RETRY_PAUSE)


def terminate_backends(db_url: str) -> int:
    """Every backend of the database but this one: what a failover, a restart or an admin's kill does to the app."""
    from sqlalchemy import create_engine, text

    admin = create_engine(db_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            return conn.scalar(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    finally:
        admin.dispose()


def stored_counts(db_url: str) -> Counter:
    """How many cases each of this bench's descriptions is stored as."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT description, count(*) FROM cases WHERE description LIKE :p "
                                     "GROUP BY description"), {"p": PREFIX + "%"}).all()
    finally:
        engine.dispose()
    return Counter({description[len(PREFIX):]: count for description, count in rows})


def round_figures(kill_at: float, until: float, killed: int, answers: list[Answer], bound: float) -> dict:
    """One round: when the first request sent after the kill was stored, when the last refusal came, and every
    answer in between (the outage) and in the whole round, by kind."""
    in_round = [a for a in answers if kill_at <= a.received < until]
    good = [a.received for a in answers if kill_at <= a.sent < until and a.kind == "ok"]
    recovered_at = min(good) if good else None
    failed = [a.received for a in in_round if a.kind != "ok"]
    outage_end = max([recovered_at or until, *failed])
    return {
        "backends_killed": killed,
        "recovery_seconds": round(recovered_at - kill_at, 3) if recovered_at else None,
        "last_failure_seconds": round(max(failed) - kill_at, 3) if failed else None,
        "outage_answers": dict(Counter(a.kind for a in in_round if a.received <= outage_end)),
        "round_answers": dict(Counter(a.kind for a in in_round)),
        "round_max_answer_seconds": round(max((a.took for a in in_round), default=0.0), 3),
        "hung_beyond_bound": sum(a.kind == "hang" or a.took > bound for a in in_round),
    }


def run(db_url: str, password: str, points: list[tuple[float, float]], rounds: int = 5, gap: float = 4.0,
        clients: int = 4, warm: float = 3.0, bound: float = 15.0) -> dict:
    """``rounds`` kills, ``gap`` seconds apart, under ``clients`` reporting threads (after ``warm`` seconds of
    steady intake); a request unanswered after ``bound`` seconds counts as hung."""
    if not db_url.startswith("postgresql"):
        return {"skipped": "killing database connections needs PostgreSQL (bench/faults.py)"}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="liandong-faults-") as tmp:
        log_path = Path(tmp) / "server.log"
        with liandong_serve(server_env(db_url, LIANDONG_READY_KEEP_SECONDS="0"), log_path) as base:
            login = httpx.post(f"{base}/api/v1/auth/token", data={"username": "receptionist", "password": password},
                               timeout=30)
            login.raise_for_status()
            token = login.json()["access_token"]
            reporters = [Reporter(base, token, points, offset=i * len(points) // clients, bound=bound)
                         for i in range(clients)]
            stop = threading.Event()
            threads = [threading.Thread(target=r.run, args=(stop,), daemon=True) for r in reporters]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 120  # the first reports wait for the grid index: steady after them
            while not all(r.acknowledged or r.crashed for r in reporters) and time.monotonic() < deadline:
                time.sleep(0.05)
            started = time.monotonic()
            time.sleep(warm)
            kills: list[tuple[float, int]] = []
            for _ in range(rounds):
                at = time.monotonic()
                kills.append((at, terminate_backends(db_url)))
                time.sleep(max(0.0, at + gap - time.monotonic()))
            ended = time.monotonic()
            stop.set()
            for t in threads:
                t.join(timeout=GIVE_UP_SECONDS + bound + 10)
            ready = httpx.get(f"{base}/readyz", timeout=bound)
            ready_after = {"status": ready.status_code, "checks": ready.json().get("checks")}
        records = log_records(log_path)
    answers = [a for r in reporters for a in r.answers]
    acknowledged = {k: s for r in reporters for k, s in r.acknowledged.items()}
    counts = stored_counts(db_url)
    ends = [at for at, _ in kills[1:]] + [ended]
    per_round = [round_figures(at, end, killed, answers, bound) for (at, killed), end in zip(kills, ends, strict=True)]
    recoveries = [r["recovery_seconds"] for r in per_round if r["recovery_seconds"] is not None]
    steady = [a for a in answers if started <= a.received < kills[0][0] and a.kind == "ok"]
    errors_logged = [r.get("message", "")[:200] for r in records if r.get("level") in ("error", "critical")]
    return {
        "clients": clients, "rounds": rounds, "gap_seconds": gap, "bound_seconds": bound,
        "retry_pause_seconds": RETRY_PAUSE,
        "steady_cases_per_s": round(len(steady) / (kills[0][0] - started), 1),
        "per_round": per_round,
        "recovery_seconds": {"median": round(statistics.median(recoveries), 3) if recoveries else None,
                             "max": max(recoveries) if recoveries else None,
                             "rounds_not_recovered": rounds - len(recoveries),
                             "last_failure_max": max((r["last_failure_seconds"] or 0.0 for r in per_round),
                                                     default=None)},
        "answers": dict(Counter(a.kind for a in answers)),
        "hung_beyond_bound": sum(r["hung_beyond_bound"] for r in per_round),
        "connections_dropped_by_server": sum(len(r.ports) - 1 for r in reporters if r.ports),
        "exactly_once": {
            "acknowledged": len(acknowledged),
            "acknowledged_by_a_200": sum(s == 200 for s in acknowledged.values()),
            "lost": sum(1 for k in acknowledged if counts[k] == 0),
            "doubled": sum(1 for k in acknowledged if counts[k] > 1),
            "stored_without_acknowledgement": sum(1 for k in counts if k not in acknowledged),
            "given_up": sum(len(r.given_up) for r in reporters),
        },
        "server_errors_logged": len(errors_logged), "server_error_messages": errors_logged[:5],
        "client_crashes": [c for r in reporters for c in r.crashed],
        "readyz_after": ready_after,
        "cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "note": ("acknowledged_by_a_200: a retry found its report stored already (its commit went through, the "
                 "answer did not); recovery: kill → first 2xx to a request sent after the kill; outage: kill → the "
                 "later of that and the round's last refusal"),
        "target": "no hang, no bare 500, JSON 503s meanwhile; back without a restart; none lost or doubled",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gap", type=float, default=4.0, help="seconds between kills")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    from bench import run as bench_run
    from liandong.areas.index import GridIndex
    from liandong.db import dispose_engine, unit_of_work

    pg = bench_run.postgres_url()
    if pg is None:
        raise SystemExit("PostgreSQL is not reachable (LIANDONG_TEST_DATABASE_URL): nothing to measure")
    try:
        loaded = bench_run.load_demo(pg)
        with unit_of_work(pg) as s:
            points = bench_run.intake_points(GridIndex.build(s), 40_000)
        dispose_engine(pg)  # this process holds no connection while the app's are killed
        result = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "demo_load_seconds": round(loaded, 1),
                  "faults_postgresql": run(pg, bench_run.PASSWORD, points, args.rounds, args.gap, args.clients)}
    finally:
        bench_run.drop_postgres(pg)
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "faults.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(result["faults_postgresql"], indent=2, ensure_ascii=False))
    print(f"written {path}")


if __name__ == "__main__":
    main()
