"""Measure a rendered project on this machine, against Node and against the raw driver.

Each server runs as one process pinned to CPU 0; the load generator (wrk) is pinned to CPU 1.
Rounds interleave each route's server with its baseline, and the table shows medians, each
next to its ratio to the baseline measured in the same invocation. Nothing here is a test:
the figures depend on the machine, so they are printed, not asserted.

    scripts/bench [--database sqlite|postgresql] [--rounds 3] [--duration 10] [--python PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import websockets

sys.path.insert(0, str(Path(__file__).parents[1]))
from tests.harness import (  # noqa: E402
    SERVERS, build_venv, manage_database, memory, render, run, venv_env,
)

HERE = Path(__file__).parent
SERVER_CPU, LOAD_CPU = "0", "1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Server:
    name: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    health: str = "/health/live"
    port: int = field(default_factory=free_port)
    cpus: str = SERVER_CPU  # taskset's list: "0,1" leaves it unpinned on two cores
    process: subprocess.Popen[bytes] | None = None
    warm_rss: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start pinned to its CPUs; return seconds from launch to the first 200."""
        env = {**self.env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        began = time.perf_counter()
        self.process = subprocess.Popen(
            ["taskset", "-c", self.cpus, *self.command], cwd=self.cwd, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        while time.perf_counter() - began < 60:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + self.health, timeout=1).status_code == 200:
                    return time.perf_counter() - began
            except httpx.TransportError:
                time.sleep(0.005)
        raise RuntimeError(f"{self.name} did not answer within 60s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None

    def memory(self, field_name: str) -> int:
        """VmRSS (now) or VmHWM (peak) in KiB, summed over the server's processes."""
        assert self.process is not None
        return memory(self.process.pid, field_name)


@dataclass
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors (timeouts included) and non-2xx answers
    non_2xx: int = 0
    failure: str = ""  # the first non-2xx answer, from a wrk script that records it


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int, script: str | None = None) -> Load:
    command = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c64", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(HERE / script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout

    def latency(percentile: str) -> float:
        found = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if found is None:
            raise RuntimeError(f"no {percentile}% latency in wrk's output:\n{output}")
        return float(found.group(1)) * UNITS[found.group(2)]

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert rate is not None, output
    answers = int(non_2xx.group(1)) if non_2xx else 0
    failure = re.search(r"^first failure: (.*)$", output, re.M)
    return Load(float(rate.group(1)), latency("50"), latency("99"), errors + answers, answers,
                failure.group(1) if failure else "")


@dataclass
class Scenario:
    route: str
    server: Server
    baseline: Server
    path: str
    baseline_path: str
    script: str | None = None
    runs: dict[str, list[Load]] = field(default_factory=lambda: {"server": [], "baseline": []})


def fan_out(
    server: Server, clients: int = 100, events: int = 200, spread: list[Server] | None = None
) -> float:
    """Events per second delivered: `events` notes created over HTTP through `server`, each
    pushed to every client; the clients are split evenly across `spread` (default: `server`)."""
    targets = spread or [server]

    async def main() -> float:
        sockets = []
        for number in range(clients):
            socket_url = targets[number % len(targets)].url.replace("http", "ws") + "/ws/notes"
            websocket = await websockets.connect(socket_url)
            await websocket.send('{"type": "ping"}')
            await websocket.recv()  # the pong: subscribed
            sockets.append(websocket)

        async def drain(websocket: websockets.ClientConnection) -> None:
            for _ in range(events):
                await websocket.recv()

        async with httpx.AsyncClient(base_url=server.url) as client:
            began = time.perf_counter()
            receivers = asyncio.gather(*(drain(websocket) for websocket in sockets))
            for n in range(events):
                response = await client.post("/api/notes", json={"title": f"event {n}"})
                response.raise_for_status()
            await asyncio.wait_for(receivers, timeout=300)
            elapsed = time.perf_counter() - began
        for websocket in sockets:
            await websocket.close()
        return clients * events / elapsed

    return asyncio.run(main())


def new_database(project: Path, env: dict[str, str], backend: str) -> str | None:
    """Point DATABASE_URL in `env` at a new, empty database; return it if a server holds it."""
    if backend not in SERVERS:
        env["DATABASE_URL"] = f"sqlite+aiosqlite:///{project / 'bench.db'}"
        return None
    database = SERVERS[backend].url.format(database=f"bench_{secrets.token_hex(4)}")
    env["DATABASE_URL"] = database
    manage_database(project, env, "create")
    return database


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter the project runs on (default: this one)")
    options = parser.parse_args()
    os.sched_setaffinity(0, {int(LOAD_CPU)})

    work = Path(tempfile.mkdtemp(prefix="bench-"))
    render_times = [timed(lambda n=n: render(work / f"render-{n}", database=options.database))
                    for n in range(3)]
    project = work / "render-0" / "my-service"
    venv = build_venv([project], options.python)
    env = venv_env(venv)
    interpreter = run([str(venv / "bin" / "python"), "-c", "import sys; print(sys.version)"],
                      cwd=project).stdout.split()[0]
    database = new_database(project, env, options.database)
    try:
        env["DEBUG"] = "false"
        env["SHUTDOWN_DRAIN_SECONDS"] = "0"  # no load balancer to wait for between rounds
        run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)

        # Every Python server is the project's own scripts/start: its production settings. The
        # app is served as by default (no SERVER: uvicorn); Granian answers the health route too.
        env.pop("SERVER", None)
        app = Server("app (uvicorn)", ["scripts/start"], project, env)
        granian = Server("app (granian)", ["scripts/start"], project, {**env, "SERVER": "granian"})
        node = Server("node", ["node", str(HERE / "node_server.js")], HERE, env, health="/")
        raw_env = {**env, "BENCH_PACKAGE": "my_service", "PYTHONPATH": str(HERE / "raw_driver")}
        raw = Server("app, raw driver", ["scripts/start"], project, raw_env, health="/api/notes/1")
        servers = (app, granian, node, raw)

        cold_starts = []
        for _ in range(3):
            cold_starts.append(app.start())
            app.stop()
        try:
            for server in (app, granian, node):
                server.start()
            for n in range(100):
                httpx.post(f"{app.url}/api/notes", json={"title": f"seed {n}", "body": "x" * 200})
            raw.start()
            scenarios = [
                Scenario("JSON health (no I/O)", app, node, "/health/live", "/"),
                Scenario("JSON health (no I/O)", granian, node, "/health/live", "/"),
                Scenario("GET /api/notes/{id}", app, raw, "/api/notes/7", "/api/notes/7"),
                Scenario("GET /api/notes?limit=20", app, node, "/api/notes?limit=20", "/"),
                Scenario("POST /api/notes", app, node, "/api/notes", "/", script="post.lua"),
            ]
            # Warm-up: each measured workload once, shorter, before RSS is read.
            for scenario in scenarios:
                wrk(scenario.server.url + scenario.path, 2, scenario.script)
                wrk(scenario.baseline.url + scenario.baseline_path, 2)
            fan_out(app, events=20)
            for server in servers:
                server.warm_rss = server.memory("VmRSS")
            for round_number in range(options.rounds):
                for scenario in scenarios:
                    pair = [("baseline", scenario.baseline, scenario.baseline_path, None),
                            ("server", scenario.server, scenario.path, scenario.script)]
                    for key, server, path, script in pair[:: 1 if round_number % 2 else -1]:
                        scenario.runs[key].append(wrk(server.url + path, options.duration, script))
            events = [fan_out(app) for _ in range(options.rounds)]
            memory = {server.name: (server.warm_rss, server.memory("VmRSS"), server.memory("VmHWM"))
                      for server in servers}
        finally:
            for server in servers:
                server.stop()
        # The suite runs as a developer would: DEBUG=false is for the servers, and its settings
        # tests read DEBUG from a .env file, which a DEBUG in the environment would override.
        suite_env = {key: value for key, value in env.items() if key != "DEBUG"}
        suite = timed(lambda: run(["scripts/test", "-q", "-p", "no:cacheprovider"],
                                  cwd=project, env=suite_env))
    finally:
        if database:
            manage_database(project, env, "drop")

    print(f"\nPython {interpreter} ({options.python})")
    report(options, scenarios, memory, events, cold_starts, render_times, suite)


def report(
    options: argparse.Namespace,
    scenarios: list[Scenario],
    memory: dict[str, tuple[int, int, int]],
    events: list[float],
    cold_starts: list[float],
    render_times: list[float],
    suite: float,
) -> None:
    median = statistics.median
    print(f"\n{options.database}, {options.rounds} interleaved rounds of {options.duration}s, "
          "wrk -t1 -c64 on CPU 1, each server one process on CPU 0\n")
    print("| route | server | req/s | p50 ms | p99 ms | errors | ratio to baseline |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for scenario in scenarios:
        base = median(load.requests_per_second for load in scenario.runs["baseline"])
        for key, server in (("baseline", scenario.baseline), ("server", scenario.server)):
            runs = scenario.runs[key]
            rate = median(load.requests_per_second for load in runs)
            print(f"| {scenario.route} | {server.name} | {rate:,.0f} | "
                  f"{median(load.p50_ms for load in runs):.2f} | {median(load.p99_ms for load in runs):.2f} | "
                  f"{sum(load.errors for load in runs)} | {rate / base:.2f} |")
    print("\n| server | RSS after warm-up MiB | RSS after the runs MiB | peak RSS MiB | after / warm-up |")
    print("|---|---:|---:|---:|---:|")
    for name, (warm, after, peak) in memory.items():
        print(f"| {name} | {warm / 1024:.1f} | {after / 1024:.1f} | {peak / 1024:.1f} | {after / warm:.2f} |")
    print(f"\nWebSocket fan-out to 100 clients: {median(events):,.0f} events/s delivered (median)")
    print(f"Cold start, launch to first 200: {median(cold_starts) * 1000:.0f} ms (median of 3)")
    print(f"Render time: {median(render_times) * 1000:.0f} ms (median of 3)")
    print(f"Generated test suite: {suite:.1f} s")


if __name__ == "__main__":
    main()
