"""Jobs for the worker's tests, and a worker that runs them beside the features' own:
`python -m tests.ops.worker_jobs` (as `scripts/worker`). Each job notes its attempts in a file.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from {{ cookiecutter.package_name }} import features
from {{ cookiecutter.package_name }}.core.jobs import Context, Function, JobFailed, Periodic
from {{ cookiecutter.package_name }}.ops import worker


def note(path: str, what: str) -> list[str]:
    """Append `what` and this process's id to the file at `path`; return all its lines."""
    with Path(path).open("a") as file:
        file.write(f"{what} {os.getpid()}\n")
    return Path(path).read_text().splitlines()


async def hold(context: Context, *, path: str, seconds: float) -> int:
    """Run for `seconds`, reporting progress every tenth; return the worker's process id."""
    note(path, "start")
    for step in range(10):
        await asyncio.sleep(seconds / 10)
        await context.progress((step + 1) / 10)
    note(path, "end")
    return os.getpid()


async def flaky(context: Context, *, path: str) -> int:
    """Fail on the first attempt; return the number of attempts."""
    attempts = len(note(path, "attempt"))
    if attempts == 1:
        raise RuntimeError("the first attempt fails")
    return attempts


async def refused(context: Context, *, secret: str) -> None:
    """Fail as a job expects to (a mail server refusing), every time."""
    raise JobFailed("the server refused")


def jobs() -> tuple[list[Function], list[Periodic]]:
    functions, periodic = features.jobs()
    return [*functions, hold, flaky, refused], periodic


if __name__ == "__main__":
    sys.exit(worker.main(sys.argv[1:], jobs()))
