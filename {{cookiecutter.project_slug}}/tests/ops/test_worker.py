"""The worker, for real: `python -m tests.ops.worker_jobs` (scripts/worker with two test jobs)
on the queue at JOBS_URL, with the broker at BROADCAST_URL. Each test has a queue and an event
channel of its own, so tests running at once do not take each other's jobs.

A worker killed with SIGKILL mid-job leaves it to another, which runs it again; SIGTERM lets a
running job finish within the grace period, or puts it back; a failed job is retried. Its
metrics count the queue and the jobs it ran.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.database import Database
from {{ cookiecutter.package_name }}.core.events import Events
from {{ cookiecutter.package_name }}.core.jobs_saq import Jobs
from {{ cookiecutter.package_name }}.core.settings import Settings

from ..conftest import JOBS_URL, ROOT
from .worker_jobs import flaky, hold, jobs, refused
from .workers import ended, free_port, lines, read, scrape, until, worker


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
        "METRICS_ENABLED": "false",  # on in the test of the metrics, on a port of its own
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


pytestmark = pytest.mark.anyio


async def test_a_job_killed_with_its_worker_runs_again_on_another(
    queue: Jobs, worker_env: dict[str, str], tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    with worker(worker_env, tmp_path / "first.log") as first:
        await queue.enqueue(hold, "held", path=str(marks), seconds=2)
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
    marks, log = tmp_path / "marks", tmp_path / "worker.log"
    # Its sweep sleeps for a minute and its grace is long: neither holds it once the job ends.
    with worker(worker_env, log, WORKER_SWEEP_SECONDS="60", WORKER_GRACE_SECONDS="60") as running:
        await queue.enqueue(hold, "finishing", path=str(marks), seconds=1.5)
        await lines(marks, 1)
        running.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(running.wait, 30) == 0  # 30 s: not the grace period
    job = await queue.job("finishing")
    assert job is not None and job.status == "complete" and job.result == running.pid
    assert read(marks) == [f"start {running.pid}", f"end {running.pid}"]
    assert "did not finish within the shutdown grace period" not in log.read_text()


async def test_sigterm_puts_a_job_back_past_the_grace_period(
    queue: Jobs, worker_env: dict[str, str], tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    with worker(worker_env, tmp_path / "first.log", WORKER_GRACE_SECONDS="1") as first:
        await queue.enqueue(hold, "long", path=str(marks), seconds=3)
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


async def test_an_expected_failure_is_logged_without_its_arguments_or_a_traceback(
    queue: Jobs, worker_env: dict[str, str], tmp_path: Path
) -> None:
    secret = uuid.uuid4().hex  # as a mail's link would be
    with worker(worker_env, tmp_path / "worker.log"):
        await queue.enqueue(refused, "refused", secret=secret)
        job = await ended(queue, "refused")
    log = "\n".join(read(tmp_path / "worker.log"))
    assert job.status == "failed"
    assert log.count("the server refused") >= 3  # each attempt's, JOB_ATTEMPTS in all
    assert secret not in log and "Traceback" not in log, log


async def test_a_job_kept_no_time_is_deleted_from_the_queue_as_it_ends(
    queue: Jobs, worker_env: dict[str, str], tmp_path: Path
) -> None:
    async def gone() -> bool | None:
        return True if await queue.job("forgotten") is None else None

    marks = tmp_path / "marks"
    with worker(worker_env, tmp_path / "worker.log"):
        await queue.enqueue(hold, "forgotten", keep_seconds=0, path=str(marks), seconds=2)
        await lines(marks, 1)
        assert await queue.job("forgotten") is not None  # known while it runs (mail: unsent)
        await lines(marks, 2)
        await until(gone, "the ended job was still in the queue", 10)


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


async def test_the_worker_counts_the_queue_and_the_jobs_it_ran(
    queue: Jobs, worker_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    served = {"METRICS_ENABLED": "true", "HOST": "127.0.0.1", "WORKER_METRICS_PORT": str(port)}
    marks = tmp_path / "marks"

    async def sample(name: str, value: float, **labels: str) -> float:
        async def reached() -> float | None:
            found = (await asyncio.to_thread(scrape, port)).get(
                (name, tuple(sorted(labels.items())))
            )
            return found if found == value else None

        return await until(reached, f"{name}{labels} did not reach {value}")

    # One job at a time: two wait behind the first while it runs.
    with worker(worker_env, tmp_path / "worker.log", WORKER_CONCURRENCY="1", **served):
        await queue.enqueue(hold, "first", path=str(marks), seconds=6)
        await lines(marks, 1)
        await queue.enqueue(hold, "second", path=str(marks), seconds=0.1)
        await queue.enqueue(flaky, "flaky", path=str(tmp_path / "attempts"))
        await sample("jobs_queued", 2)
        await sample("jobs_running", 1)
        await sample("jobs_queue_reachable", 1)
        await ended(queue, "flaky")
        await sample("jobs_ended_total", 2, function="hold", outcome="complete")
        await sample("jobs_ended_total", 1, function="flaky", outcome="retried")
        await sample("jobs_ended_total", 1, function="flaky", outcome="complete")
        await sample("job_duration_seconds_count", 2, function="hold")
        await sample("jobs_queued", 0)
        await sample("jobs_running", 0)
        samples = await asyncio.to_thread(scrape, port)
    slow = (("function", "hold"), ("le", "1.0"))
    assert samples[("job_duration_seconds_bucket", slow)] == 1  # the 0.1 s one, not the 6 s one
    assert samples[("process_resident_memory_bytes", ())] > 0  # the client's own collectors
