"""compose.yaml brought up for real: the app starts only once the migration has completed and
the broker is healthy, the worker runs the jobs the app enqueues, and the production profile
serves it through Caddy over HTTPS, WebSockets included.

podman-compose 1.6.0 (the newest release) on this machine's podman 4.3 does not enforce
`depends_on` conditions: it skips `service_healthy` before podman 4.6, and for
`service_completed_successfully` it waits for the container to stop without reading its exit
code. So these tests run Debian's docker-compose (1.29, which enforces both) against podman's
Docker-compatible API (`podman system service`). The project is a SQLite one with user
accounts, and Redis for live events and the job queue: a sign-up needs the migrated `users`
table, and its session cookie shows whether the app saw https. Podman runs healthchecks from
systemd timers, and no systemd runs here: while compose waits for `service_healthy`, the tests
run each container's healthcheck as those timers would (`podman healthcheck run`).
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx2 as httpx
import pytest
from websockets.sync.client import connect

from .stand_ins import CADDY, REDIS, stand_in
from .conftest import free_port
from .harness import render, run
from .test_container import base_image, build, podman, podman_env, require  # noqa: F401 - fixture

SLUG = "composed-service"  # an image name of its own: test_container builds my-service's


@dataclass(frozen=True)
class Composed:
    project: Path
    env: dict[str, str]  # DOCKER_HOST names the podman service


@pytest.fixture(scope="module")
def composed(
    tmp_path_factory: pytest.TempPathFactory, podman_env: dict[str, str]  # noqa: F811
) -> Iterator[Composed]:
    """The project, its image and Caddy's built once, and podman's API for docker-compose."""
    require("docker-compose")
    folder = tmp_path_factory.mktemp("compose")
    project = render(
        folder, project_name="Composed Service", auth="users", broadcast="redis", jobs="redis"
    )
    base_image(podman_env)
    build(podman_env, project, f"{SLUG}:latest")  # the image compose.yaml names
    stand_in(podman_env, CADDY)
    stand_in(podman_env, REDIS)
    socket = folder / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"], env=podman_env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert service.poll() is None and time.monotonic() < deadline, "no podman service"
            time.sleep(0.1)
        yield Composed(project, {**podman_env, "DOCKER_HOST": f"unix://{socket}"})
    finally:
        service.terminate()
        service.wait(30)


def compose(composed: Composed, name: str, *arguments: str, timeout: float = 300,
            **env: str) -> str:
    with healthchecks(composed, name):
        result = run(["docker-compose", "--project-name", name, *arguments],
                     cwd=composed.project, env={**composed.env, **env}, timeout=timeout)
    return result.stdout + result.stderr


HEALTHCHECKED = ("broker", "worker")  # the services whose healthcheck compose.yaml declares


@contextmanager
def healthchecks(composed: Composed, name: str) -> Iterator[None]:
    """Run the project's healthchecks every half second, as podman's systemd timers would."""
    done = threading.Event()

    def check() -> None:
        while not done.wait(0.5):
            for service in HEALTHCHECKED:
                subprocess.run(["podman", "healthcheck", "run", f"{name}_{service}_1"],
                               env=composed.env, capture_output=True)

    checker = threading.Thread(target=check, daemon=True)
    checker.start()
    try:
        yield
    finally:
        done.set()
        checker.join()


def healthy(composed: Composed, container: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while subprocess.run(["podman", "healthcheck", "run", container], env=composed.env,
                         capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, f"{container} was not healthy within {seconds}s"
        time.sleep(1)


def state(env: dict[str, str], container: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(podman(env, "inspect", "--format", "json", container))[0]
    return dict(found["State"])  # type: ignore[call-overload]


def moment(stamp: object) -> datetime:
    """A podman timestamp (RFC 3339, nanoseconds) as a datetime (microseconds)."""
    text = str(stamp).replace("Z", "+00:00")
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text))


def csrf_token(client: httpx.Client, base: str) -> str:
    page = client.get(f"{base}/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    return token.group(1)


def sign_up(client: httpx.Client, base: str) -> httpx.Response:
    """Sign up, then in (sign-up answers the same whether or not the address had an account):
    the sign-in's answer, which sets the session cookie."""
    fields = {"email": f"{secrets.token_hex(4)}@example.com", "password": secrets.token_urlsafe(12)}
    for form in ("sign-up", "sign-in"):
        page = client.get(f"{base}/{form}")
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text
        answer = client.post(f"{base}/{form}", data={"csrf_token": token.group(1), **fields})
        assert answer.status_code == 303, answer.text
    return answer


def first_answer(client: httpx.Client, url: str, seconds: float = 60) -> None:
    """Wait until the server answers at all (any status): the container has just started."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.get(url)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.1)


@contextmanager
def brought_up(composed: Composed) -> Iterator[tuple[str, str]]:
    """`up` under a new project name on a free port: that name and the app's base URL, once it
    answers at all; `down` afterwards."""
    name = f"tplc{secrets.token_hex(3)}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        compose(composed, name, "up", "--detach", PORT=str(port))
        with httpx.Client(timeout=10) as client:
            first_answer(client, f"{base}/health/live")
        yield name, base
    finally:
        compose(composed, name, "down", "--volumes", timeout=120)


def test_the_app_starts_only_after_the_migration_has_completed(composed: Composed) -> None:
    with brought_up(composed) as (name, base):
        # The first request the server answers already finds the tables.
        with httpx.Client(timeout=10) as client:
            signed_up = sign_up(client, base)
        assert signed_up.status_code == 303, signed_up.text
        migrate = state(composed.env, f"{name}_migrate_1")
        app = state(composed.env, f"{name}_app_1")
        broker = state(composed.env, f"{name}_broker_1")
        assert migrate["ExitCode"] == 0
        assert moment(migrate["FinishedAt"]) < moment(app["StartedAt"])
        logs = compose(composed, name, "logs", "--no-color", "migrate")
        assert "Running upgrade 0004 -> 0005" in logs, logs
        # The app waited for the broker's healthcheck to pass, not only for it to start.
        health = broker["Healthcheck"] if "Healthcheck" in broker else broker["Health"]
        passed = [check for check in health["Log"] if check["ExitCode"] == 0]  # type: ignore[index]
        assert passed and moment(passed[0]["Start"]) < moment(app["StartedAt"]), health


def test_the_worker_runs_the_export_the_app_enqueues(composed: Composed) -> None:
    with brought_up(composed) as (name, base):
        with httpx.Client(timeout=10) as client:
            sign_up(client, base)
            headers = {"X-CSRF-Token": csrf_token(client, base)}
            created = client.post(f"{base}/api/notes", json={"title": "composed"}, headers=headers)
            assert created.status_code == 201, created.text
            started = client.post(f"{base}/api/exports", headers=headers)
            assert started.status_code == 202, started.text
            deadline = time.monotonic() + 60
            while (export := client.get(started.headers["location"]).json())["status"] != "complete":
                assert time.monotonic() < deadline, export
                time.sleep(0.3)
            exported = client.get(export["file"]).json()
        assert [note["title"] for note in exported["notes"]] == ["composed"]
        # Its healthcheck (scripts/worker --check) passes in the container, and SIGTERM stops it
        # cleanly within its grace period.
        healthy(composed, f"{name}_worker_1")
        compose(composed, name, "stop", "worker")
        assert state(composed.env, f"{name}_worker_1")["ExitCode"] == 0
        logs = compose(composed, name, "logs", "--no-color", "worker")
        assert "export_notes" in logs and "Traceback" not in logs, logs


def test_the_production_profile_serves_https_and_websockets_through_caddy(
    composed: Composed, tmp_path: Path
) -> None:
    name = f"tplc{secrets.token_hex(3)}"
    https, http = free_port(), free_port()
    settings = {
        "PORT": str(free_port()), "HTTPS_PORT": str(https),
        "HTTP_PORT": str(http), "FORWARDED_ALLOW_IPS": "*",
    }
    try:
        compose(composed, name, "--profile", "production", "up", "--detach", **settings)
        proxy = f"{name}_proxy_1"
        # Caddy's own CA, made at its first start, is what the client trusts.
        root = tmp_path / "root.crt"
        deadline = time.monotonic() + 60
        while subprocess.run(
            ["podman", "cp", f"{proxy}:/data/caddy/pki/authorities/local/root.crt", str(root)],
            env=composed.env, capture_output=True,
        ).returncode != 0:
            assert time.monotonic() < deadline, "Caddy made no local CA"
            time.sleep(0.5)
        trust = ssl.create_default_context(cafile=str(root))
        base = f"https://localhost:{https}"
        # IPv4: podman publishes the ports on 0.0.0.0.
        transport = httpx.HTTPTransport(verify=trust, http2=True, local_address="0.0.0.0")
        with httpx.Client(transport=transport, timeout=10) as client:
            first_answer(client, f"{base}/health/live")
            deadline = time.monotonic() + 60
            while (ready := client.get(f"{base}/health/ready")).status_code != 200:
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.3)
            # The app saw https through the proxy: HSTS, and a Secure session cookie.
            assert ready.http_version == "HTTP/2"
            assert "max-age=" in ready.headers["strict-transport-security"]
            signed_up = sign_up(client, base)
            assert signed_up.status_code == 303, signed_up.text
            cookies = signed_up.headers.get_list("set-cookie")
            assert cookies and all("; secure" in cookie.lower() for cookie in cookies), cookies
            session = "; ".join(f"{key}={value}" for key, value in client.cookies.items())
        redirect = httpx.get(f"http://127.0.0.1:{http}/", headers={"Host": "localhost"},
                             timeout=10)
        assert redirect.status_code == 308
        assert redirect.headers["location"].startswith("https://localhost")

        # A context of its own: httpx offered HTTP/2 through ALPN on the other.
        socket_trust = ssl.create_default_context(cafile=str(root))
        with connect(f"wss://localhost:{https}/ws/notes", ssl=socket_trust, open_timeout=10,
                     additional_headers={"Cookie": session},
                     source_address=("127.0.0.1", 0)) as websocket:
            websocket.send('{"type": "ping"}')
            assert json.loads(websocket.recv(timeout=10)) == {"type": "pong"}
    finally:
        compose(composed, name, "--profile", "production", "down", "--volumes", timeout=120,
                **settings)


def test_a_failed_migration_keeps_the_app_from_starting(composed: Composed) -> None:
    name = f"tplc{secrets.token_hex(3)}"
    # A database file that is not one: the migration fails at once.
    volume = f"{name}_data"
    podman(composed.env, "volume", "create", volume)
    podman(composed.env, "run", "--rm", "--volume", f"{volume}:/data", f"localhost/{SLUG}:latest",
           "python", "-c", "open('/data/composed_service.db', 'w').write('not SQLite')")
    try:
        with healthchecks(composed, name):
            up = subprocess.run(
                ["docker-compose", "--project-name", name, "up", "--detach"],
                cwd=composed.project, env={**composed.env, "PORT": str(free_port())},
                capture_output=True, text=True, timeout=300,
            )
        assert up.returncode != 0
        # docker-compose names the dependent it refused to start, and the exit code.
        assert re.search(r'ERROR: for app +Container "\w+" exited with code 1', up.stderr), (
            up.stderr
        )
        assert state(composed.env, f"{name}_migrate_1")["ExitCode"] == 1
        app = subprocess.run(["podman", "container", "exists", f"{name}_app_1"],
                             env=composed.env)
        assert app.returncode == 1  # never even created
    finally:
        compose(composed, name, "down", "--volumes", timeout=120)
        subprocess.run(["podman", "volume", "rm", "--force", volume], env=composed.env,
                       capture_output=True)
