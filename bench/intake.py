"""HTTP intake benchmark: ``POST /api/v1/cases`` against a bare FastAPI endpoint on the same database.

The bare endpoint validates the same JSON body and inserts one row into one table; ours validates,
authenticates, locates the grid, checks the matter, inserts the case and its first event. Both servers
run as separate uvicorn processes on 127.0.0.1 (one worker each) and are measured in the same run:
first closed-loop capacity (requests per second at a fixed concurrency), then latency at a fixed
offered load of half the bare endpoint's capacity. Every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx

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
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()[-2000:]) from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


async def closed_loop(url: str, bodies: list[dict], headers: dict, concurrency: int) -> dict:
    latencies: list[float] = []
    queue = list(bodies)

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop()
            t = time.perf_counter()
            r = await client.post(url, json=body, headers=headers)
            latencies.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 201, r.text

    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    return _summary(latencies, wall)


async def offered(url: str, bodies: list[dict], headers: dict, rate: float, seconds: float) -> dict:
    """Open loop: one request every 1/rate seconds for ``seconds``, whatever the answers' pace."""
    n = min(len(bodies), int(rate * seconds))
    latencies: list[float] = []

    async def one(client: httpx.AsyncClient, body: dict) -> None:
        t = time.perf_counter()
        r = await client.post(url, json=body, headers=headers)
        latencies.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 201, r.text

    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as client:
        tasks = []
        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, bodies[i])))
        await asyncio.gather(*tasks)
    out = _summary(latencies, time.perf_counter() - t0)
    out["offered_per_s"] = round(rate, 1)
    return out


def _summary(latencies: list[float], wall: float) -> dict:
    q = statistics.quantiles(latencies, n=100)
    return {"requests": len(latencies), "per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(statistics.median(latencies), 2), "p99_ms": round(q[98], 2)}


def run(db_url: str, password: str, points: list[tuple[float, float]], requests: int = 1500,
        concurrency: int = 8) -> dict:
    env = {**os.environ, "LIANDONG_DATABASE_URL": db_url, "LIANDONG_SWEEP_SECONDS": "0",
           "LIANDONG_LOG_LEVEL": "warning"}
    ours_port, bare_port = free_port(), free_port()
    bare_file = os.path.join(os.path.dirname(__file__), "_bare_app.py")
    with open(bare_file, "w", encoding="utf-8") as f:
        f.write(BARE_APP)
    py = sys.executable
    ours = start([py, "-m", "uvicorn", "liandong.app:create_app", "--factory", "--port", str(ours_port),
                  "--log-level", "warning"], env, ours_port)
    bare = start([py, "-m", "uvicorn", "bench._bare_app:app", "--port", str(bare_port), "--log-level", "warning"],
                 env, bare_port)
    try:
        token = httpx.post(f"http://127.0.0.1:{ours_port}/api/v1/auth/token",
                           data={"username": "receptionist", "password": password}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        def bodies(n: int) -> list[dict]:
            return [{"matter_code": "06010", "description": f"暴露垃圾 {i}", "lon": points[i % len(points)][0],
                     "lat": points[i % len(points)][1], "channel": "hotline"} for i in range(n)]

        ours_url = f"http://127.0.0.1:{ours_port}/api/v1/cases"
        bare_url = f"http://127.0.0.1:{bare_port}/bare"
        asyncio.run(closed_loop(bare_url, bodies(100), {}, concurrency))  # warm both
        asyncio.run(closed_loop(ours_url, bodies(100), auth, concurrency))
        bare_cap = asyncio.run(closed_loop(bare_url, bodies(requests), {}, concurrency))
        ours_cap = asyncio.run(closed_loop(ours_url, bodies(requests), auth, concurrency))
        half = bare_cap["per_s"] / 2
        seconds = min(8.0, requests / max(half, 1))
        ours_half = asyncio.run(offered(ours_url, bodies(requests), auth, half, seconds))
        bare_half = asyncio.run(offered(bare_url, bodies(requests), {}, half, seconds))
    finally:
        for proc in (ours, bare):
            proc.terminate()
            proc.wait(timeout=10)
        os.remove(bare_file)
    return {
        "concurrency": concurrency,
        "bare_capacity": bare_cap, "ours_capacity": ours_cap,
        "ratio_capacity": round(ours_cap["per_s"] / bare_cap["per_s"], 3),
        "at_half_bare_capacity": {"ours": ours_half, "bare": bare_half},
        "targets": "capacity >= 70 % of bare; p99 <= 50 ms at half the bare capacity (DESIGN.md §6)",
    }
