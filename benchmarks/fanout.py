"""Live events delivered per second: `memory` in one process against `redis` and `postgres`
brokers across two server processes.

One project per broker, all on PostgreSQL (the database is the same; only the broker
differs). Notes are created through the first server; WebSocket clients are split evenly
between the servers (all on the one server for `memory`). Rounds interleave the brokers and
the table shows medians. Printed, not asserted: the figures depend on the machine.

    python -m benchmarks.fanout [--rounds 3] [--clients 100] [--events 200] [--python PATH]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from benchmarks.run import Server, fan_out  # noqa: E402
from tests.harness import (  # noqa: E402
    SERVERS, broadcast_url, build_venv, manage_database, render, run, venv_env,
)

BROKERS = {"memory": 1, "redis": 2, "postgres": 2}  # broker -> server processes


def prepare(broker: str, folder: Path, python: str) -> tuple[Path, dict[str, str]]:
    context = {"database": "postgresql", "broadcast": broker}
    project = render(folder / broker, **context)
    env = venv_env(build_venv([project], python=python))
    database = SERVERS["postgresql"].url.format(database=f"bench_{secrets.token_hex(4)}")
    env |= {
        "DATABASE_URL": database,
        "BROADCAST_URL": broadcast_url(context, database),
        "BROADCAST_CHANNEL": f"bench-{secrets.token_hex(4)}",
    }
    manage_database(project, env, "create")
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
    return project, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--python", default=sys.executable)
    options, _ = parser.parse_known_args()  # scripts/bench passes the others' options too

    rates: dict[str, list[float]] = {broker: [] for broker in BROKERS}
    with tempfile.TemporaryDirectory() as folder:
        prepared = {broker: prepare(broker, Path(folder), options.python) for broker in BROKERS}
        try:
            for _ in range(options.rounds):
                for broker, processes in BROKERS.items():
                    project, env = prepared[broker]
                    servers = [
                        Server(f"{broker} {n}", ["scripts/start"], project, env, cpus="0,1")
                        for n in range(processes)
                    ]
                    try:
                        for server in servers:
                            server.start()
                        rate = fan_out(servers[0], options.clients, options.events, servers)
                        rates[broker].append(rate)
                    finally:
                        for server in servers:
                            server.stop()
        finally:
            for project, env in prepared.values():
                manage_database(project, env, "drop")

    print(f"\nFan-out: {options.clients} WebSocket clients, {options.events} notes created on "
          f"the first server; median of {options.rounds} rounds; Python {options.python}")
    print("| broker | server processes | events delivered/s | vs memory |")
    print("|---|---:|---:|---:|")
    memory = statistics.median(rates["memory"])
    for broker, processes in BROKERS.items():
        rate = statistics.median(rates[broker])
        print(f"| {broker} | {processes} | {rate:,.0f} | {rate / memory:.2f} |")


if __name__ == "__main__":
    main()
