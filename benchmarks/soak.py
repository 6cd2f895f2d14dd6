"""A bounded soak: mixed reads and writes against a served project, then every write checked.

Concurrent clients read single notes and pages and create notes (each with an
Idempotency-Key) for a fixed time on loopback; the server is then stopped the way an
orchestrator stops it (SIGTERM, drain, stop) and started again, and every note whose creation
was acknowledged must be there. It prints its figures and exits 1 on any error or lost write.

    scripts/soak [--database sqlite|postgresql] [--seconds 60] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).parents[1]))
from benchmarks.run import Server  # noqa: E402
from tests.harness import SERVERS, build_venv, manage_database, render, run, venv_env  # noqa: E402

WRITE_SHARE = 0.25


@dataclass
class Tally:
    acknowledged: set[int] = field(default_factory=set)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"read": [], "write": []})

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values()) + sum(self.errors.values())


async def client(http: httpx.AsyncClient, tally: Tally, until: float, rng: random.Random) -> None:
    while time.monotonic() < until:
        kind = "write" if rng.random() < WRITE_SHARE or not tally.acknowledged else "read"
        began = time.perf_counter()
        try:
            if kind == "write":
                key = {"Idempotency-Key": str(uuid.uuid4())}
                response = await http.post("/api/notes", json={"title": "soak"}, headers=key)
                expected = 201
            elif rng.random() < 0.5:
                note = rng.choice(tuple(tally.acknowledged))
                response = await http.get(f"/api/notes/{note}")
                expected = 200
            else:
                response = await http.get("/api/notes", params={"limit": 20})
                expected = 200
        except httpx.HTTPError as exc:
            tally.errors[f"{kind}: {type(exc).__name__}"] += 1
            continue
        if response.status_code != expected:
            tally.errors[f"{kind}: HTTP {response.status_code}"] += 1
            continue
        tally.latencies[kind].append(time.perf_counter() - began)
        if kind == "write":
            tally.acknowledged.add(response.json()["id"])


async def load(url: str, seconds: float, clients: int) -> Tally:
    tally = Tally()
    until = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        await asyncio.gather(
            *(client(http, tally, until, random.Random(n)) for n in range(clients))  # noqa: S311 - not for security
        )
    return tally


def stored_ids(url: str) -> set[int]:
    found: set[int] = set()
    with httpx.Client(base_url=url, timeout=30) as http:
        page: str | None = "/api/notes?limit=100"
        while page is not None:
            body = http.get(page).json()
            found |= {note["id"] for note in body["items"]}
            page = body["next"]
    return found


def milliseconds(values: list[float], share: float) -> str:
    if not values:
        return "-"
    return f"{statistics.quantiles(values, n=100)[int(share * 100) - 1] * 1000:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    options = parser.parse_args()

    project = render(Path(tempfile.mkdtemp(prefix="soak-")), database=options.database)
    env = venv_env(build_venv([project]))
    database = None
    if options.database in SERVERS:
        database = SERVERS[options.database].url.format(database=f"soak_{secrets.token_hex(4)}")
        env["DATABASE_URL"] = database
        manage_database(project, env, "create")
    else:
        env["DATABASE_URL"] = f"sqlite+aiosqlite:///{project / 'soak.db'}"
    env.update(DEBUG="false", SHUTDOWN_DRAIN_SECONDS="1")
    try:
        run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
        server = Server("app", ["scripts/start"], project, env)
        server.start()
        try:
            tally = asyncio.run(load(server.url, options.seconds, options.clients))
        finally:
            server.stop()
        server.start()  # the writes must have outlived the server that acknowledged them
        try:
            found = stored_ids(server.url)
        finally:
            server.stop()
    finally:
        if database is not None:
            manage_database(project, env, "drop")

    missing = tally.acknowledged - found
    errors = sum(tally.errors.values())
    print(f"Soak: {options.database}, {options.clients} clients, {options.seconds:g} s, "
          f"{WRITE_SHARE:.0%} writes")
    print(f"requests: {tally.requests} ({tally.requests / options.seconds:.0f}/s)")
    for kind, values in tally.latencies.items():
        print(f"{kind}s: {len(values)}, p50 {milliseconds(values, 0.5)} ms, "
              f"p99 {milliseconds(values, 0.99)} ms")
    print(f"errors: {errors}" + "".join(f"\n  {name}: {n}" for name, n in tally.errors.items()))
    print(f"writes acknowledged: {len(tally.acknowledged)}, present afterwards: "
          f"{len(tally.acknowledged & found)}, missing: {len(missing)}")
    return 1 if errors or missing else 0


if __name__ == "__main__":
    sys.exit(main())
