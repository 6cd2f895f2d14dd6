"""The drain before a stop: readiness fails and connections close, while requests still succeed.

While draining, HTTP/1 responses carry `Connection: close` (`middleware.Guard` adds it), so
clients reconnect elsewhere; HTTP/2 has no such header, and its clients learn from the server's
GOAWAY at the stop.

`scripts/start` (see `serve.py`) creates the file named by SHUTDOWN_DRAIN_FILE when it is told
to stop, and a second one (`stop_file`) just before the server stops; every worker process
watches for them, so this works whatever the number of workers.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.05


def stop_file(drain_file: Path) -> Path:
    return drain_file.with_name(f"{drain_file.name}.stop")


class Drain:
    """Whether this process is draining. `started` is set when the drain starts; `stopping` when
    it ends, a moment before the server stops: the time to close WebSockets (code 1001), which
    both servers would otherwise cut without a word.
    """

    def __init__(self, signal_file: str) -> None:
        self.path = Path(signal_file) if signal_file else None
        self.started = asyncio.Event()
        self.stopping = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    @property
    def draining(self) -> bool:
        return self.started.is_set()

    def begin(self) -> None:
        if not self.started.is_set():
            logger.info("Draining: readiness fails and connections close from now on")
            self.started.set()

    async def watch(self) -> None:
        # A stat every 50 ms costs nothing next to a file-change notifier that differs by OS.
        if self.path is None:
            return
        for path, event in ((self.path, self.started), (stop_file(self.path), self.stopping)):
            while not path.exists():  # noqa: ASYNC110 - created by another process
                await asyncio.sleep(POLL_SECONDS)
            if event is self.started:
                self.begin()
            event.set()

    def start(self) -> None:
        self._watcher = asyncio.create_task(self.watch())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.wait({self._watcher})  # its CancelledError stays in the task
