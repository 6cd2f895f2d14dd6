"""Run a production server as a child process and stop it without losing requests.

`scripts/start` runs `python -m {{ cookiecutter.package_name }}.ops.serve HOST PORT -- SERVER-COMMAND...`.
Both servers stop on SIGTERM by closing idle keep-alive connections at once, so a request a
client is writing on one at that moment gets no answer. Here SIGTERM first starts the drain
(see `drain.py`) for SHUTDOWN_DRAIN_SECONDS, and only then reaches the server, which stops
accepting, finishes what is in flight and runs the app's shutdown; it is killed if it is still
running SHUTDOWN_GRACE_SECONDS after the SIGTERM. SIGHUP (the terminal closed) stops it like
SIGTERM, SIGINT (Ctrl-C) skips the drain, and if this process dies (`kill -9`) the kernel sends
the server SIGTERM, so no server is left holding the port.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..core import logs
from ..core.settings import Settings, SettingsError, load
from . import metrics
from .drain import stop_file
from .protocol import HEAD_TIMEOUT_SECONDS

logger = logging.getLogger(f"{__package__}.serve")  # not __main__, which it is when run

DRAIN_FILE = "draining"

# Let the server finish on its own first: this much of the grace is kept for the kill.
KILL_MARGIN_SECONDS = 1.0
# Connections a Granian worker serves at once; past them it stops accepting. Request heads that
# are never finished (slowloris) each hold one for HEAD_TIMEOUT_SECONDS, so it is kept well above
# what one client can hold, and the descriptors it needs are raised by scripts/start.
GRANIAN_CONNECTIONS = 8192
# Between the end of the drain and the server's stop: for the app to close its WebSockets.
CLOSING_SECONDS = 0.5


# prctl(2)'s option: the signal this process gets when the thread that started it ends.
PR_SET_PDEATHSIG = 1


class PortInUse(Exception):
    """Something already listens on the address; the message says what to do."""


def check_port(host: str, port: int) -> None:
    """Raise `PortInUse` if a server already listens on `host`:`port`.

    Granian binds with SO_REUSEPORT, so a second instance would otherwise start on a busy port
    and share its traffic. A socket without that option cannot bind next to a listener.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Connections of an earlier run in TIME_WAIT do not make the port busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(
                f"Port {port} on {host} is already in use ({exc.strerror}); stop the server "
                "using it or set PORT to another port."
            ) from None


def die_with(parent: int) -> None:
    """In the server child before it runs: get SIGTERM when `parent` (this supervisor) dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        os._exit(1)  # Linux only, as the servers' options here are
    if os.getppid() != parent:  # it died before the request was in place
        os._exit(1)


def server_environment(settings: Settings, folder: Path) -> dict[str, str]:
    """The child's environment: where the drain signal appears, and the servers' own options."""
    # The server's own limit ends before this supervisor's, which then kills what is left.
    after_drain = settings.shutdown_grace_seconds - settings.shutdown_drain_seconds
    graceful = max(1, int(after_drain - CLOSING_SECONDS - KILL_MARGIN_SECONDS))
    log_config = folder / "logging.json"
    log_config.write_text(json.dumps(logs.config(settings.debug)))
    return {
        **os.environ,
        "SHUTDOWN_DRAIN_FILE": str(folder / DRAIN_FILE),
        # Read by Granian and uvicorn themselves: how long to wait for in-flight work, and
        # their logging, through the app's handler from their first line on.
        "GRANIAN_WORKERS_KILL_TIMEOUT": str(graceful),
        "UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN": str(graceful),
        # uvicorn refuses a WebSocket message over this before buffering all of it (Granian
        # has no such limit: there the app checks each message once it has arrived whole).
        "UVICORN_WS_MAX_SIZE": str(settings.websocket_max_size),
        # Granian's limit on reading a request head (uvicorn's is `protocol.py`'s).
        "GRANIAN_HTTP1_HEADER_READ_TIMEOUT": str(HEAD_TIMEOUT_SECONDS * 1000),
        "GRANIAN_BACKPRESSURE": str(GRANIAN_CONNECTIONS),
        "GRANIAN_LOG_CONFIG": str(log_config),
        "UVICORN_LOG_CONFIG": str(log_config),
        # That configuration names this package, which the servers import only later.
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
    }


class Supervisor:
    """The server process and the stop sequence; signal handlers only record the signal.

    A handler must not take a lock the main thread may hold when the signal lands (as
    `threading.Event.set` does: that deadlocks), so it appends to a list the loop polls.
    """

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.settings = settings
        self.folder = folder
        self.drain_file = folder / DRAIN_FILE
        self.received: list[int] = []

    def start(self, command: list[str]) -> None:
        # Its own session: a signal sent to this process's group reaches it only through here.
        parent = os.getpid()
        self.server = subprocess.Popen(  # noqa: S603 - the command comes from scripts/start
            command,
            env=server_environment(self.settings, self.folder),
            start_new_session=True,
            preexec_fn=lambda: die_with(parent),
        )

    def on_signal(self, signum: int, frame: object) -> None:
        self.received.append(signum)

    def run(self) -> int:
        while not self.received:
            if self.server.poll() is not None:  # stopped or failed on its own
                return self.server.returncode
            time.sleep(0.2)
        drained = all(signum in (signal.SIGTERM, signal.SIGHUP) for signum in self.received)
        drain = self.settings.shutdown_drain_seconds if drained else 0
        logger.info("Draining for %gs before stopping", drain)
        self.drain_file.touch()
        self.server_wait(drain)
        stop_file(self.drain_file).touch()
        self.server_wait(CLOSING_SECONDS)
        logger.info("Stopping the server")
        self.server.send_signal(signal.SIGTERM)
        remaining = self.settings.shutdown_grace_seconds - drain - CLOSING_SECONDS
        if self.server_wait(remaining - KILL_MARGIN_SECONDS):
            return self.server.returncode
        logger.error("The server did not stop within %gs; killing it", remaining)
        os.killpg(self.server.pid, signal.SIGKILL)
        self.server.wait()
        return 128 + signal.SIGTERM

    def server_wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the server to exit; say whether it did."""
        try:
            self.server.wait(timeout=max(seconds, 0))
        except subprocess.TimeoutExpired:
            return False
        return True


def main(arguments: list[str]) -> int:
    host, port, separator, *command = arguments
    if separator != "--" or not command:
        sys.exit("usage: python -m {{ cookiecutter.package_name }}.ops.serve HOST PORT -- COMMAND...")
    try:
        settings = load()
        check_port(host, int(port))
    except (SettingsError, PortInUse) as exc:
        sys.exit(f"Cannot start: {exc}")
    logs.configure(settings.debug)
    with tempfile.TemporaryDirectory(prefix="serve-") as folder:
        supervisor = Supervisor(settings, Path(folder))
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, supervisor.on_signal)
        os.environ.update(metrics.environment(settings, Path(folder)))  # before the server
        supervisor.start(command)
        metrics.serve(settings, host, Path(folder), supervisor.server.pid)
        code = supervisor.run()
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
