"""The rendered systemd unit and environment file, started for real by systemd.

systemd runs as PID 1 in a podman container (`--systemd=always`) of a Debian bookworm image
with systemd, sudo and python3, made from Debian's packages with mmdebstrap once, kept in
.cache/ and in podman's store, and made under a file lock, so concurrent tests wait for it.
The container shares this machine's network, so the unit reaches its PostgreSQL, MariaDB and
Redis. The rendered project is installed into it by docs/deploy.md's systemd block, run as it is
(uv from PyPI, the dependencies from uv.lock) except for its two interactive lines: the
`sudoedit` of the environment file becomes a `sed` that points DATABASE_URL (and the
PostgreSQL broker) at a database of this test's own and PORT at a free port, and the last
line, which follows the journal forever, is left out.
"""

from __future__ import annotations

import fcntl
import json
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest

from .conftest import free_port, require_server, unavailable
from .harness import BROKERS, CACHE, SERVERS, render, run
from .test_container import podman, podman_env, require

__all__ = ["podman_env"]  # a fixture these tests use

IMAGE = "localhost/tpl-systemd-bookworm:1"
IMAGE_TAR = CACHE / "systemd-bookworm.tar"
DEBIAN_PACKAGES = "systemd,systemd-sysv,sudo,python3,python3-venv,ca-certificates"
SLUG, PACKAGE = "my-service", "my_service"
UNIT_STOP_SECONDS = 30  # the unit's TimeoutStopSec

# Every database with every broker it allows (the environment file names both, and the ones
# with a broker server run two processes); accounts, which add a SECRET_KEY that docs/deploy.md's
# block writes, on two of them.
SYSTEMD_COMBINATIONS = {
    "sqlite-memory-users": {"database": "sqlite", "broadcast": "memory", "auth": "users"},
    "sqlite-redis": {"database": "sqlite", "broadcast": "redis"},
    "postgresql-memory": {"database": "postgresql", "broadcast": "memory"},
    # And a job queue on Redis, with its worker unit beside the web unit.
    "postgresql-redis": {"database": "postgresql", "broadcast": "redis", "jobs": "redis"},
    "postgresql-postgres-users": {
        "database": "postgresql", "broadcast": "postgres", "auth": "users"
    },
    "mysql-memory": {"database": "mysql", "broadcast": "memory"},
    "mysql-redis": {"database": "mysql", "broadcast": "redis"},
}

def systemd_image(env: dict[str, str]) -> None:
    """Make sure IMAGE is in podman's store (about 30 s to make, the first time)."""
    with open(CACHE / "systemd-image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if subprocess.run(["podman", "image", "exists", IMAGE], env=env, check=False).returncode == 0:
            return
        if not IMAGE_TAR.is_file():
            require("mmdebstrap")
            partial = IMAGE_TAR.with_name("systemd-bookworm-partial.tar")
            run(
                ["mmdebstrap", "--quiet", "--variant=minbase", f"--include={DEBIAN_PACKAGES}",
                 "bookworm", str(partial)],
                cwd=CACHE, timeout=900,
            )
            partial.rename(IMAGE_TAR)
        podman(env, "import", str(IMAGE_TAR), IMAGE, timeout=300)


def readme_block(project: Path) -> list[str]:
    """The shell lines of docs/deploy.md's systemd section, continuation lines joined."""
    deploy = (project / "docs" / "deploy.md").read_text()
    section = deploy[deploy.index("\n## systemd\n") :]
    start = section.index("```sh\n") + 6
    block = section[start : section.index("\n```", start)]
    return block.replace("\\\n", "").splitlines()


def sql(database: str, statement: str) -> None:
    """Run one statement on this machine's server, with its own client."""
    client = {
        "postgresql": ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1",
                       "-c", statement],
        "mysql": ["mariadb", "-h", "127.0.0.1", "-u", "root", "-e", statement],
    }[database]
    if shutil.which(client[0]) is None:
        unavailable(f"{client[0]} is not installed")
    run(client, cwd=CACHE)


@pytest.fixture
def database(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(DATABASE_URL, BROADCAST_URL) for the combination: a database of this test's own."""
    context = SYSTEMD_COMBINATIONS[request.param]
    for needed in [SERVERS.get(context["database"]), BROKERS.get(context["broadcast"])]:
        if needed:
            require_server(needed)
    broker = {"redis": BROKERS["redis"].url}
    if context["database"] == "sqlite":  # the unit's state directory, as the file says
        yield "", broker.get(context["broadcast"], "memory://")
        return
    name = f"tpl_{secrets.token_hex(4)}"
    url = SERVERS[context["database"]].url.format(database=name)
    broker["postgres"] = url.replace("+asyncpg", "")
    sql(context["database"], f"CREATE DATABASE {name}")
    try:
        yield url, broker.get(context["broadcast"], "memory://")
    finally:
        sql(context["database"], f"DROP DATABASE IF EXISTS {name}")


def environment_edit(database_url: str, broadcast_url: str, port: int) -> str:
    """What an administrator's sudoedit does here, as a sed command."""
    edits = [f"s|^PORT=.*|PORT={port}|", f"s|^BROADCAST_URL=.*|BROADCAST_URL={broadcast_url}|"]
    if database_url:
        edits.append(f"s|^DATABASE_URL=.*|DATABASE_URL={database_url}|")
    expressions = " ".join(f"-e '{edit}'" for edit in edits)
    return f"sudo sed -i {expressions} /etc/{SLUG}/environment"


def show(env: dict[str, str], name: str, *properties: str) -> dict[str, str]:
    listing = podman(env, "exec", name, "systemctl", "show", SLUG, *(f"-p{p}" for p in properties))
    return dict(line.split("=", 1) for line in listing.splitlines())


@pytest.mark.parametrize(
    ("combination", "database"),
    [pytest.param(name, name, id=name) for name in SYSTEMD_COMBINATIONS],
    indirect=["database"],
)
def test_unit_installs_migrates_serves_and_stops_under_systemd(
    tmp_path: Path, combination: str, database: tuple[str, str], podman_env: dict[str, str]
) -> None:
    context = SYSTEMD_COMBINATIONS[combination]
    project = render(tmp_path, process_manager="systemd", **context)
    systemd_image(podman_env)
    environment = (project / "deploy" / "systemd" / "environment").read_text()
    workers = re.search(r"^WEB_CONCURRENCY=(\d+)$", environment, re.MULTILINE)
    assert workers and int(workers.group(1)) == (1 if context["broadcast"] == "memory" else 2)

    lines = readme_block(project)
    edit = [line for line in lines if line.startswith("sudoedit ")]
    assert len(edit) == 1 and lines[-1] == f"systemctl status {SLUG}; journalctl -u {SLUG} -f"
    port = free_port()
    script = "\n".join(
        environment_edit(*database, port) if line in edit else line for line in lines[:-1]
    )
    # pip's and uv's downloads are kept between runs; what gets installed is docs/deploy.md's.
    downloads = CACHE / "systemd-downloads"
    downloads.mkdir(exist_ok=True)
    name = f"tpl-systemd-{secrets.token_hex(4)}"
    podman(
        podman_env, "run", "--detach", "--name", name, "--systemd=always", "--network", "host",
        "--volume", "/etc/ssl/certs:/etc/ssl/certs:ro", "--volume", f"{downloads}:/root/.cache",
        IMAGE, "/sbin/init",
    )
    try:
        # A machine the guide is followed on has booted: systemd-tmpfiles empties /tmp at boot,
        # which on a busy machine lands in the middle of the guide's `python3 -m venv /tmp/uv`.
        # "degraded" (some unit of the bare image failed) counts as booted too.
        subprocess.run(
            ["podman", "exec", name, "systemctl", "is-system-running", "--wait"],
            env=podman_env, capture_output=True, timeout=120, check=False,
        )
        podman(podman_env, "cp", str(project), f"{name}:/root/{SLUG}")
        started = time.monotonic()
        podman(podman_env, "exec", "--workdir", f"/root/{SLUG}", name, "bash", "-euxc", script,
               timeout=600)
        installed = time.monotonic() - started
        base = f"http://127.0.0.1:{port}"
        headers = {"Host": "localhost"}  # the environment file's ALLOWED_HOSTS
        ready = wait_for_ready(f"{base}/health/ready", headers, podman_env, name)
        jobs = context.get("jobs", "none")
        assert ready == {
            "status": "ok", "database": "ok", "broker": context["broadcast"],
            "jobs": "memory" if jobs == "none" else jobs,
        }

        # The migrations ran first, as their own step, and the server runs as the unit's user.
        state = show(podman_env, name, "ExecStartPre", "MainPID", "ActiveState")
        assert "code=exited ; status=0 }" in state["ExecStartPre"], state
        assert state["ActiveState"] == "active"
        owner = podman(podman_env, "exec", name, "stat", "-c", "%U", f"/proc/{state['MainPID']}")
        assert owner == SLUG
        journal = podman(podman_env, "exec", name, "journalctl", "-u", SLUG, "--no-pager")
        assert "Running upgrade" in journal, journal
        # serve.py and uvicorn, the default server: one process, or with several workers its
        # supervisor, its workers and the resource tracker of Python's multiprocessing.
        processes = podman(podman_env, "exec", name, "find", "/proc", "-maxdepth", "1",
                           "-user", SLUG, "-name", "[0-9]*")
        count = int(workers.group(1))
        worker = 0 if jobs == "none" else 1  # the worker unit's one process
        assert len(processes.split()) == (2 if count == 1 else 3 + count) + worker, processes
        if context.get("auth", "none") == "none":  # with accounts, writing needs a sign-in
            created = httpx.post(
                f"{base}/api/notes", json={"title": "Under systemd"}, headers=headers, timeout=5
            )
            assert created.status_code == 201, created.text
        if jobs != "none":  # the worker unit runs what the web unit enqueues
            assert exported(base, headers) == ["Under systemd"]
            checked = podman(podman_env, "exec", "--workdir", f"/opt/{SLUG}",
                             name, "sh", "-c", f"set -a; . /etc/{SLUG}/environment; "
                             "scripts/worker --check")
            assert "workers on this host: 1" in checked, checked

        # A stop drains (readiness 503 while still serving), then ends within TimeoutStopSec.
        stopping = time.monotonic()
        podman(podman_env, "exec", name, "systemctl", "stop", "--no-block", SLUG)
        draining = wait_for_status(f"{base}/health/ready", headers, 503)
        assert httpx.get(f"{base}/health/live", headers=headers, timeout=5).status_code == 200
        while show(podman_env, name, "ActiveState")["ActiveState"] != "inactive":
            assert time.monotonic() - stopping < UNIT_STOP_SECONDS + 5, "the unit did not stop"
            time.sleep(0.2)
        stopped = time.monotonic() - stopping
        final = show(podman_env, name, "Result", "ExecMainStatus", "ExecMainCode")
        assert final["Result"] == "success", final
        assert stopped < UNIT_STOP_SECONDS, stopped
        assert "shutting down" in draining, draining
        print(f"{combination}: installed in {installed:.1f}s, stopped in {stopped:.1f}s")
    finally:
        subprocess.run(["podman", "rm", "--force", "--time", "0", name], env=podman_env,
                       capture_output=True, check=False)


def exported(base: str, headers: dict[str, str], seconds: float = 60) -> list[str]:
    """Export the notes through the API; the titles in the file, once the job has run."""
    started = httpx.post(f"{base}/api/exports", headers=headers, timeout=5)
    assert started.status_code == 202, started.text
    # The links name the Host header's host (localhost), without this machine's port.
    where = base + urlsplit(started.headers["location"]).path
    deadline = time.monotonic() + seconds
    while (shown := httpx.get(where, headers=headers, timeout=5).json())["status"] != "complete":
        assert time.monotonic() < deadline and shown["status"] in ("queued", "active"), shown
        time.sleep(0.2)
    file = httpx.get(base + urlsplit(shown["file"]).path, headers=headers, timeout=5).json()
    return [note["title"] for note in file["notes"]]


def wait_for_ready(
    url: str, headers: dict[str, str], env: dict[str, str], name: str, seconds: float = 180
) -> object:
    # A guard against a hang, not a speed check: on two busy cores the migration and the
    # imports of two workers take over a minute.
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(url, headers=headers, timeout=2)
            if answer.status_code == 200:
                return answer.json()
            last = f"{answer.status_code} {answer.text[:200]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.2)
    journal = subprocess.run(
        ["podman", "exec", name, "journalctl", "-u", SLUG, "--no-pager"], env=env,
        capture_output=True, text=True, check=False,
    ).stdout
    pytest.fail(f"{url} did not answer 200 within {seconds}s; last: {last}\n{journal}")


def wait_for_status(url: str, headers: dict[str, str], status: int, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = httpx.get(url, headers=headers, timeout=2)
        if answer.status_code == status:
            return json.dumps(answer.json())
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer {status} within {seconds}s")
