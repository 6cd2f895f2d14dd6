"""The WebSocket channel: pushes every note event to each connected client.

Clients may send `{"type": "ping"}` and get `{"type": "pong"}`; anything else closes that socket
with 1008 (policy violation) and a reason. Other sockets are unaffected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pydantic
from starlette.routing import WebSocketRoute
from starlette.status import WS_1008_POLICY_VIOLATION
from starlette.websockets import WebSocket, WebSocketDisconnect

from .events import Events
from .schemas import ClientMessage


class Channel:
    """One client's socket; sends from the event feed and from replies never interleave."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.lock = anyio.Lock()
        self.closed = False

    async def send(self, text: str) -> None:
        async with self.lock:
            if not self.closed:
                await self.websocket.send_text(text)

    async def close(self, code: int, reason: str) -> None:
        async with self.lock:
            self.closed = True
            await self.websocket.close(code, reason)


async def notes_socket(websocket: WebSocket) -> None:
    events: Events = websocket.state.events
    channel = Channel(websocket)
    await websocket.accept()
    async with events.subscribe() as messages, anyio.create_task_group() as tasks:
        tasks.start_soon(forward, messages, channel)
        await answer(channel)
        tasks.cancel_scope.cancel()


async def forward(messages: AsyncIterator[str], channel: Channel) -> None:
    try:
        async for message in messages:
            await channel.send(message)
    except WebSocketDisconnect:
        pass


async def answer(channel: Channel) -> None:
    """Reply to the client's messages until it disconnects or breaks the protocol."""
    while True:
        message = await channel.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("text") or message.get("bytes") or b""
        try:
            ClientMessage.model_validate_json(data)
        except pydantic.ValidationError:
            await channel.close(WS_1008_POLICY_VIOLATION, 'Expected {"type": "ping"}.')
            return
        await channel.send('{"type": "pong"}')


routes = [WebSocketRoute("/ws/notes", notes_socket, name="notes_socket")]
