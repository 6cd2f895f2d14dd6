"""Route by route: the project as a share of the limit, against FastAPI and Fastify, and on two
workers.

Five servers answer the same routes on the same database (a rendered project, 100 notes):

- **app (uvicorn)**: the project by its own `scripts/start` as it serves by default (uvicorn,
  one worker), on CPU 0; `SERVER=granian scripts/bench` measures it on Granian instead;
- **limit (raw driver)**: `raw_app.py`, the same routes written directly on the driver on a plain
  Starlette router, served by the same server with the project's settings, on CPU 0;
- **FastAPI + ORM (uvicorn)**: `fastapi_app.py`, FastAPI on SQLAlchemy's asyncio ORM, served
  by uvicorn (uvloop, httptools, one worker), on CPU 0;
- **Fastify (Node)**: `fastify/server.js`, the same routes in Fastify 5 with JSON-schema
  validation, on better-sqlite3 (synchronous, prepared statements) or node-postgres' `Pool`,
  one Node process on CPU 0 (`scripts/bench` installs it with npm);
- **app, 2 workers**: the project with WEB_CONCURRENCY=2, unpinned: its workers share both
  cores with wrk, which stays on CPU 1. Several workers need a broker for their live events
  (the app refuses `memory://` with more than one), so this is the same project rendered with
  `broadcast=redis`, on the same database: its creates also publish to Redis.

`wrk -t1 -c64 --latency` loads each route on each server for `--duration` seconds; each round
takes the routes in turn and the servers in an order that rotates every round; the tables show
medians over the rounds. Notes created in a round are deleted after it, so every round starts
from the same 100 notes. scripts/bench runs this after run.py, with the same arguments.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx

from benchmarks.run import HERE, LOAD_CPU, Load, Server, new_database, wrk
from tests.harness import build_venv, manage_database, render, run, venv_env

# The project's scripts/start, with the application named by APP and one worker.
SERVED = os.environ.get("SERVER", "uvicorn")  # scripts/start's default when SERVER is unset
GRANIAN = (
    'exec granian "$APP" --interface asgi --loop uvloop --workers 1 '
    '--host "$HOST" --port "$PORT" --no-access-log'
)
UVICORN = (
    'exec uvicorn "$APP" --loop uvloop --http httptools --workers 1 '
    '--host "$HOST" --port "$PORT" --no-proxy-headers --no-server-header --no-access-log'
)
SEED = 100
PRUNE = f"""
import asyncio, os
from my_service.core.database import Database

async def prune() -> None:
    database = Database(os.environ["DATABASE_URL"])
    await database.connect()
    await database.execute("DELETE FROM notes WHERE id > {SEED}")
    await database.disconnect()

asyncio.run(prune())
"""


@dataclass
class Route:
    name: str
    path: str
    target: float | None  # the share of the limit aimed at; reported, not asserted
    script: str | None = None
    runs: dict[str, list[Load]] = field(default_factory=dict)


def routes() -> list[Route]:
    return [
        Route("GET /health/live", "/health/live", 0.9),
        Route("GET /api/notes/{id}", "/api/notes/7", 0.6),
        Route("GET /api/notes?limit=20", "/api/notes?limit=20", 0.5),
        Route("GET /api/notes?limit=20&total=true", "/api/notes?limit=20&total=true", None),
        Route("POST /api/notes", "/api/notes", 0.5, script="create.lua"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--python", default=sys.executable)
    options, _ = parser.parse_known_args()  # scripts/bench passes run.py's options too
    os.sched_setaffinity(0, {int(LOAD_CPU)})

    project = render(Path(tempfile.mkdtemp(prefix="bench-routes-")), database=options.database)
    extra = [line for line in (HERE / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    env = venv_env(build_venv([project], options.python))
    baseline_env = venv_env(build_venv([project], options.python, extra))
    interpreter = run(["python", "-c", "import sys; print(sys.version.split()[0])"],
                      cwd=project, env=env).stdout.strip()
    database = new_database(project, env, options.database)
    env["DEBUG"] = "false"
    env["SHUTDOWN_DRAIN_SECONDS"] = "0"  # no load balancer to wait for when a server stops
    scaled = render(project.parent / "redis", database=options.database, broadcast="redis")
    scaled_env = venv_env(build_venv([scaled], options.python)) | {
        key: env[key] for key in ("DATABASE_URL", "DEBUG", "SHUTDOWN_DRAIN_SECONDS")
    }
    scaled_env["BROADCAST_CHANNEL"] = f"bench-{os.getpid()}"
    try:
        run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
        baseline_env.update(DATABASE_URL=env["DATABASE_URL"], PYTHONPATH=str(HERE))
        servers = [
            Server(f"app ({SERVED})", ["scripts/start"], project, env),
            Server("limit (raw driver)", ["sh", "-c", GRANIAN if SERVED == "granian" else UVICORN],
                   HERE, {**baseline_env, "APP": "raw_app:app"}),
            Server("FastAPI + ORM (uvicorn)", ["sh", "-c", UVICORN], HERE,
                   {**baseline_env, "APP": "fastapi_app:app"}),
            Server("Fastify (Node)", ["node", str(HERE / "fastify" / "server.js")], project, env),
            Server("app, 2 workers", ["scripts/start"], scaled,
                   {**scaled_env, "WEB_CONCURRENCY": "2"}, cpus="0,1"),
        ]
        prune = functools.partial(run, ["python", "-c", PRUNE], cwd=project, env=env)
        measured, load_before = measure(servers, options, prune)
    finally:
        if database:
            manage_database(project, env, "drop")
    report(options, interpreter, measured, [server.name for server in servers], load_before)


def measure(
    servers: list[Server], options: argparse.Namespace, prune: Callable[[], object]
) -> tuple[list[Route], str]:
    measured = routes()
    try:
        for server in servers:
            server.start()
        app = servers[0]
        for n in range(SEED):
            note = {"title": f"seed {n}", "body": "x" * 200}
            httpx.post(f"{app.url}/api/notes", json=note).raise_for_status()
        same_answers(servers)
        # Warm-up: every workload once, shorter, before anything is measured.
        for route in measured:
            for server in servers:
                wrk(server.url + route.path, min(2, options.duration), route.script)
        prune()
        load_before = format_load()
        for round_number in range(options.rounds):
            turn = round_number % len(servers)
            order = servers[turn:] + servers[:turn]
            for route in measured:
                for server in order:
                    load = wrk(server.url + route.path, options.duration, route.script)
                    route.runs.setdefault(server.name, []).append(load)
            prune()
    finally:
        for server in servers:
            server.stop()
    return measured, load_before


def same_answers(servers: list[Server]) -> None:
    """Every server returns the same note and the same page: the comparison is like for like."""
    answers = []
    for server in servers:
        note = httpx.get(f"{server.url}/api/notes/7").json()
        page = httpx.get(f"{server.url}/api/notes?limit=20&total=true").json()
        answers.append((note["id"], note["title"], len(page["items"]), page["total"],
                        page["next"].rpartition("?")[2]))
    if len(set(answers)) != 1:
        names = (server.name for server in servers)
        raise RuntimeError(f"the servers disagree: {dict(zip(names, answers, strict=True))}")


def format_load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def report(options: argparse.Namespace, interpreter: str, measured: list[Route],
           names: list[str], load_before: str) -> None:
    median = statistics.median
    print(f"\n{options.database}, route by route on Python {interpreter} ({options.python}): "
          f"{options.rounds} rounds of {options.duration}s, wrk -t1 -c64 on CPU 1; one worker "
          "on CPU 0 except 'app, 2 workers' (unpinned); load average (1, 5, 15 min) "
          f"before {load_before}, after {format_load()}")
    print("\n| route | server | req/s | p50 ms | p99 ms | errors | non-2xx |")
    print("|---|---|---:|---:|---:|---:|---:|")
    rates: dict[tuple[str, str], float] = {}
    failures = []
    for route in measured:
        for name in names:
            runs = route.runs[name]
            rates[route.name, name] = rate = median(load.requests_per_second for load in runs)
            errors = sum(load.errors for load in runs)
            answers = sum(load.non_2xx for load in runs)
            print(f"| {route.name} | {name} | {rate:,.0f} | "
                  f"{median(load.p50_ms for load in runs):.2f} | "
                  f"{median(load.p99_ms for load in runs):.2f} | {errors} | {answers} |")
            failures += [f"{route.name} on {name}: {load.failure}" for load in runs if load.failure]
    app, limit, fastapi, fastify, scaled = names
    print("\n| route | app / limit | target | app / FastAPI | app / Fastify | 2 workers / 1 |")
    print("|---|---:|---:|---:|---:|---:|")
    for route in measured:
        rate = rates[route.name, app]
        target = f"≥ {route.target}" if route.target else ""
        print(f"| {route.name} | {rate / rates[route.name, limit]:.2f} | {target} | "
              f"{rate / rates[route.name, fastapi]:.2f} | {rate / rates[route.name, fastify]:.2f} | "
              f"{rates[route.name, scaled] / rate:.2f} |")
    for failure in failures:
        print(f"first failure of a run, {failure}")


if __name__ == "__main__":
    main()
