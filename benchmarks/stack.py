"""In-process: what each layer in front of a route costs, on the health route.

The health route reads nothing, so its time is the stack's: Starlette's own error layers, the
project's middleware (`middleware.Guard`) and the response. This calls each of these ASGI apps
directly, one request after another, with the same scope, and prints microseconds per request
(medians of `--rounds`; no server, no network):

- a bare Starlette `Router` with the route, as `raw_app.py` serves it (the limit);
- a `Starlette` application with only the route (its error-handling layers added);
- the same with `middleware.Guard` in front;
- the project's own app (`create_app`, every layer it installs).

    python -m benchmarks.stack [--python PATH] [--rounds 5]

It renders the default project and runs the measurement in that project's environment.
Nothing is asserted: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
REQUESTS = 20_000


def scope() -> dict[str, Any]:
    path = "/health/live"
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }


async def per_request(app: Any) -> float:
    """Microseconds per request, `REQUESTS` in a row; every answer must be 200."""
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    started = time.perf_counter()
    for _ in range(REQUESTS):
        await app(scope(), receive, send)
    elapsed = time.perf_counter() - started
    if statuses != {200}:
        raise SystemExit(f"expected only 200 answers, got {sorted(statuses)}")
    return elapsed / REQUESTS * 1e6


async def measure(rounds: int) -> None:
    from my_service.app import create_app
    from my_service.ops.drain import Drain
    from my_service.web.health import live
    from my_service.web.middleware import Guard
    from my_service.core.settings import Settings
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route, Router

    routes = [Route("/health/live", live)]
    guard = Middleware(
        Guard, allowed_hosts=["127.0.0.1"], max_body_size=131072, drain=Drain("")
    )
    apps = {
        "Router (the limit's)": Router(routes),
        "Starlette app": Starlette(routes=routes),
        "Starlette app + Guard": Starlette(routes=routes, middleware=[guard]),
        "the project's app": create_app(Settings(debug=False, allowed_hosts=("127.0.0.1",))),
    }
    times: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            times[name].append(await per_request(app))
    limit = statistics.median(times["Router (the limit's)"])
    print(f"\nIn-process, GET /health/live, {REQUESTS} requests per round, medians of {rounds}"
          f" rounds (Python {sys.version.split()[0]})\n")
    print("| app | µs per request | Router / app |")
    print("|---|---:|---:|")
    for name, measured in times.items():
        median = statistics.median(measured)
        print(f"| {name} | {median:.1f} | {limit / median:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    options, _ = parser.parse_known_args()  # scripts/bench passes run.py's options too
    if options.inside:
        asyncio.run(measure(options.rounds))
        return
    sys.path.insert(0, str(HERE.parent))
    from tests.harness import build_venv, render, run, venv_env

    project = render(Path(tempfile.mkdtemp(prefix="bench-stack-")))
    env = venv_env(build_venv([project], options.python))
    env["PYTHONPATH"] = f"{project}:{HERE.parent}"
    command = ["python", "-m", "benchmarks.stack", "--inside", "--rounds", str(options.rounds)]
    print(run(command, cwd=project, env=env).stdout, end="")


if __name__ == "__main__":
    main()
