"""`/metrics` on its own port (METRICS_PORT, on the server's host), for every worker at once.

`serve.py` gives the server one new folder per run in PROMETHEUS_MULTIPROC_DIR: each worker
process writes its metrics there (prometheus_client's multiprocess mode) and this, the
supervisor, adds them up at every scrape. The public port never answers `/metrics`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    multiprocess,
    start_http_server,
)
from prometheus_client.metrics_core import Metric

from ..core.settings import Settings

logger = logging.getLogger(__name__)

FOLDER = "metrics"


def environment(settings: Settings, folder: Path) -> dict[str, str]:
    """What the server's processes need in their environment to write their metrics."""
    if not settings.metrics_enabled:
        return {}
    (folder / FOLDER).mkdir()  # new and empty: nothing of an earlier run is counted
    return {"PROMETHEUS_MULTIPROC_DIR": str(folder / FOLDER)}


class Workers(multiprocess.MultiProcessCollector):
    """The workers' sum. A worker that ended (replaced after a crash) keeps its counts, but
    its live gauges (requests in flight, open sockets) are forgotten.

    prometheus_client's multiprocess module has no annotations: hence the `type: ignore`s.
    """

    def collect(self) -> Iterable[Metric]:
        for file in Path(self._path).glob("gauge_live*_*.db"):
            pid = int(file.stem.rpartition("_")[2])
            if not alive(pid):
                multiprocess.mark_process_dead(pid, self._path)  # type: ignore[no-untyped-call]
        return super().collect()  # type: ignore[no-untyped-call,no-any-return]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, under another user
        return True
    return True


def serve(settings: Settings, host: str, folder: Path, server_pid: int) -> None:
    """Serve the metrics in a thread of this process; a busy port is logged, not fatal."""
    if not settings.metrics_enabled:
        return
    registry = CollectorRegistry()
    Workers(registry, path=str(folder / FOLDER))  # type: ignore[no-untyped-call]
    # The client's process collectors, about the server process (workers' memory is theirs).
    ProcessCollector(pid=lambda: server_pid, registry=registry)
    PlatformCollector(registry=registry)
    try:
        start_http_server(settings.metrics_port, host, registry)
    except OSError as exc:
        logger.error(
            "Metrics not served: port %s on %s is unavailable (%s); set METRICS_PORT to a free "
            "port or METRICS_ENABLED=false",
            settings.metrics_port,
            host,
            exc.strerror,
        )
        return
    logger.info("Metrics on http://%s:%s/metrics", host, settings.metrics_port)
