"""History-path benchmark: the Boston 2015 311 year through ``import-311``.

The real file (``../shared/data/service_requests/boston/boston311_2015.csv.gz``, 121,145 cases; see its
PROVENANCE) goes into an empty database the way ``liandong import-311 --mapping boston`` takes it: each row
replayed as the steps the transition table allows (report, accept, file, dispatch at the opening; sign …
close at the closing of a closed case), through the one event appender, stage facts with it. Reported:
wall seconds for the whole import (reading, locating, checking, writing, committing), cases and events per
second, and the on-time agreement the import measured.

``run(url)`` is what ``bench/run.py`` calls; ``python -m bench.history [--postgres]`` runs it alone and
writes ``var/bench/history.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LIANDONG_ARGON2_TIME_COST", "1")

from sqlalchemy import func, select  # noqa: E402

from liandong.cases.models import CaseEvent  # noqa: E402
from liandong.db import dispose_engine, migrate, unit_of_work, utcnow  # noqa: E402
from liandong.intake import import311  # noqa: E402

BOSTON_YEAR = Path(__file__).resolve().parents[2] / "shared/data/service_requests/boston/boston311_2015.csv.gz"
OUT = Path("var/bench")


def run(url: str, path: Path = BOSTON_YEAR) -> dict:
    """Import ``path`` with the Boston mapping into ``url`` (migrated here; it should hold no Boston cases yet)
    and time it."""
    if not path.exists():
        return {"skipped": f"{path} is missing (the ../shared data)"}
    migrate(url)
    mapping = import311.mapping("boston")
    start = time.perf_counter()
    with import311.open_text(path) as lines, unit_of_work(url) as session:
        result = import311.run(session, mapping, lines, now=utcnow())
    seconds = time.perf_counter() - start
    with unit_of_work(url) as session:
        events = session.scalar(select(func.count()).select_from(CaseEvent))
    dispose_engine(url)
    return {"file": path.name, "cases": result["imported"], "skipped": result["skipped"], "events": events,
            "seconds": round(seconds, 1), "cases_per_s": round(result["imported"] / seconds),
            "events_per_s": round(events / seconds), "ontime_agreement": result["ontime_agreement"],
            "ontime_judged": result["ontime_judged"], "closed_before_opened": result["closed_before_opened"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (LIANDONG_TEST_DATABASE_URL)")
    parser.add_argument("--file", type=Path, default=BOSTON_YEAR)
    args = parser.parse_args()
    out: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = run(f"sqlite:///{tmp}/history.db", args.file)
        print("history path (SQLite):", out["sqlite"])
    if args.postgres:
        from bench.run import drop_postgres, postgres_url

        if pg := postgres_url():
            try:
                out["postgresql"] = run(pg, args.file)
                print("history path (PostgreSQL):", out["postgresql"])
            finally:
                drop_postgres(pg)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "history.json").write_text(json.dumps(out, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
