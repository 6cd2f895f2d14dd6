"""Events through PostgreSQL's LISTEN/NOTIFY, with asyncpg's own listener API.

Every process LISTENs on the channel with a connection of its own and publishes with
`pg_notify`; PostgreSQL delivers each notification to every listener of the same database,
in the order they were sent, once their transaction commits. A payload must be shorter than
8000 bytes, so a larger event goes as numbered parts sent in one transaction and joined here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints

PART = 7800  # characters of the event's JSON per notification (it is ASCII: json.dumps escapes)
PENDING = 64  # events being joined from parts at once, at most
WATCH_SECONDS = 15.0  # a silent listener checks its connection this often


class Parts:
    """Joins events that arrive as `part:<id>:<index>:<count>:<text>` notifications."""

    def __init__(self) -> None:
        self.pending: dict[str, list[str]] = {}

    @staticmethod
    def split(text: str) -> list[str]:
        if len(text) <= PART:
            return [text]
        key = uuid.uuid4().hex
        chunks = [text[start : start + PART] for start in range(0, len(text), PART)]
        return [f"part:{key}:{n}:{len(chunks)}:{chunk}" for n, chunk in enumerate(chunks)]

    def add(self, payload: str) -> str | None:
        """The whole event once its last part is in; None while parts are missing."""
        if not payload.startswith("part:"):
            return payload
        _, key, index, count, chunk = payload.split(":", 4)
        if key not in self.pending:
            if len(self.pending) >= PENDING:  # parts whose event never completed
                self.pending.pop(next(iter(self.pending)))
            self.pending[key] = []
        chunks = self.pending[key]
        if int(index) != len(chunks):  # a part went missing: the event is lost
            del self.pending[key]
            return None
        chunks.append(chunk)
        if len(chunks) < int(count):
            return None
        return "".join(self.pending.pop(key))


class Broker:
    name = "postgres"

    def __init__(self, url: str, channel: str, timeout: float) -> None:
        scheme, _, rest = url.partition("://")
        self.dsn = f"{scheme.partition('+')[0]}://{rest}"  # asyncpg takes no "+driver"
        self.channel = channel
        self.timeout = timeout
        self.pool: asyncpg.Pool | None = None

    async def _pool(self) -> asyncpg.Pool:
        if self.pool is None:
            self.pool = await asyncpg.create_pool(
                self.dsn, min_size=0, max_size=2, timeout=self.timeout
            )
        return self.pool

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def publish(self, text: str) -> None:
        pool = await self._pool()
        async with pool.acquire() as connection, connection.transaction():
            for part in Parts.split(text):
                await connection.execute("SELECT pg_notify($1, $2)", self.channel, part)

    async def ping(self) -> None:
        pool = await self._pool()
        await pool.fetchval("SELECT 1")

    async def listen(self, ready: asyncio.Event) -> AsyncIterator[str]:
        received: asyncio.Queue[str | None] = asyncio.Queue()
        connection = await asyncpg.connect(self.dsn, timeout=self.timeout)
        connection.add_termination_listener(lambda _: received.put_nowait(None))
        parts = Parts()
        try:
            await connection.add_listener(
                self.channel, lambda _conn, _pid, _channel, payload: received.put_nowait(payload)
            )
            ready.set()
            while True:
                # asyncio.timeout, not wait_for: on Python 3.11, wait_for returns a result
                # that arrives as the task is cancelled, and the cancellation is lost.
                try:
                    async with asyncio.timeout(WATCH_SECONDS):
                        payload = await received.get()
                except TimeoutError:  # quiet for a while: is anyone still there?
                    await connection.fetchval("SELECT 1", timeout=self.timeout)
                    continue
                if payload is None:
                    raise ConnectionError("the listening connection was closed")
                if (text := parts.add(payload)) is not None:
                    yield text
        finally:
            connection.terminate()
