"""The benchmark still runs end to end (its figures are read by people, not asserted)."""

from __future__ import annotations

import os
import shutil

import pytest

from .harness import ROOT, run


def test_benchmark_prints_every_figure() -> None:
    if shutil.which("wrk") is None and os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("wrk is not installed and cannot be installed without root")

    result = run(["scripts/bench", "--rounds", "1", "--duration", "1"], cwd=ROOT, timeout=600)

    rows = {tuple(line.split(" | ")[:2]) for line in result.stdout.splitlines()}
    expected = [
        ("| JSON health (no I/O)", server) for server in ("node", "app (granian)", "app (uvicorn)")
    ] + [
        ("| GET /api/notes/{id}", "app, raw driver"),
        ("| GET /api/notes/{id}", "app (granian)"),
        ("| GET /api/notes?limit=20", "app (granian)"),
        ("| POST /api/notes", "app (granian)"),
    ]
    for row in expected:
        assert row in rows, row
    assert "events/s delivered" in result.stdout
    assert "Cold start" in result.stdout and "Generated test suite" in result.stdout
