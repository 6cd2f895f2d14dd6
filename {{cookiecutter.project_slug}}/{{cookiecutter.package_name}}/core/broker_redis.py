"""Events through Redis pub/sub, with redis-py's own asyncio client.

Any number of processes, on any hosts, that PUBLISH and SUBSCRIBE on the same channel of the
same Redis hear each other. Redis keeps no history: a process that is disconnected misses
what is published meanwhile, which `events.py` handles by ending its subscriptions.
redis-py retries and reconnects on its own by default; that is turned off here, so a lost
connection is seen (and reported) rather than papered over while events go missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


class Broker:
    name = "redis"

    def __init__(self, url: str, channel: str, timeout: float) -> None:
        self.channel = channel
        never = Retry(NoBackoff(), 0)
        # Commands (PUBLISH, PING) may time out; the subscriber waits for as long as it takes.
        self.client = Redis.from_url(
            url, retry=never, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        self.subscriber = Redis.from_url(
            url, retry=never, socket_connect_timeout=timeout, socket_keepalive=True
        )

    async def close(self) -> None:
        await self.client.aclose()
        await self.subscriber.aclose()

    async def publish(self, text: str) -> None:
        await self.client.publish(self.channel, text)

    async def ping(self) -> None:
        await self.client.ping()

    async def listen(self, ready: asyncio.Event) -> AsyncIterator[str]:
        pubsub: PubSub
        async with self.subscriber.pubsub() as pubsub:
            await pubsub.subscribe(self.channel)
            async for message in pubsub.listen():
                if message["type"] == "subscribe":  # the server confirms: nothing is missed now
                    ready.set()
                elif message["type"] == "message":
                    yield message["data"].decode()
