"""WebSockets that push events: one bounded queue per client, close codes that say what to do.

Clients may send `{"type": "ping"}` and get `{"type": "pong"}`. Each socket ends with a close code
that tells the client what to do (docs/live-events.md lists them); other sockets are never affected.
A page on another site is refused at the handshake (403), so it cannot read the feed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Literal
from urllib.parse import urlsplit

import anyio
import pydantic
from pydantic import BaseModel, ConfigDict
from starlette.status import (
    WS_1001_GOING_AWAY,
    WS_1008_POLICY_VIOLATION,
    WS_1009_MESSAGE_TOO_BIG,
    WS_1012_SERVICE_RESTART,
    WS_1013_TRY_AGAIN_LATER,
)
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..core import metrics
from ..core.events import Events, EventsUnavailable
from ..core.settings import Settings
from . import scoping


class ClientMessage(BaseModel):
    """The one message a client may send."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["ping"]


BEHIND = "Too far behind; reconnect and fetch the notes again."


class Connection:
    """One client's socket. The first reason to stop wins and becomes its close code.

    One task writes to the socket, from a bounded queue: a client that reads too slowly
    is closed instead of holding an ever-growing backlog in memory.
    """

    def __init__(self, websocket: WebSocket, settings: Settings) -> None:
        self.websocket = websocket
        self.settings = settings
        self.outbox, self.inbox = anyio.create_memory_object_stream[str](
            settings.websocket_queue_size
        )
        self.scope = anyio.CancelScope()
        self.code: int | None = None  # None: the client left, there is nobody to tell
        self.reason = ""
        self.done = anyio.Event()

    def stop(self, code: int | None, reason: str = "") -> None:
        if not self.scope.cancel_called:
            self.code, self.reason = code, reason
            self.scope.cancel()

    def queue(self, text: str) -> None:
        try:
            self.outbox.send_nowait(text)
        except anyio.WouldBlock:
            metrics.EVENTS_DROPPED.inc()
            self.stop(WS_1013_TRY_AGAIN_LATER, BEHIND)

    async def relay(self, events: AsyncIterator[str]) -> None:
        async for event in events:
            try:
                if scoping.hears(self.websocket, event):
                    self.queue(event)
                    metrics.EVENTS_DELIVERED.inc()
            except scoping.Ended as ended:
                self.stop(WS_1008_POLICY_VIOLATION, str(ended))
        self.stop(WS_1012_SERVICE_RESTART, "The event feed was interrupted; reconnect.")

    async def write(self) -> None:
        async for text in self.inbox:
            # The server's own buffers take a few messages; past them, a send waits for the client.
            with anyio.move_on_after(self.settings.websocket_send_timeout) as waited:
                try:
                    await self.websocket.send_text(text)
                except WebSocketDisconnect:
                    self.stop(None)
            if waited.cancelled_caught:
                self.stop(WS_1013_TRY_AGAIN_LATER, BEHIND)

    async def answer(self) -> None:
        """Reply to the client's messages until it leaves or breaks the protocol."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.stop(None)
                return
            data = message.get("text") or message.get("bytes") or b""
            size = len(data) if isinstance(data, bytes) else len(data.encode())
            if size > self.settings.websocket_max_size:
                limit = self.settings.websocket_max_size
                self.stop(WS_1009_MESSAGE_TOO_BIG, f"Messages are limited to {limit} bytes.")
                return
            try:
                ClientMessage.model_validate_json(data)
            except pydantic.ValidationError:
                self.stop(WS_1008_POLICY_VIOLATION, 'Expected {"type": "ping"}.')
                return
            self.queue('{"type": "pong"}')

    async def close(self) -> None:
        if self.code is not None:
            # A client that stopped reading cannot take the close frame either: do not wait for
            # it. One that has gone meanwhile (a page left as it signs out) needs none.
            with (
                anyio.move_on_after(self.settings.websocket_send_timeout),
                suppress(WebSocketDisconnect),
            ):
                await self.websocket.close(self.code, self.reason)


def origin_allowed(origin: str | None, settings: Settings) -> bool:
    """Whether a browser page from `origin` may connect (browsers always send Origin)."""
    if origin is None:
        return True  # not a browser, and such a client could send any Origin anyway
    if settings.websocket_allowed_origins:
        return origin.lower() in settings.websocket_allowed_origins
    try:
        url = urlsplit(origin)
        scheme, host = url.scheme, url.hostname or ""
    except ValueError:  # e.g. "http://[" : not an origin at all
        return False
    # The app's own host names, as ALLOWED_HOSTS spells them ("*.example.com" too), on any port.
    return scheme in ("http", "https") and any(
        host == allowed or (allowed.startswith("*") and host.endswith(allowed[1:]))
        for allowed in settings.allowed_hosts
    )


async def stream(websocket: WebSocket) -> None:
    """Push the app's events to a client until it leaves, the broker fails or the server stops."""
    settings: Settings = websocket.state.settings
    if not origin_allowed(websocket.headers.get("origin"), settings):
        await websocket.close()  # before accept(): the server answers 403 Forbidden
        return
    # The subprotocol the authentication chose from the client's offer, if any (a ticket's).
    await websocket.accept(subprotocol=websocket.scope.get("subprotocol"))
    events: Events = websocket.state.events
    connections: set[Connection] = websocket.state.connections
    connection = Connection(websocket, settings)
    connections.add(connection)  # so that shutdown can say goodbye (1001)
    metrics.WEBSOCKETS.inc()
    try:
        with connection.scope, connection.outbox, connection.inbox:
            async with events.subscribe() as messages, anyio.create_task_group() as tasks:
                tasks.start_soon(connection.relay, messages)
                tasks.start_soon(connection.write)
                await connection.answer()
        await connection.close()
    except EventsUnavailable as exc:  # the broker is away: the page retries with backoff
        await websocket.close(WS_1013_TRY_AGAIN_LATER, str(exc))
    finally:
        connections.discard(connection)
        metrics.WEBSOCKETS.dec()
        connection.done.set()


async def say_goodbye(connections: set[Connection]) -> None:
    """Close every socket with 1001 (going away), so clients know to reconnect elsewhere."""
    waiting = list(connections)
    for connection in waiting:
        connection.stop(WS_1001_GOING_AWAY, "The server is shutting down.")
    with anyio.move_on_after(1):
        for connection in waiting:
            await connection.done.wait()
