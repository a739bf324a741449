"""Change → command-centre screen: how long a new case takes to reach an open SSE stream.

The app runs under uvicorn on 127.0.0.1 with the default live poll interval; one client holds
``/api/v1/live/events`` open while another reports cases one by one at a steady pace. For each case
the time runs from the moment its ``POST /api/v1/cases`` answer arrives (the change is committed) to
the moment its ``report`` event arrives on the stream. Bounded in count and time.
"""

from __future__ import annotations

import json
import statistics
import threading
import time

import httpx


def run(url: str, password: str, points: list[tuple[float, float]], cases: int = 100, pace_s: float = 0.1) -> dict:
    import uvicorn

    from bench.intake import free_port
    from liandong.app import create_app
    from liandong.config import Settings

    settings = Settings(database_url=url, sweep_seconds=0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    seen: dict[int, float] = {}
    connected = threading.Event()
    done = threading.Event()
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            token = c.post("/api/v1/auth/token", data={"username": "dispatcher", "password": password}).json()
            auth = {"Authorization": f"Bearer {token['access_token']}"}
            rec = c.post("/api/v1/auth/token", data={"username": "receptionist", "password": password}).json()
            rec_auth = {"Authorization": f"Bearer {rec['access_token']}"}

            def listen() -> None:
                with httpx.Client(base_url=base, timeout=httpx.Timeout(60, read=60)) as s, \
                        s.stream("GET", "/api/v1/live/events", headers=auth) as r:
                    connected.set()
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            item = json.loads(line[6:])
                            if item["action"] == "report":
                                seen.setdefault(item["case_id"], time.perf_counter())
                        if done.is_set():
                            return

            threading.Thread(target=listen, daemon=True).start()
            connected.wait(10)
            time.sleep(0.5)
            committed: dict[int, float] = {}
            for i in range(cases):
                x, y = points[i % len(points)]
                r = c.post("/api/v1/cases", headers=rec_auth, json={
                    "matter_code": "06010", "description": f"live {i}", "lon": x, "lat": y, "channel": "hotline"})
                committed[r.json()["id"]] = time.perf_counter()
                time.sleep(pace_s)
            deadline = time.monotonic() + 10
            while len(seen.keys() & committed.keys()) < len(committed) and time.monotonic() < deadline:
                time.sleep(0.05)
            done.set()
            c.post(f"/api/v1/cases/{next(iter(committed))}/actions/accept", json={}, headers=rec_auth)  # wake it
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    latencies = sorted((seen[k] - t) * 1000 for k, t in committed.items() if k in seen)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {"cases": cases, "received": len(latencies), "poll_seconds": settings.live_poll_seconds,
            "p50_ms": round(statistics.median(latencies), 1), "p95_ms": round(q[94], 1),
            "max_ms": round(latencies[-1], 1), "target": "p95 <= 1000 ms (DESIGN.md §6)"}
