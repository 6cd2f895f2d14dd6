from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.ops.serve import PortInUse, check_port

ROOT = Path(__file__).parents[2]


def test_a_free_port_passes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    check_port("127.0.0.1", port)


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_with_a_listener_is_refused_in_one_sentence(reuse_port: bool) -> None:
    with socket.socket() as listener:
        # Granian listens with SO_REUSEPORT, which would let a second server share the port.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        with pytest.raises(PortInUse) as refused:
            check_port("127.0.0.1", port)

    assert str(refused.value).startswith(f"Port {port} on 127.0.0.1 is already in use")
    assert "\n" not in str(refused.value)


# A server that ignores SIGTERM, printing its pid once it does.
STUBBORN = (
    "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print(os.getpid(), flush=True); time.sleep(60)"
)


def test_a_server_still_running_at_the_end_of_the_grace_period_is_killed(
    real_database_url: str,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": real_database_url,
        "SHUTDOWN_DRAIN_SECONDS": "0",
        "SHUTDOWN_GRACE_SECONDS": "3",
    }
    module = "{{ cookiecutter.package_name }}.ops.serve"
    command = [sys.executable, "-m", module, "127.0.0.1", str(port), "--", sys.executable, "-c"]
    with subprocess.Popen(  # noqa: S603 - this interpreter, running the project's module
        [*command, STUBBORN], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    ) as supervisor:
        assert supervisor.stdout is not None
        server_pid = int(supervisor.stdout.readline())

        supervisor.send_signal(signal.SIGTERM)
        code = supervisor.wait(timeout=30)

    assert code == 143
    with pytest.raises(ProcessLookupError):
        os.kill(server_pid, 0)
