"""HTTP intake before/after: an older checkout against this one, each on its own fresh demo database, in
alternating rounds, with the same wrk driver and bare endpoint (``bench/intake.py``): mixed reports and a report
storm at 16 and 64 connections, each as a ratio to the bare endpoint measured just before it. Medians of the
rounds; a run that gave no answers (the old pool stall) is shown as an error.

    python -m bench.intake_ab /path/to/old/checkout [--seconds 8] [--rounds 3] [--backend sqlite|postgresql]

The old checkout needs only its ``src`` (``git worktree add /var/tmp/old c385211``)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import httpx

from bench import intake
from bench.run import PASSWORD, PG_URL, intake_points

HERE = Path(__file__).resolve().parent.parent


def fresh_db(name: str, src: Path, backend: str) -> str:
    """A new database of the demo district, made by that checkout's own migrations and loader."""
    if backend == "sqlite":
        path = Path(f"var/bench/ab-{name}.db").resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        import psycopg

        admin = PG_URL.rsplit("/", 1)[0] + "/postgres"
        db = f"liandong_ab_{name}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {db}")
        url = PG_URL.rsplit("/", 1)[0] + "/" + db
    code = ("import sys; from liandong.db import migrate, unit_of_work; from liandong.demo import loader\n"
            f"migrate({url!r})\nwith unit_of_work({url!r}) as s: loader.load(s, {PASSWORD!r})")
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(src)}, check=True)
    return url


def one_round(name: str, src: Path, url: str, points, storm, seconds: float, out: dict) -> None:
    env = {**os.environ, "LIANDONG_DATABASE_URL": url, "LIANDONG_SWEEP_SECONDS": "0",
           "PYTHONPATH": f"{src}:{HERE}", "LIANDONG_DEDUPE_AUTO": "0.75", "LIANDONG_DEDUPE_REVIEW": "0.5"}
    ours, ours_port = intake.serve(["liandong.app:create_app", "--factory"], env)
    bare, bare_port = intake.serve(["bench._bare_app:app"], env)
    try:
        token = httpx.post(f"http://127.0.0.1:{ours_port}/api/v1/auth/token",
                           data={"username": "receptionist", "password": PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        ours_url, bare_url = f"http://127.0.0.1:{ours_port}/api/v1/cases", f"http://127.0.0.1:{bare_port}/bare"
        intake.wrk(bare_url, points, connections=8, seconds=2)
        intake.wrk(ours_url, points, connections=8, seconds=2, headers=auth)
        for connections in intake.CONCURRENCY:
            base = intake.wrk(bare_url, points, connections=connections, seconds=seconds)["per_s"]
            for kind in ("mixed", "storm"):
                try:
                    got = intake.wrk(ours_url, points, connections=connections, seconds=seconds, headers=auth,
                                     storm=storm if kind == "storm" else ())["per_s"]
                    out[name][str(connections)][kind].append(round(got / base, 3))
                except (RuntimeError, ZeroDivisionError, subprocess.TimeoutExpired) as exc:
                    out[name][str(connections)][kind].append(f"error: {str(exc)[:80] or 'no answers'}")
    finally:
        intake.stop(ours)
        intake.stop(bare)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="the older checkout")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    checkouts = {"before": args.old.resolve() / "src", "after": HERE / "src"}
    urls = {name: fresh_db(name, src, args.backend) for name, src in checkouts.items()}
    from liandong.areas.index import GridIndex
    from liandong.db import unit_of_work

    with unit_of_work(urls["after"]) as s:
        index = GridIndex.build(s)
    points, storm = intake_points(index, 40_000), intake.storm_points(index)
    bare_file = HERE / "bench" / "_bare_app.py"
    bare_file.write_text(intake.BARE_APP, encoding="utf-8")
    out = {n: {str(c): {"mixed": [], "storm": []} for c in intake.CONCURRENCY} for n in checkouts}
    try:
        for _ in range(args.rounds):
            for name, src in checkouts.items():
                one_round(name, src, urls[name], points, storm, args.seconds, out)
    finally:
        bare_file.unlink(missing_ok=True)

    def median(runs: list) -> float | None:
        numbers = [r for r in runs if isinstance(r, float)]
        return statistics.median(numbers) if numbers else None

    print(json.dumps({"backend": args.backend, "seconds": args.seconds, **{
        name: {c: {k: {"median": median(v), "runs": v} for k, v in kinds.items()} for c, kinds in by_c.items()}
        for name, by_c in out.items()}}, indent=1))


if __name__ == "__main__":
    main()
