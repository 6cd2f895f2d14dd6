"""uvicorn's HTTP/1.1 protocol with a time limit on request heads; `scripts/start` runs it.

uvicorn waits for a request head as long as a client takes, so a client that opens connections
and never finishes a head (slowloris) holds them for good. Here a head must be complete within
HEAD_TIMEOUT_SECONDS of the connection opening or of its first byte; otherwise the connection is
closed. Granian has the same limit of its own, which `serve.py` sets to the same value.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT_SECONDS = 5


class HeadTimeoutProtocol(HttpToolsProtocol):
    head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.arm()

    def on_headers_complete(self) -> None:
        self.disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        super().connection_lost(exc)

    def arm(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self.head_timed_out)

    def disarm(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def head_timed_out(self) -> None:
        self.head_timer = None
        if not self.transport.is_closing():
            self.transport.close()
