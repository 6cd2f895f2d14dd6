"""The worker, for real: `python -m tests.ops.worker_jobs` (scripts/worker with two test jobs)
on the queue at JOBS_URL, with the broker at BROADCAST_URL. Each test has a queue and an event
channel of its own, so tests running at once do not take each other's jobs.

A worker killed with SIGKILL mid-job leaves it to another, which runs it again; SIGTERM lets a
running job finish within the grace period, or puts it back; a failed job is retried.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.database import Database
from {{ cookiecutter.package_name }}.core.events import Events
from {{ cookiecutter.package_name }}.core.jobs import Job
from {{ cookiecutter.package_name }}.core.jobs_saq import Jobs
from {{ cookiecutter.package_name }}.core.settings import Settings

from ..conftest import JOBS_URL, ROOT
from .worker_jobs import flaky, hold, jobs

T = TypeVar("T")


@pytest.fixture(scope="session")
def queue_url() -> str:
    if JOBS_URL.startswith("memory") or not JOBS_URL:
        pytest.fail("JOBS_URL names no queue; set it in .env (see .env.example).")
    return JOBS_URL


@pytest.fixture
def worker_env(
    database_url: str, queue_url: str, broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The variables of this test's workers, set in this process too (for `Jobs`)."""
    if queue_url.startswith("postgres"):  # the queue's tables go in the test database
        queue_url = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    values = {
        "DATABASE_URL": database_url,
        "JOBS_URL": queue_url,
        "JOBS_QUEUE": f"test-{uuid.uuid4().hex[:12]}",
        "BROADCAST_URL": broker_url,
        "BROADCAST_CHANNEL": f"test-{uuid.uuid4().hex[:12]}",
        "ALLOWED_HOSTS": "testserver",
        "JOB_HEARTBEAT_SECONDS": "2",
        "JOB_RETRY_DELAY_SECONDS": "0.1",
        "WORKER_SWEEP_SECONDS": "1",
        "WORKER_GRACE_SECONDS": "5",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return {**os.environ, **values}


@pytest.fixture
def settings_for_queue(worker_env: dict[str, str]) -> Settings:
    return Settings(
        _env_file=None,
        database_url=worker_env["DATABASE_URL"],
        jobs_url=worker_env["JOBS_URL"],
        broadcast_url=worker_env["BROADCAST_URL"],
        broadcast_channel=worker_env["BROADCAST_CHANNEL"],
        allowed_hosts=("testserver",),
    )


@pytest.fixture
async def queue(settings_for_queue: Settings) -> AsyncIterator[Jobs]:
    """The web process's side of this test's queue, knowing the test jobs too."""
    functions, periodic = jobs()
    queue = Jobs(settings_for_queue, functions, periodic)
    database, events = Database(settings_for_queue.database_url), Events("memory://")
    await queue.connect(database, events)
    yield queue
    await queue.disconnect()


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


pytestmark = pytest.mark.anyio


async def test_a_job_killed_with_its_worker_runs_again_on_another(
    queue: Jobs, worker_env: dict[str, str], tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    with worker(worker_env, tmp_path / "first.log") as first:
        await queue.enqueue(hold, "held", path=str(marks), seconds=3)
        await lines(marks, 1)  # it has started
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    with worker(worker_env, tmp_path / "second.log") as second:
        job = await ended(queue, "held")
    started, *rest = await lines(marks, 3)
    assert job.status == "complete" and job.result == second.pid
    assert started == f"start {first.pid}"
    assert rest == [f"start {second.pid}", f"end {second.pid}"]  # run again, whole, once


async def test_sigterm_lets_the_running_job_finish(
    queue: Jobs, worker_env: dict[str, str], tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    with worker(worker_env, tmp_path / "worker.log") as running:
        await queue.enqueue(hold, "finishing", path=str(marks), seconds=1.5)
        await lines(marks, 1)
        running.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(running.wait, 30) == 0
    job = await queue.job("finishing")
    assert job is not None and job.status == "complete" and job.result == running.pid
    assert read(marks) == [f"start {running.pid}", f"end {running.pid}"]


async def test_sigterm_puts_a_job_back_past_the_grace_period(
    queue: Jobs, worker_env: dict[str, str], tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    with worker(worker_env, tmp_path / "first.log", WORKER_GRACE_SECONDS="1") as first:
        await queue.enqueue(hold, "long", path=str(marks), seconds=6)
        await lines(marks, 1)
        first.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(first.wait, 30) == 0
    job = await queue.job("long")
    assert job is not None and job.status == "queued"  # back in the queue, not lost
    with worker(worker_env, tmp_path / "second.log") as second:
        job = await ended(queue, "long")
    assert job.status == "complete" and job.result == second.pid
    assert read(marks) == [f"start {first.pid}", f"start {second.pid}", f"end {second.pid}"]


async def test_a_failed_job_is_retried(
    queue: Jobs, worker_env: dict[str, str], tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    with worker(worker_env, tmp_path / "worker.log"):
        await queue.enqueue(flaky, "flaky", path=str(marks))
        job = await ended(queue, "flaky")
    assert job.status == "complete" and job.result == 2
    assert "the first attempt fails" in "\n".join(read(tmp_path / "worker.log"))


async def test_a_job_past_its_timeout_is_cancelled_and_retried_then_failed(
    settings_for_queue: Settings,
    worker_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOB_TIMEOUT_SECONDS", "1")  # read by the queue when it enqueues
    monkeypatch.setenv("JOB_ATTEMPTS", "2")
    functions, periodic = jobs()
    queue = Jobs(settings_for_queue, functions, periodic)
    await queue.connect(Database(settings_for_queue.database_url), Events("memory://"))
    marks = tmp_path / "marks"
    try:
        with worker(worker_env, tmp_path / "worker.log") as running:
            await queue.enqueue(hold, "slow", path=str(marks), seconds=4)
            job = await ended(queue, "slow")
    finally:
        await queue.disconnect()
    assert job.status == "failed"
    assert read(marks) == [f"start {running.pid}", f"start {running.pid}"]  # never finished


async def test_check_says_whether_a_worker_of_this_host_is_alive(
    queue: Jobs, worker_env: dict[str, str], tmp_path: Path
) -> None:
    def check() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tests.ops.worker_jobs", "--check"]
        return subprocess.run(  # noqa: S603 - this interpreter, on a fixed module
            command, cwd=ROOT, env=worker_env, capture_output=True, text=True, timeout=60
        )

    async def alive() -> subprocess.CompletedProcess[str] | None:
        checked = await asyncio.to_thread(check)
        return checked if checked.returncode == 0 else None

    assert (await asyncio.to_thread(check)).returncode == 1  # none yet, on this queue
    await queue.enqueue(hold, "waiting", path=str(tmp_path / "marks"), seconds=0.1)
    with worker(worker_env, tmp_path / "worker.log"):
        checked = await until(alive, "no worker reported alive")
    assert "workers on this host: 1" in checked.stdout and "jobs queued:" in checked.stdout


def test_an_export_runs_on_the_worker_and_its_caller_hears_of_it(
    settings_for_queue: Settings,
    worker_env: dict[str, str],
    caller: dict[str, str],
    tmp_path: Path,
) -> None:
    app = create_app(settings_for_queue)
    with TestClient(app, headers=caller) as client, worker(worker_env, tmp_path / "worker.log"):
        with client.websocket_connect("/ws/notes") as socket:
            socket.send_json({"type": "ping"})
            assert socket.receive_json() == {"type": "pong"}  # subscribed
            titles = [f"note {number}" for number in range(3)]
            for title in titles:
                assert client.post("/api/notes", json={"title": title}).status_code == 201
            started = client.post("/api/exports")
            assert started.status_code == 202
            export = started.json()
            deadline = time.monotonic() + 30
            while (shown := client.get(started.headers["Location"]).json())["status"] != "complete":
                assert shown["status"] in ("queued", "active") and time.monotonic() < deadline
                time.sleep(0.1)
            kinds: list[dict[str, Any]] = []
            while not kinds or kinds[-1]["type"] != "job.done":
                event = socket.receive_json()
                if event["type"].startswith("job."):
                    kinds.append(event)
        file = client.get(shown["file"])

    assert [note["title"] for note in file.json()["notes"]] == titles
    assert file.headers["content-disposition"].startswith("attachment")
    assert {event["job"]["key"] for event in kinds} == {export["id"]}
    assert kinds[-2] == {**kinds[-2], "type": "job.progress"}
    assert kinds[-2]["job"]["progress"] == 1.0
    assert kinds[-1]["job"]["status"] == "complete"
