"""HTTP intake benchmark: ``POST /api/v1/cases`` against a bare FastAPI endpoint on the same database.

The bare endpoint validates the same JSON body and inserts one row into one table; ours validates,
authenticates, locates the grid, checks the matter, inserts the case and its first event and answers
with the case. Both servers run as separate uvicorn processes on 127.0.0.1 and are measured in the same
run by ``wrk`` (Debian package; a C load generator, so the client takes little of the two cores):
first capacity (closed loop, fixed connections), then latency at two fixed offered loads, half the bare
endpoint's capacity and half our own (each connection paced by wrk's ``delay()``), then mixed reports and a
report storm at 16 and 64 connections beside the bare endpoint at the same connections, and, on PostgreSQL,
capacity with two app processes against one. Every run is bounded in time. Each mixed request carries a
different point (the unit grids' representative points, in order) and one of ten matters, one per major
category; in the storm nine requests in ten report one problem a few metres apart, so they are merged.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import shapely

from liandong.areas.index import GridIndex
from liandong.config import Settings

BARE_APP = '''
import os
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, event, insert

url = os.environ["LIANDONG_DATABASE_URL"]
if url.startswith("postgresql://"):
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
engine = create_engine(url)
if url.startswith("sqlite"):
    @event.listens_for(engine, "connect")
    def _pragmas(conn, _):
        conn.execute("PRAGMA journal_mode=WAL"); conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA synchronous=NORMAL")
meta = MetaData()
rows = Table("bench_bare_rows", meta, Column("id", Integer, primary_key=True), Column("matter_code", String(16)),
             Column("description", Text), Column("lon", Float), Column("lat", Float), Column("channel", String(24)))
meta.create_all(engine)

class Body(BaseModel):
    matter_code: str = Field(min_length=1, max_length=16)
    description: str = Field(min_length=1, max_length=2000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: str = "wgs84"
    channel: str

app = FastAPI()

@app.post("/bare", status_code=201)
def bare(body: Body):
    with engine.begin() as conn:
        values = dict(matter_code=body.matter_code, description=body.description, lon=body.lon, lat=body.lat,
                      channel=body.channel)
        new_id = conn.execute(insert(rows).values(**values)).inserted_primary_key[0]
    return {"id": new_id}
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(cmd: list[str], env: dict, port: int) -> subprocess.Popen:
    # the server's log goes to a file: a pipe nobody reads would fill with its request lines and stall it
    log = tempfile.TemporaryFile()  # noqa: SIM115  lives as long as the server it logs
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(log.read().decode(errors="replace")[-2000:]) from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


WRK = shutil.which("wrk") or "/usr/bin/wrk"
MATTERS = ("01001", "02001", "03001", "04001", "05002", "06010", "07001", "08011", "09005", "10001")
"""One matter of each of the ten major categories: duplicates are looked for within a category, so a stream
of one matter at a few thousand points would make nearly every report a duplicate to merge (not intake as a
district sees it: a few per cent)."""
STORM_MATTER, STORM_TEXT = "06010", "小区门口垃圾堆积，无人清运"
"""A report storm (a typhoon's fallen trees, a burst main): many people report the same problem. Nine
reports in ten are this one at points a few metres apart, so each is merged into the first (cases/dedupe.py:
same matter and words, within ~45 m and minutes, scores above ``dedupe_auto``)."""


def storm_points(index: GridIndex) -> list[tuple[float, float]]:
    """Points up to ±15 m around a grid's representative point, inside that grid: all located, all close
    enough to merge (the grid is the one in the middle of the district's list)."""
    grid = index.geoms[len(index.geoms) // 2]
    centre = grid.representative_point()
    steps = [k * 3e-5 for k in range(-5, 6)]  # ±0.00015° ≈ ±15 m
    near = [(centre.x + dx, centre.y + dy) for dx in steps for dy in steps]
    return [(x, y) for x, y in near if grid.contains(shapely.Point(x, y))] or [(centre.x, centre.y)]


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
points = {%(points)s}
local threads = {}
function setup(thread) table.insert(threads, thread) end
i = 0
errors = 0
function init(args) i = tonumber(args[1] or "0") end
matters = {%(matters)s}
storm = {%(storm)s}
function request()
  i = i %% #points + 1
  local p = points[i]
  local m = matters[(i * 7 + math.floor(i / #points)) %% #matters + 1]
  local text = string.format("reported problem %%d", i)
  if #storm > 0 and i %% 10 ~= 0 then  -- nine in ten: the storm's problem again, a few metres off
    p, m, text = storm[i %% #storm + 1], "%(storm_matter)s", "%(storm_text)s"
  end
  local body = string.format('{"matter_code":"%%s","description":"%%s","lon":%%.7f,"lat":%%.7f,'
    .. '"channel":"hotline"}', m, text, p[1], p[2])
  return wrk.format(nil, nil, nil, body)
end
function response(status, headers, body) if status ~= 201 then errors = errors + 1 end end
%(delay)s
function done(summary, latency, requests)
  local errs = 0
  for _, t in ipairs(threads) do errs = errs + t:get("errors") end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%%d,"seconds":%%.3f,"bad_status":%%d,"socket_errors":%%d,'
    .. '"p50_ms":%%.3f,"p99_ms":%%.3f,"max_ms":%%.3f}\\n', summary.requests, summary.duration / 1e6, errs,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
"""


_cursor = [0]
"""Requests sent so far: every run starts at the next unused point, so no point (and matter) is reported
twice in a benchmark and duplicates stay what a district sees (neighbours of the same family)."""


def wrk(url: str, points: list[tuple[float, float]], *, connections: int, seconds: float,
        headers: dict | None = None, rate: float | None = None, storm: list[tuple[float, float]] = ()) -> dict:
    """One wrk run (one thread). With ``rate``, each connection waits connections/rate s between requests;
    with ``storm`` points, nine reports in ten are the storm's problem at one of them (``storm_points``)."""

    def table(pts) -> str:
        return ",".join(f"{{{x:.7f},{y:.7f}}}" for x, y in pts)

    delay = f"function delay() return {connections / rate * 1000:.3f} end" if rate else ""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % {"points": table(points), "delay": delay, "storm": table(storm),
                              "storm_matter": STORM_MATTER, "storm_text": STORM_TEXT,
                              "matters": ",".join(f'"{m}"' for m in MATTERS)})
    try:
        cmd = [WRK, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", f.name]
        for k, v in (headers or {}).items():
            cmd += ["-H", f"{k}: {v}"]
        start_at = str(_cursor[0] % len(points))  # each run goes on where the last one stopped
        out = subprocess.run([*cmd, url, start_at], capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.remove(f.name)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    r = json.loads(line[8:])
    _cursor[0] += r["requests"]
    r["per_s"] = round(r["requests"] / r["seconds"], 1)
    if rate:
        r["offered_per_s"] = round(rate, 1)
    if r["bad_status"] or r["socket_errors"]:
        raise RuntimeError(f"{url}: {r['bad_status']} answers were not 201, {r['socket_errors']} socket errors")
    return r


def merged_counts(db_url: str, description: str | None = None) -> tuple[int, int]:
    """(cases, cases that duplicate detection merged into an earlier one) in the database now; only those
    with ``description`` when given."""
    from sqlalchemy import func, select

    from liandong.cases.models import Case
    from liandong.db import dispose_engine, get_engine

    stmt = select(func.count(), func.count(Case.master_id))
    if description is not None:
        stmt = stmt.where(Case.description == description)
    with get_engine(db_url).connect() as conn:
        total, merged = conn.execute(stmt).one()
    dispose_engine(db_url)
    return total, merged


def merged_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the cases reported between two ``merged_counts`` that were merged."""
    total, merged = after[0] - before[0], after[1] - before[1]
    return round(merged / total, 4) if total else 0.0


CONCURRENCY = (16, 64)
"""Connections for mixed reports and the storm: more than the server's 40 worker threads at 64."""


def under_load(db_url: str, bare_url: str, ours_url: str, auth: dict, points: list[tuple[float, float]],
               storm: list[tuple[float, float]], seconds: float) -> dict:
    """Mixed reports and a report storm at each of ``CONCURRENCY`` connections, beside the bare endpoint."""
    out = {}
    for connections in CONCURRENCY:
        bare = wrk(bare_url, points, connections=connections, seconds=seconds)
        mixed = wrk(ours_url, points, connections=connections, seconds=seconds, headers=auth)
        before = merged_counts(db_url, STORM_TEXT)
        storm_run = wrk(ours_url, points, connections=connections, seconds=seconds, headers=auth, storm=storm)
        storm_run["storm_reports_merged"] = merged_share(before, merged_counts(db_url, STORM_TEXT))
        if storm_run["storm_reports_merged"] < 0.8:  # all but the first few: otherwise this was no storm
            raise RuntimeError(f"report storm: only {storm_run['storm_reports_merged']} merged; is dedupe on?")
        out[str(connections)] = {
            "bare": bare, "mixed": mixed, "storm": storm_run,
            "ratio_mixed": round(mixed["per_s"] / bare["per_s"], 3),
            "ratio_storm": round(storm_run["per_s"] / bare["per_s"], 3),
            "storm_vs_mixed": round(storm_run["per_s"] / mixed["per_s"], 3),
        }
    return out


def serve(app: list[str], env: dict, workers: int = 1) -> tuple[subprocess.Popen, int]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", *app, "--port", str(port), "--log-level", "warning",
           "--workers", str(workers)]
    return start(cmd, env, port), port


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def run(db_url: str, password: str, points: list[tuple[float, float]], storm: list[tuple[float, float]],
        seconds: float = 8.0, connections: int = 8, scaling: bool = False) -> dict:
    """Capacity, and latency at half the bare and at half our capacity, ours beside bare; mixed reports and
    a report storm at 16 and 64 connections; with ``scaling``, 2 processes vs 1."""
    if not os.path.exists(WRK):
        raise RuntimeError("wrk is missing: apt-get install wrk (make bench installs it)")
    env = {**os.environ, "LIANDONG_DATABASE_URL": db_url, "LIANDONG_SWEEP_SECONDS": "0"}
    defaults = Settings.model_construct()  # duplicate detection on as deployed, whatever the shell says
    env.update(LIANDONG_DEDUPE_AUTO=str(defaults.dedupe_auto), LIANDONG_DEDUPE_REVIEW=str(defaults.dedupe_review))
    bare_file = os.path.join(os.path.dirname(__file__), "_bare_app.py")
    with open(bare_file, "w", encoding="utf-8") as f:
        f.write(BARE_APP)
    ours_app = ["liandong.app:create_app", "--factory"]
    procs = []
    try:
        ours, ours_port = serve(ours_app, env)
        procs.append(ours)
        bare, bare_port = serve(["bench._bare_app:app"], env)
        procs.append(bare)
        token = httpx.post(f"http://127.0.0.1:{ours_port}/api/v1/auth/token",
                           data={"username": "receptionist", "password": password}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        ours_url = f"http://127.0.0.1:{ours_port}/api/v1/cases"
        bare_url = f"http://127.0.0.1:{bare_port}/bare"
        wrk(bare_url, points, connections=connections, seconds=2)  # warm both
        wrk(ours_url, points, connections=connections, seconds=2, headers=auth)
        bare_cap = wrk(bare_url, points, connections=connections, seconds=seconds)
        ours_cap = wrk(ours_url, points, connections=connections, seconds=seconds, headers=auth)
        half = bare_cap["per_s"] / 2
        paced = connections * 2
        ours_half = wrk(ours_url, points, connections=paced, seconds=seconds, headers=auth, rate=half)
        bare_half = wrk(bare_url, points, connections=paced, seconds=seconds, rate=half)
        # and at half of what ours can take: the latency a desk sees on a busy but not overrun server
        own_half = ours_cap["per_s"] / 2
        ours_own_half = wrk(ours_url, points, connections=paced, seconds=seconds, headers=auth, rate=own_half)
        bare_own_half = wrk(bare_url, points, connections=paced, seconds=seconds, rate=own_half)
        result = {
            "connections": connections, "seconds": seconds,
            "bare_capacity": bare_cap, "ours_capacity": ours_cap,
            "ratio_capacity": round(ours_cap["per_s"] / bare_cap["per_s"], 3),
            "at_half_bare_capacity": {"ours": ours_half, "bare": bare_half},
            "at_half_our_capacity": {"ours": ours_own_half, "bare": bare_own_half},
            "merged_share": merged_share((0, 0), merged_counts(db_url)),
        }
        result["under_load"] = under_load(db_url, bare_url, ours_url, auth, points, storm, seconds)
        if scaling:
            stop(ours)
            procs.remove(ours)
            two, two_port = serve(ours_app, env, workers=2)
            procs.append(two)
            two_url = f"http://127.0.0.1:{two_port}/api/v1/cases"
            wrk(two_url, points, connections=connections, seconds=2, headers=auth)
            two_cap = wrk(two_url, points, connections=connections * 2, seconds=seconds, headers=auth)
            result["two_processes"] = {"capacity": two_cap,
                                       "ratio_vs_one": round(two_cap["per_s"] / ours_cap["per_s"], 3),
                                       "cpus": os.cpu_count(),
                                       "note": "wrk shares the same cores as the servers"}
    finally:
        for proc in procs:
            stop(proc)
        os.remove(bare_file)
    result["targets"] = ("capacity >= 70 % of bare; p99 <= 50 ms at half the bare capacity; report storm at 16 and "
                         "64 connections: no error, p99 <= 1 s, >= 0.5 x the mixed rate; 2 processes >= 1.5 x 1 "
                         "on PostgreSQL (DESIGN.md §6)")
    return result
