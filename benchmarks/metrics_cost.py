"""What the metrics cost: the health and note routes with METRICS_ENABLED on and off.

One rendered project (SQLite, one note) served twice by its own `scripts/start` (uvicorn, one
worker, on CPU 0): with its metrics (the middleware, the database and event counters, the
multiprocess files and the /metrics endpoint on its own port) and with METRICS_ENABLED=false.
`wrk -t1 -c64` on CPU 1 loads each route for `--duration` seconds per round, the two servers
back to back in an order that alternates every round; the table shows the medians and the
cost as the share of throughput lost (the target: at most 10 %); nothing scrapes meanwhile,
so the cost is that of counting. Then, in-process and so steadier on a busy machine, the
middleware's own time per request around an app that answers at once, in one process and in
multiprocess mode (what scripts/start runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import httpx2 as httpx

from benchmarks.run import LOAD_CPU, Load, Server, free_port, new_database, wrk
from tests.harness import build_venv, render, run, venv_env

# The middleware around an ASGI app that answers at once: microseconds per request, best of 5.
IN_PROCESS = """
import asyncio, os, time
from my_service.web.metrics import Metrics

async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

async def send(message): pass
async def receive(): return {"type": "http.request"}

async def main():
    scope = {"type": "http", "method": "GET", "path": "/health/live"}
    times = []
    for target in (app, Metrics(app)):
        best = float("inf")
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(100_000):
                await target(scope, receive, send)
            best = min(best, (time.perf_counter() - began) / 100_000)
        times.append(best * 1e6)
    print(f"{times[0]:.2f} {times[1]:.2f}")

asyncio.run(main())
"""
ROUTES = {"GET /health/live": "/health/live", "GET /api/notes/{id}": "/api/notes/1"}


def arguments(doc: str) -> argparse.Namespace:
    """The options of an on-and-off comparison; this process then runs on the load's CPU."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--python", default=sys.executable)
    options, _ = parser.parse_known_args()  # scripts/bench passes run.py's options too
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    return options


def on_and_off(
    servers: list[Server], rounds: int, duration: int
) -> dict[tuple[str, str], list[Load]]:
    """Each route's loads on the two servers (one note created first), by (route, server)."""
    runs: dict[tuple[str, str], list[Load]] = {}
    for number in range(rounds):
        for server in servers if number % 2 == 0 else servers[::-1]:
            server.start()
            try:
                if number == 0 and server is servers[0]:
                    created = httpx.post(server.url + "/api/notes", json={"title": "t", "body": ""})
                    assert created.status_code == 201, created.text
                for name, path in ROUTES.items():
                    wrk(server.url + path, 1)  # warm-up
                    load = wrk(server.url + path, duration)
                    runs.setdefault((name, server.name), []).append(load)
            finally:
                server.stop()
    return runs


def medians(
    runs: dict[tuple[str, str], list[Load]], route: str, servers: list[Server]
) -> list[float]:
    """The median rate of `route` on each server."""
    return [
        statistics.median(load.requests_per_second for load in runs[(route, server.name)])
        for server in servers
    ]


def main() -> None:
    options = arguments(__doc__)
    project = render(Path(tempfile.mkdtemp(prefix="bench-metrics-")))
    env = venv_env(build_venv([project], options.python))
    new_database(project, env, "sqlite")
    env.update(DEBUG="false", SHUTDOWN_DRAIN_SECONDS="0")
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
    servers = [
        Server("metrics on", ["scripts/start"], project,
               {**env, "METRICS_ENABLED": "true", "METRICS_PORT": str(free_port())}),
        Server("metrics off", ["scripts/start"], project, {**env, "METRICS_ENABLED": "false"}),
    ]
    runs = on_and_off(servers, options.rounds, options.duration)
    print(f"\nMetrics cost: {options.rounds} rounds of {options.duration} s, median req/s\n")
    print("| route | metrics on | metrics off | cost |")
    print("|---|---:|---:|---:|")
    for name in ROUTES:
        on, off = medians(runs, name, servers)
        print(f"| {name} | {on:,.0f} | {off:,.0f} | {1 - on / off:.1%} |")
    print("\n| middleware, in-process | bare app µs | with Metrics µs | added µs |")
    print("|---|---:|---:|---:|")
    for mode in ("one process", "multiprocess"):
        with tempfile.TemporaryDirectory() as folder:
            extra = {"PROMETHEUS_MULTIPROC_DIR": folder} if mode == "multiprocess" else {}
            answer = run(["python", "-c", IN_PROCESS], cwd=project, env={**env, **extra})
        bare, wrapped = (float(value) for value in answer.stdout.split())
        print(f"| {mode} | {bare:.2f} | {wrapped:.2f} | {wrapped - bare:.2f} |")


if __name__ == "__main__":
    main()
