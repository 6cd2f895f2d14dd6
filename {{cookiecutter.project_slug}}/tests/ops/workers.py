"""Running workers in the worker's tests: start one (`python -m tests.ops.worker_jobs`), wait
for a job to end or a file to fill, and read its metrics."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.core.jobs import Job
from {{ cookiecutter.package_name }}.core.jobs_saq import Jobs

from ..conftest import ROOT

T = TypeVar("T")


@contextmanager
def worker(env: dict[str, str], log: Path, **more: str) -> Iterator[subprocess.Popen[str]]:
    with log.open("a") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.ops.worker_jobs"],
            cwd=ROOT,
            env={**env, **more},
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def until(check: Callable[[], Awaitable[T | None]], what: str, seconds: float = 60) -> T:
    deadline = time.monotonic() + seconds
    while (value := await check()) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {seconds}s")
        await asyncio.sleep(0.1)
    return value


async def ended(queue: Jobs, key: str, seconds: float = 60) -> Job:
    async def done() -> Job | None:
        job = await queue.job(key)
        return job if job and job.status in ("complete", "failed") else None

    return await until(done, f"job {key} did not end", seconds)


def read(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def lines(path: Path, count: int) -> list[str]:
    async def enough() -> list[str] | None:
        found = await asyncio.to_thread(read, path)
        return found if len(found) >= count else None

    return await until(enough, f"{path.name} did not get {count} lines")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The worker's samples, by name and labels; empty while it does not answer."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return {}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
