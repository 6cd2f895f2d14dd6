"""Abuse a served project the cheap ways a single client can, and print what it costs.

- WebSocket floods: `--sockets` connections each send one `--frame-mib` MiB frame at once; the
  figure is how much the server's processes grew (resident memory, peak sampled).
- Slowloris: `--heads` request heads are opened from 127.0.0.1 and never finished (re-opened
  when the server drops one); meanwhile another client, from 127.0.0.2, times
  `GET /health/live` on fresh connections; the figures are its p50, p99 and failures.

Each runs against the default project served by `scripts/start`: as it serves by default
(uvicorn), and with each server it offers. Nothing here is a test: the figures are printed
(tests/test_abuse.py runs a small version and asserts bounds).

    python -m benchmarks.abuse [--servers default,granian,uvicorn] [--sockets 64]
                               [--frame-mib 16] [--heads 2000] [--probes 200]
"""

from __future__ import annotations

import argparse
import base64
import os
import selectors
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).parents[1]))
from tests.harness import build_venv, memory, render, run, venv_env  # noqa: E402

MIB = 1024 * 1024
HEAD = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "  # never finished


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def served(
    project: Path, env: Mapping[str, str], server: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`scripts/start` with `server` (without one: SERVER unset, its default) on a free port of
    127.0.0.1, once it answers."""
    port = free_port()
    chosen = {} if server is None else {"SERVER": server}
    process = subprocess.Popen(
        ["scripts/start"], cwd=project, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**{name: value for name, value in env.items() if name != "SERVER"}, **chosen,
             "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "1",
             "SHUTDOWN_DRAIN_SECONDS": "0"},
    )
    process.port = port  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{server} exited with {process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server} did not answer within 60s")
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


@dataclass
class Flood:
    sockets: int
    frame_mib: int
    baseline_mib: float  # resident memory of the server's processes once the sockets are open
    grown_mib: float  # their peak resident memory during the flood, less the baseline
    refused: int  # sockets the server closed before the whole frame was sent


def handshake(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    connection.sendall(
        f"GET /ws/notes HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(4096)
        if not chunk:
            raise RuntimeError("the server closed the handshake")
        answer += chunk
    if not answer.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"no upgrade: {answer[:100]!r}")
    return connection


def flood(process: subprocess.Popen[bytes], sockets: int, frame_mib: int) -> Flood:
    """Every socket sends one binary frame of `frame_mib` MiB (masked with a zero key, so the
    payload is the same buffer for all of them)."""
    port: int = process.port  # type: ignore[attr-defined]
    size = frame_mib * MIB
    header = bytes([0x82, 0x80 | 127]) + struct.pack("!Q", size) + b"\0\0\0\0"
    payload = memoryview(bytes(size))
    connections = [handshake(port) for _ in range(sockets)]
    time.sleep(0.5)
    baseline = memory(process.pid, "VmRSS")
    peak = baseline
    refused = 0
    done = threading.Event()

    def send(connection: socket.socket) -> None:
        nonlocal refused
        try:
            connection.sendall(header)
            connection.sendall(payload)
        except OSError:
            refused += 1

    senders = [threading.Thread(target=send, args=(c,), daemon=True) for c in connections]
    for sender in senders:
        sender.start()
    watcher_until = time.monotonic() + 60
    while any(sender.is_alive() for sender in senders) and time.monotonic() < watcher_until:
        peak = max(peak, memory(process.pid, "VmRSS"))
        time.sleep(0.02)
    for _ in range(25):  # the server may still be reading what the kernel buffered
        peak = max(peak, memory(process.pid, "VmRSS"))
        time.sleep(0.02)
    done.set()
    for connection in connections:
        connection.close()
    return Flood(sockets, frame_mib, baseline / 1024, (peak - baseline) / 1024, refused)


@dataclass
class Slowloris:
    heads: int
    held: int  # heads open when the probes started
    p50_ms: float
    p99_ms: float
    failed: int  # probes with no 200 within the timeout
    probes: int


def slowloris(
    process: subprocess.Popen[bytes], heads: int, probes: int, timeout: float = 5.0,
    seconds: float = 30.0,
) -> Slowloris:
    """`probes` requests from another address while `heads` are held, for at most `seconds`:
    probes not sent by then count as failed."""
    port: int = process.port  # type: ignore[attr-defined]
    stop = threading.Event()
    selector = selectors.DefaultSelector()
    held = 0

    def open_head() -> None:
        nonlocal held
        connection = socket.socket()
        connection.setblocking(False)
        try:
            connection.connect_ex(("127.0.0.1", port))
            selector.register(connection, selectors.EVENT_WRITE, "connecting")
            held += 1
        except OSError:
            connection.close()

    def attacker() -> None:
        nonlocal held
        for _ in range(heads):
            open_head()
        while not stop.is_set():
            for key, _ in selector.select(timeout=0.1):
                connection: socket.socket = key.fileobj  # type: ignore[assignment]
                if key.data == "connecting":
                    try:
                        connection.send(HEAD)
                        selector.modify(connection, selectors.EVENT_READ, "held")
                        continue
                    except OSError:
                        pass
                else:
                    try:
                        if connection.recv(4096):
                            continue  # an answer (408, 400): it will close next
                    except OSError:
                        pass
                selector.unregister(connection)
                connection.close()
                held -= 1
                open_head()  # the server dropped it: hold another

    thread = threading.Thread(target=attacker, daemon=True)
    thread.start()
    time.sleep(2)  # every head connected and sent
    holding = held
    times: list[float] = []
    failed = 0
    until = time.monotonic() + seconds
    for _ in range(probes):
        if time.monotonic() > until:
            failed += 1
            times.append(timeout * 1000)
            continue
        began = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                          source_address=("127.0.0.2", 0)) as probe:
                probe.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              b"Connection: close\r\n\r\n")
                answer = probe.recv(64)
            if not answer.startswith(b"HTTP/1.1 200"):
                failed += 1
        except OSError:
            failed += 1
        times.append((time.perf_counter() - began) * 1000)
        time.sleep(0.01)
    stop.set()
    thread.join(timeout=5)
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return Slowloris(heads, holding, statistics.median(times), p99, failed, probes)


def default_project(folder: Path) -> tuple[Path, dict[str, str]]:
    project = render(folder)
    env = venv_env(build_venv([project]))
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
    return project, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # "default": scripts/start without SERVER, as a project is served unless told otherwise.
    parser.add_argument("--servers", default="default,granian")
    parser.add_argument("--sockets", type=int, default=64)
    parser.add_argument("--frame-mib", type=int, default=16)
    parser.add_argument("--heads", type=int, default=2000)
    parser.add_argument("--probes", type=int, default=200)
    arguments, _ = parser.parse_known_args()  # scripts/bench passes every script's options
    with tempfile.TemporaryDirectory() as folder:
        project, env = default_project(Path(folder))
        for server in arguments.servers.split(","):
            chosen = None if server == "default" else server
            with served(project, env, chosen) as process:
                flooded = flood(process, arguments.sockets, arguments.frame_mib)
            print(
                f"{server:8} WebSocket flood: {flooded.sockets} x {flooded.frame_mib} MiB frames "
                f"grew the server from {flooded.baseline_mib:.1f} MiB by "
                f"{flooded.grown_mib:.1f} MiB ({flooded.refused} refused)",
                flush=True,
            )
            with served(project, env, chosen) as process:
                slow = slowloris(process, arguments.heads, arguments.probes)
            print(
                f"{server:8} slowloris: {slow.held} heads held; /health/live from another "
                f"address p50 {slow.p50_ms:.1f} ms, p99 {slow.p99_ms:.1f} ms, "
                f"{slow.failed}/{slow.probes} failed",
                flush=True,
            )


if __name__ == "__main__":
    main()
