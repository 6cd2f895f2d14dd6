"""Jobs: how soon a queued job starts, how many jobs a second one worker runs, and what
enqueuing one costs a request, on each queue (saq on Redis, saq on PostgreSQL).

Two rendered projects on PostgreSQL, `jobs=redis` (events through Redis) and `jobs=postgres`
(events through LISTEN/NOTIFY). For each, one `scripts/worker` (WORKER_CONCURRENCY=10) runs
the periodic clean-up job, `forget_expired` (one DELETE), enqueued by a client in this process:
- latency: once the worker has started, 200 jobs, one every 20 ms; each job's start minus its
  enqueue (saq's own stamps);
- throughput: 2,000 jobs enqueued by 20 concurrent clients, from the first enqueue to the last
  job's end.
Then, with no worker, `scripts/start` (uvicorn, one process) serves `POST /api/exports` (an
enqueue and a 202) and `POST /api/notes` (an insert and its event, no job) under `wrk -c64`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.run import LOAD_CPU, Server, new_database, wrk
from tests.harness import build_venv, manage_database, render, run, venv_env

PROJECTS = {
    "Redis": {"database": "postgresql", "broadcast": "redis", "jobs": "redis"},
    "PostgreSQL": {"database": "postgresql", "broadcast": "postgres", "jobs": "postgres"},
}

# Run in the project's environment: enqueue, wait, read saq's stamps; print JSON.
MEASURE = r"""
import asyncio, json, os, statistics, sys, time
from {package}.core.database import Database
from {package}.core.events import Events
from {package}.core.jobs_saq import Jobs
from {package}.core.settings import load
from {package} import features
from {package}.web.idempotency import forget_expired

async def main():
    settings = load()
    jobs = Jobs(settings, *features.jobs())
    await jobs.connect(Database(settings.database_url), Events("memory://"))

    async def ended(keys):
        while True:
            found = [await jobs.queue.job(key) for key in keys]
            if all(job is not None and job.status in ("complete", "failed") for job in found):
                return found
            await asyncio.sleep(0.05)

    while not (await jobs.queue.info())["workers"]:  # the worker has started
        await asyncio.sleep(0.1)
    keys = [f"latency-{{number}}" for number in range(200)]
    for key in keys:
        await jobs.enqueue(forget_expired, key)
        await asyncio.sleep(0.02)
    waits = sorted(job.started - job.queued for job in await ended(keys))

    keys = [f"rate-{{number}}" for number in range(2000)]
    began = time.time()
    async def client(part):
        for key in part:
            await jobs.enqueue(forget_expired, key)
    await asyncio.gather(*(client(keys[start::20]) for start in range(20)))
    done = await ended(keys)
    took = max(job.completed for job in done) / 1000 - began
    await jobs.disconnect()
    print(json.dumps({{
        "p50": statistics.median(waits), "p99": waits[int(len(waits) * 0.99) - 1],
        "rate": len(keys) / took,
    }}))

asyncio.run(main())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--python", default=sys.executable)
    options, _ = parser.parse_known_args()
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    queues: dict[str, dict[str, float]] = {}
    routes: dict[str, dict[str, float]] = {}
    for name, context in PROJECTS.items():
        project = render(Path(tempfile.mkdtemp(prefix="bench-jobs-")), **context)
        env = venv_env(build_venv([project], options.python))
        database = new_database(project, env, "postgresql")
        assert database is not None
        plain = database.replace("+asyncpg", "")
        env.update(
            DEBUG="false", SHUTDOWN_DRAIN_SECONDS="0", METRICS_ENABLED="false",
            JOBS_QUEUE=f"bench-{os.getpid()}", JOBS_QUEUED_MAX="10000000",
            WORKER_CONCURRENCY="10", PYTHONPATH=str(project),
            JOBS_URL=plain if context["jobs"] == "postgres" else "redis://127.0.0.1:6379/1",
            BROADCAST_URL=plain if context["broadcast"] == "postgres" else "redis://127.0.0.1:6379/0",
        )
        try:
            run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
            worker = subprocess.Popen(
                ["taskset", "-c", "0", "scripts/worker"], cwd=project, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                code = MEASURE.format(package=project.name.replace("-", "_"))
                measured = run(["python", "-c", code], cwd=project, env=env, timeout=600)
                queues[name] = json.loads(measured.stdout.strip().splitlines()[-1])
            finally:
                worker.terminate()
                worker.wait(timeout=60)
            server = Server(name, ["scripts/start"], project, env)
            server.start()
            try:
                for route, script in (
                    ("POST /api/exports (enqueue)", "export.lua"),
                    ("POST /api/notes (insert, no job)", "post.lua"),
                ):
                    path = "/api/exports" if "exports" in route else "/api/notes"
                    wrk(server.url + path, 1, script)  # warm-up
                    load = wrk(server.url + path, options.duration, script)
                    assert load.errors == 0, load
                    routes.setdefault(route, {})[name] = load.requests_per_second
            finally:
                server.stop()
        finally:
            manage_database(project, env, "drop")
    print("\nQueues: one worker, 10 jobs at once; the job is one DELETE\n")
    print("| queue | enqueue to start, p50 | p99 | jobs/s (enqueue to end, 2,000 jobs) |")
    print("|---|---:|---:|---:|")
    for name, figures in queues.items():
        print(f"| saq on {name} | {figures['p50']:.1f} ms | {figures['p99']:.1f} ms | "
              f"{figures['rate']:,.0f} |")
    print(f"\nRoutes, no worker running: req/s over {options.duration} s (wrk -c64)\n")
    print("| route | " + " | ".join(f"saq on {name}" for name in PROJECTS) + " |")
    print("|---|" + "---:|" * len(PROJECTS))
    for route, rates in routes.items():
        print(f"| {route} | " + " | ".join(f"{rates[name]:,.0f}" for name in PROJECTS) + " |")


if __name__ == "__main__":
    main()
