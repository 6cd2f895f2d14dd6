"""Note events, fanned out to every subscriber through a broadcast backend.

`memory://` delivers within this process; a broker URL (e.g. `redis://`) reaches every process.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from broadcaster import Broadcast

CHANNEL = "notes"


class Events:
    def __init__(self, url: str) -> None:
        self._broadcast = Broadcast(url)

    async def connect(self) -> None:
        await self._broadcast.connect()

    async def disconnect(self) -> None:
        await self._broadcast.disconnect()

    async def publish(self, event: dict[str, Any]) -> None:
        await self._broadcast.publish(CHANNEL, json.dumps(event))

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[str]]:
        """Yield an iterator over the JSON text of every event published from now on."""
        async with self._broadcast.subscribe(CHANNEL) as subscriber:
            yield _messages(subscriber)


async def _messages(subscriber: Any) -> AsyncIterator[str]:
    async for event in subscriber:
        yield event.message
