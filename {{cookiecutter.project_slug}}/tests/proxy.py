"""A TCP proxy that tests cut and restore, to take a database server away for real."""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType


class Proxy:
    """Forwards 127.0.0.1:`port` to the target while started; stopping drops every connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._hung = False
        self._cut: bytes | None = None

    def start(self) -> None:
        self._call(self._start())

    def stop(self) -> None:
        self._call(self._stop())

    def cut_after(self, marker: bytes) -> None:
        """Once, when a client sends bytes containing `marker`: forward them, then drop that
        client's connection before the server's answer reaches it. The server still runs the
        statement (and commits it); the client cannot know."""
        self._cut = marker

    def hang(self) -> None:
        """Keep every connection open but forward nothing, like a server that froze."""
        self._hung = True

    def __enter__(self) -> Proxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)  # type: ignore[arg-type]

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # Drop the connections before waiting for the server: since Python 3.12.1 its
        # wait_closed() also waits for every connection it accepted to close.
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()
        self._hung = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)  # from the start, so that stopping drops it whatever its state
        if self._hung:
            while await reader.read(65536):
                pass
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(writer)
            writer.transport.abort()
            return
        self._writers.add(upstream_writer)
        await asyncio.gather(
            self._pipe(reader, upstream_writer, client=writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: asyncio.StreamWriter | None = None,  # set on the client's side: it may be cut
    ) -> None:
        try:
            while data := await reader.read(65536):
                if self._hung:
                    continue
                writer.write(data)
                await writer.drain()
                if client is not None and self._cut is not None and self._cut in data:
                    self._cut = None
                    client.transport.abort()
                    # The server's side ends later, gently: a reset could drop what it was sent.
                    await asyncio.sleep(1)
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
