"""Stopping a served project under load, and starting one on a busy port.

The clients here behave like a load balancer in front of the instance: keep-alive connections
carry requests until a readiness probe fails, then no new requests are sent to it.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest
from websockets.sync.client import connect

from .conftest import BANNERS, require_server, serve, stop
from .harness import BROKERS, build_venv, render, run, venv_env

DRAIN_SECONDS = 1.0
GRACE_SECONDS = 10.0
SHUTDOWN = {"SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS), "SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)}


@pytest.fixture
def migrated(tmp_path: Path, project_env: dict[str, str]) -> Path:
    project = render(tmp_path)
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=project_env)
    return project


def with_workers(
    workers: int, tmp_path: Path, project_env: dict[str, str]
) -> tuple[Path, dict[str, str]]:
    """A migrated project for `workers` processes: several need a broker for their live events
    (the app refuses memory:// then), so that one is rendered with broadcast=redis."""
    if workers == 1:
        project, env = render(tmp_path), project_env
    else:
        require_server(BROKERS["redis"])
        project = render(tmp_path, broadcast="redis")
        env = venv_env(build_venv([project]))
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
    return project, env


@dataclass
class Load:
    """Keep-alive clients, counting requests written that got no answer (`lost`)."""

    port: int
    stop: threading.Event = field(default_factory=threading.Event)
    answered: int = 0
    closing: int = 0  # answers that said `Connection: close`
    lost: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, number: int) -> None:
        """Send on a keep-alive connection; once the balancer has taken the instance out, open
        no new connection but finish with the open one until the server says it closes it, as
        a balancer's connection draining does (each worker notices the drain on its own)."""
        connection: http.client.HTTPConnection | None = None
        sent = 0
        while not self.stop.is_set() or connection is not None:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                try:
                    connection.connect()
                except OSError:  # refused: nothing was sent, the client knows to go elsewhere
                    connection = None
                    time.sleep(0.01)
                    continue
            sent += 1
            try:
                if sent % 4:
                    connection.request("GET", "/api/notes?limit=5")
                else:
                    body = json.dumps({"title": f"load {number}-{sent}"})
                    connection.request("POST", "/api/notes", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                with self.lock:
                    self.lost.append(repr(exc))
                connection.close()
                connection = None
                continue
            with self.lock:
                self.answered += 1 if response.status < 500 else 0
                if response.status >= 500:
                    self.lost.append(f"{response.status} {response.reason}")
                if response.will_close:
                    self.closing += 1
            if response.will_close:
                connection.close()
                connection = None
        if connection is not None:
            connection.close()

    def balancer(self, url: str, seen: list[int | None]) -> None:
        """Probe readiness like a load balancer; on the first failure, stop sending."""
        while True:
            try:
                status: int | None = httpx.get(f"{url}/health/ready", timeout=2).status_code
            except httpx.TransportError:
                status = None
            if status != 200:
                seen.append(status)
                self.stop.set()
                return
            time.sleep(0.1)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_sigterm_under_keep_alive_load_loses_no_request(
    tmp_path: Path, project_env: dict[str, str], server: str, workers: int
) -> None:
    project, env = with_workers(workers, tmp_path, project_env)
    served = serve(project, env, server, workers, **SHUTDOWN)
    load = Load(served.port)
    probe: list[int | None] = []
    threads = [threading.Thread(target=load.client, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=load.balancer, args=(served.url, probe)))
    socket_url = served.url.replace("http://", "ws://") + "/ws/notes"
    try:
        # An open WebSocket must not hold the stop past the grace period.
        with connect(socket_url, open_timeout=5, ping_interval=None):
            for thread in threads:
                thread.start()
            while load.answered < 200 and not load.stop.is_set():
                time.sleep(0.05)
            before = load.answered
            signalled = time.monotonic()
            served.process.send_signal(signal.SIGTERM)  # the supervisor alone, as orchestrators do
            for thread in threads:
                thread.join(timeout=GRACE_SECONDS)
            code = served.process.wait(timeout=GRACE_SECONDS + 5)
            stopped = time.monotonic() - signalled
    finally:
        load.stop.set()
        output = stop(served.process)

    assert load.lost == [], f"{len(load.lost)} of {load.answered} lost: {load.lost[:5]}"
    assert probe == [503], "readiness must fail with 503 before the server stops accepting"
    assert load.answered > before and load.closing > 0, "the drain serves, saying Connection: close"
    assert code in (0, 143), output
    assert DRAIN_SECONDS <= stopped < GRACE_SECONDS, stopped
    assert "Traceback" not in output, output
    assert BANNERS[server] in output, output


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_start_refuses_a_port_in_use(
    migrated: Path, tmp_path: Path, project_env: dict[str, str], server: str
) -> None:
    first = serve(migrated, project_env, "granian", 1, **SHUTDOWN)
    try:
        second = subprocess.run(
            ["scripts/start"], cwd=render(tmp_path / "second"), capture_output=True, text=True, timeout=30,
            env={**project_env, "HOST": "127.0.0.1", "PORT": str(first.port), "SERVER": server},
        )
        still_served = httpx.get(f"{first.url}/health/live", timeout=5).status_code
    finally:
        stop(first.process)

    assert second.returncode != 0
    message = second.stderr.strip()
    assert message == (
        f"Cannot start: Port {first.port} on 127.0.0.1 is already in use (Address already in "
        "use); stop the server using it or set PORT to another port."
    ), message
    assert BANNERS[server] not in second.stdout + second.stderr
    assert still_served == 200


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize(
    ("server", "signum"),
    [("granian", signal.SIGKILL), ("uvicorn", signal.SIGKILL), ("granian", signal.SIGHUP)],
)
def test_the_server_does_not_outlive_its_supervisor(
    migrated: Path, project_env: dict[str, str], server: str, signum: signal.Signals
) -> None:
    """`kill -9` of scripts/start, or SIGHUP as when its terminal closes, stops the server
    (its child, in a session of its own) within the grace period: the port is free again."""
    served = serve(migrated, project_env, server, 1, **SHUTDOWN)
    try:
        served.process.send_signal(signum)  # scripts/start execs the supervisor: same process
        deadline = time.monotonic() + GRACE_SECONDS
        while not port_free(served.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        freed = port_free(served.port)
    finally:
        if not port_free(served.port):  # the orphan this test looks for: end it
            subprocess.run(["fuser", "-k", f"{served.port}/tcp"], check=False)
        stop(served.process)
    assert freed, f"port {served.port} still held {GRACE_SECONDS}s after {signum.name}"
