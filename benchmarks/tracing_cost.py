"""What traces cost: the health and note routes with tracing on and off.

One rendered project (`tracing=opentelemetry`, SQLite, one note) served three times by its own
`scripts/start` (uvicorn, one worker, on CPU 0): with every request traced (a server span, a
span per query, batches posted over OTLP/HTTP to a sink in this process that answers 200 and
keeps nothing), with one request in ten traced (OTEL_TRACES_SAMPLER_ARG=0.1, a common
production setting) and with OTEL_EXPORTER_OTLP_ENDPOINT empty. `wrk -t1 -c64` on CPU 1 loads
each route for `--duration` seconds per round, the servers back to back in an order that
reverses every round; the table shows the medians, and each traced throughput's cost as the
share lost against tracing off (the target: at most 25 %).
"""

from __future__ import annotations

import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.metrics_cost import ROUTES, arguments, medians, on_and_off
from benchmarks.run import Server, new_database
from tests.harness import build_venv, render, run, venv_env


class Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that takes every export and keeps nothing."""

    spans_bytes = 0

    def do_POST(self) -> None:
        Sink.spans_bytes += len(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    options = arguments(__doc__)
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    project = render(Path(tempfile.mkdtemp(prefix="bench-tracing-")), tracing="opentelemetry")
    env = venv_env(build_venv([project], options.python))
    new_database(project, env, "sqlite")
    env.update(DEBUG="false", SHUTDOWN_DRAIN_SECONDS="0", METRICS_ENABLED="false")
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
    endpoint = f"http://127.0.0.1:{sink.server_address[1]}"
    servers = [
        Server("all traced", ["scripts/start"], project,
               {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}),
        Server("1 in 10 traced", ["scripts/start"], project,
               {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_SAMPLER_ARG": "0.1"}),
        Server("tracing off", ["scripts/start"], project,
               {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": ""}),
    ]
    runs = on_and_off(servers, options.rounds, options.duration)
    sink.shutdown()
    print(f"\nTracing cost: {options.rounds} rounds of {options.duration} s, median req/s")
    print(f"(the sink took {Sink.spans_bytes / 1e6:,.1f} MB of spans)\n")
    print("| route | all traced | 1 in 10 | tracing off | cost, all | cost, 1 in 10 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ROUTES:
        every, tenth, off = medians(runs, name, servers)
        errors = sum(load.errors for server in servers for load in runs[(name, server.name)])
        note = f" ({errors} errors)" if errors else ""
        print(f"| {name} | {every:,.0f} | {tenth:,.0f} | {off:,.0f} | {1 - every / off:.1%} | "
              f"{1 - tenth / off:.1%}{note} |")


if __name__ == "__main__":
    main()
