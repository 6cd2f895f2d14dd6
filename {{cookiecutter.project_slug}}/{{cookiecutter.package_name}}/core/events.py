"""Note events, fanned out to every WebSocket client of every process.

    publish() ──> broker ──> one listener per process ──> each subscriber's bounded queue

BROADCAST_URL picks the broker: `memory://` delivers within this process only (one worker);
`redis://...` (broker_redis.py) and `postgresql://...` (broker_postgres.py) reach every
process subscribed to the same channel, on any host.

When the broker goes away, every subscription ends (the socket tells its client to reconnect
and fetch the notes again, since events published meanwhile are lost) and the listener
reconnects by itself; subscribing fails with `EventsUnavailable` until it is back.
Publishing never fails the request that changed the note: the change is stored either way.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol

from . import metrics
from .settings import BROKERS

logger = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 0.1, 2.0  # seconds between attempts to reach the broker again
BACKLOG = 1000  # events waiting for one subscriber before it is dropped


class EventsUnavailable(Exception):
    """The broker cannot be reached; the message says which."""


class Broker(Protocol):
    """What a broker does for `Events`; see broker_redis.py and broker_postgres.py."""

    name: str

    async def publish(self, text: str) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...

    def listen(self, ready: asyncio.Event) -> AsyncIterator[str]:
        """Connect and subscribe, set `ready` once the broker confirms, then yield every message
        on the channel; raises when the connection is lost."""
        ...


def broker_for(url: str, channel: str, timeout: float) -> Broker | None:
    """The broker BROADCAST_URL names (its module, from settings.BROKERS), or None for memory."""
    module = BROKERS[url.partition("://")[0].partition("+")[0]]
    if module is None:
        return None
    # Imported by name: a project keeps only the broker module it was made with.
    found = importlib.import_module(f".{module}", __package__)
    broker: Broker = found.Broker(url, channel, timeout)
    return broker


class Subscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(BACKLOG)

    def put(self, text: str | None) -> bool:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            return False
        return True

    async def messages(self) -> AsyncIterator[str]:
        while (text := await self.queue.get()) is not None:
            yield text


class Events:
    def __init__(self, url: str, channel: str = "notes", timeout: float = 1.0) -> None:
        self.broker = broker_for(url, channel, timeout)
        self.timeout = timeout
        self.subscriptions: set[Subscription] = set()
        # Set while the broker's subscription is confirmed; the broker_connected gauge follows.
        self.listening = metrics.Flag(metrics.BROKER_CONNECTED)
        self._listener: asyncio.Task[None] | None = None

    @property
    def backend(self) -> str:
        return "memory" if self.broker is None else self.broker.name

    async def connect(self) -> None:
        """Start listening; the app starts even when the broker is down, and retries."""
        if self.broker is None:
            self.listening.set()
            return
        self._listener = asyncio.create_task(self._listen_forever(self.broker))
        with suppress(TimeoutError):  # a broker that is down is reported by readiness
            async with asyncio.timeout(self.timeout):
                await self.listening.wait()

    async def disconnect(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            # Wait for it to end without catching CancelledError here: a cancellation of
            # disconnect itself (a shutdown timeout) must still go through.
            await asyncio.wait({self._listener})
        self._end_subscriptions()
        if self.broker is not None:
            await self.broker.close()

    async def publish(self, event: dict[str, Any]) -> None:
        text = json.dumps(event, separators=(",", ":"))
        metrics.EVENTS_PUBLISHED.inc()
        if self.broker is None:
            self.deliver(text)
            return
        try:
            async with asyncio.timeout(self.timeout):
                await self.broker.publish(text)
        except Exception as exc:  # any broker failure: the note is stored anyway
            metrics.EVENTS_PUBLISH_FAILED.inc()
            logger.warning(
                "Event %s not published: %s unreachable (%r)",
                event.get("id"),
                self.broker.name,
                exc,
            )
            self._lost(exc)

    async def ping(self) -> None:
        """Raise `EventsUnavailable` unless the broker answers and this process is subscribed."""
        if self.broker is None:
            return
        if not self.listening.is_set():
            raise EventsUnavailable(f"The {self.broker.name} broker is unreachable.")
        try:
            async with asyncio.timeout(self.timeout):
                await self.broker.ping()
        except Exception as exc:  # whatever the driver raises
            self._lost(exc)
            raise EventsUnavailable(f"The {self.broker.name} broker is unreachable.") from exc

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[str]]:
        """Yield the JSON text of every event published from now on, until the broker is lost."""
        if not self.listening.is_set():
            raise EventsUnavailable(f"The {self.backend} broker is unreachable.")
        subscription = Subscription()
        self.subscriptions.add(subscription)
        try:
            yield subscription.messages()
        finally:
            self.subscriptions.discard(subscription)

    def deliver(self, text: str) -> None:
        for subscription in list(self.subscriptions):
            if not subscription.put(text):  # its reader is stuck: end it rather than grow
                metrics.EVENTS_DROPPED.inc()
                self.subscriptions.discard(subscription)
                subscription.queue.get_nowait()  # room for the end marker
                subscription.put(None)

    def _end_subscriptions(self) -> None:
        for subscription in self.subscriptions:
            if not subscription.put(None):
                subscription.queue.get_nowait()
                subscription.put(None)
        self.subscriptions.clear()

    def _lost(self, exc: Exception) -> None:
        """A publish or ping failed while the subscription looked fine: a broker that accepts
        but no longer answers leaves a subscriber waiting in silence, so end the subscriptions
        (their sockets are told to reconnect) and subscribe again from scratch."""
        if self.broker is None or self._listener is None or not self.listening.is_set():
            return
        logger.warning("The %s broker stopped answering (%r); reconnecting", self.broker.name, exc)
        self.listening.clear()
        self._end_subscriptions()
        self._listener.cancel()
        self._listener = asyncio.create_task(self._listen_forever(self.broker))

    async def _listen_forever(self, broker: Broker) -> None:
        delay = RETRY_FIRST
        while True:
            try:
                async for text in broker.listen(self.listening):
                    delay = RETRY_FIRST
                    self.deliver(text)
                raise ConnectionError("the subscription ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # lost: tell the subscribers, then retry
                if self.listening.is_set():
                    logger.warning("Lost the %s broker (%r); reconnecting", broker.name, exc)
                self.listening.clear()
                self._end_subscriptions()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
