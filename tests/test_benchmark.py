"""The benchmark still runs end to end (its figures are read by people, not asserted)."""

from __future__ import annotations

import os
import shutil

import pytest

from .harness import ROOT, run


def test_benchmark_prints_every_figure() -> None:
    if shutil.which("wrk") is None and os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("wrk is not installed and cannot be installed without root")

    # A guard against a hang: about 7 minutes alone, twice that beside the rest of the suite.
    result = run(["scripts/bench", "--rounds", "1", "--duration", "1"], cwd=ROOT, timeout=1500)

    rows = {tuple(line.split(" | ")[:2]) for line in result.stdout.splitlines()}
    # The app as served by default (uvicorn) on every route, and Granian on the health route.
    expected = [
        ("| JSON health (no I/O)", server) for server in ("node", "app (uvicorn)", "app (granian)")
    ] + [
        ("| GET /api/notes/{id}", "app, raw driver"),
        ("| GET /api/notes/{id}", "app (uvicorn)"),
        ("| GET /api/notes?limit=20", "app (uvicorn)"),
        ("| POST /api/notes", "app (uvicorn)"),
    ]
    by_route = ["GET /health/live", "GET /api/notes/{id}", "GET /api/notes?limit=20",
                "GET /api/notes?limit=20&total=true", "POST /api/notes"]
    servers = ["app (uvicorn)", "limit (raw driver)", "FastAPI + ORM (uvicorn)", "Fastify (Node)",
               "app, 2 workers"]
    expected += [(f"| {route}", server) for route in by_route for server in servers]
    for row in expected:
        assert row in rows, row
    shares = dict(table(result.stdout, "| route | app / limit |"))
    assert sorted(shares) == sorted(by_route), shares
    assert all(float(share) > 0 for share in shares.values()), shares
    assert "events/s delivered" in result.stdout
    for broker in ("| memory | 1 |", "| redis | 2 |", "| postgres | 2 |"):  # the fan-out table
        assert broker in result.stdout, broker
    assert "Cold start" in result.stdout and "Generated test suite" in result.stdout


def table(output: str, header: str) -> list[tuple[str, str]]:
    """The first two cells of each row of the Markdown table that starts with `header`."""
    lines = output.split(header, 1)[1].splitlines()[2:]
    rows = [line.split(" | ") for line in lines[: next(
        (n for n, line in enumerate(lines) if not line.startswith("|")), len(lines))]]
    return [(cells[0][2:], cells[1]) for cells in rows]


def test_soak_runs_and_finds_every_acknowledged_write() -> None:
    # A few seconds only: the 60 s soak is run by hand (scripts/soak), its figures read.
    result = run(["scripts/soak", "--seconds", "3", "--clients", "4"], cwd=ROOT, timeout=300)

    assert "errors: 0" in result.stdout, result.stdout
    acknowledged = next(line for line in result.stdout.splitlines() if "acknowledged" in line)
    count = int(acknowledged.split(":")[1].split(",")[0])
    assert count > 0 and acknowledged.endswith("missing: 0"), acknowledged
    assert f"present afterwards: {count}," in acknowledged
