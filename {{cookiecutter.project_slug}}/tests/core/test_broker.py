"""Events through the real broker named by BROADCAST_URL: across instances, and through an outage.

Two `Events` on one broker stand for two server processes. Each test has a channel of its own,
so tests running at once do not hear each other. The outage is real: the broker is reached
through a TCP proxy that the test cuts and restores.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.events import Events, EventsUnavailable
from {{ cookiecutter.package_name }}.core.settings import Settings

from ..proxy import Proxy

pytestmark = pytest.mark.anyio


@pytest.fixture
def channel() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def proxy(broker_url: str) -> Iterator[Proxy]:
    address = urlsplit(broker_url)
    with Proxy(address.hostname or "127.0.0.1", address.port or default_port(broker_url)) as proxy:
        proxy.start()
        yield proxy


def default_port(url: str) -> int:
    return 6379 if url.startswith("redis") else 5432


def through(url: str, proxy: Proxy) -> str:
    address = urlsplit(url)
    user = address.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{proxy.port}" if user else f"127.0.0.1:{proxy.port}"
    return urlunsplit(address._replace(netloc=netloc))


@pytest.fixture
async def events_pair(broker_url: str, channel: str) -> AsyncIterator[tuple[Events, Events]]:
    first, second = Events(broker_url, channel), Events(broker_url, channel)
    await first.connect()
    await second.connect()
    yield first, second
    await first.disconnect()
    await second.disconnect()


async def until(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def receive(messages: AsyncIterator[str], count: int) -> list[str]:
    received = []
    async with asyncio.timeout(10):
        async for message in messages:
            received.append(message)
            if len(received) == count:
                break
    return received


async def test_an_event_published_by_one_instance_reaches_the_other_in_order(
    events_pair: tuple[Events, Events],
) -> None:
    publisher, listener = events_pair
    async with listener.subscribe() as messages, publisher.subscribe() as own:
        for number in range(200):
            await publisher.publish({"id": str(number), "type": "note.created"})
        texts = await receive(messages, 200)
        assert [json.loads(text)["id"] for text in texts] == [str(n) for n in range(200)]
        assert len(await receive(own, 200)) == 200  # the publisher's own clients too


async def test_an_event_larger_than_a_notification_arrives_whole(
    events_pair: tuple[Events, Events],
) -> None:
    publisher, listener = events_pair
    body = "\u00e9" * 10_000  # JSON-escaped to 60,000 bytes: PostgreSQL takes under 8,000
    async with listener.subscribe() as messages:
        await publisher.publish({"id": "big", "note": {"body": body}})
        await publisher.publish({"id": "small"})
        big, small = await receive(messages, 2)
    assert '"id":"big"' in big and len(big) > 60_000 and big.endswith('"}}')
    assert small == '{"id":"small"}'


async def test_disconnect_ends_the_listener_while_events_arrive(
    events_pair: tuple[Events, Events], broker_url: str, channel: str
) -> None:
    # Stopping the listener just as an event comes in must still stop it: on Python 3.11,
    # `asyncio.wait_for` loses a cancellation that arrives with a result, and shutdown hung.
    publisher, enough = events_pair[0], asyncio.Event()

    async def publish_until_enough() -> None:
        while not enough.is_set():
            await publisher.publish({"id": "0", "type": "note.created"})

    for attempt in range(1, 21):
        listener = Events(broker_url, channel)
        await listener.connect()
        enough.clear()
        flood = asyncio.create_task(publish_until_enough())
        await asyncio.sleep(0.05)
        stopping = asyncio.create_task(listener.disconnect())
        done, _ = await asyncio.wait({stopping}, timeout=5)
        enough.set()
        await flood
        assert stopping in done, f"disconnect still waiting after 5 s, attempt {attempt}"


async def test_a_broker_outage_ends_subscriptions_and_events_resume_after_it(
    broker_url: str, channel: str, proxy: Proxy
) -> None:
    events = Events(through(broker_url, proxy), channel, timeout=1)
    publisher = Events(broker_url, channel)
    await events.connect()
    await publisher.connect()
    try:
        async with events.subscribe() as messages:
            await events.ping()
            proxy.stop()
            assert await receive(messages, 1) == []  # the feed ends: the client must resync
        with pytest.raises(EventsUnavailable, match="broker is unreachable"):
            await events.ping()
        with pytest.raises(EventsUnavailable):
            async with events.subscribe():
                pass
        await events.publish({"id": "lost"})  # logged, never raised: the note is stored anyway

        proxy.start()
        await until(events.listening.is_set)
        await events.ping()
        async with events.subscribe() as messages:
            await publisher.publish({"id": "after"})
            assert await receive(messages, 1) == ['{"id":"after"}']
    finally:
        await events.disconnect()
        await publisher.disconnect()


def test_readiness_names_the_broker_and_sockets_are_told_to_reconnect(
    caller: dict[str, str], broker_url: str, channel: str, proxy: Proxy, database_url: str
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        allowed_hosts=("testserver",),
        broadcast_url=through(broker_url, proxy),
        broadcast_channel=channel,
        broadcast_timeout=1,
    )
    app = create_app(settings)
    with TestClient(app, headers=caller) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["broker"] in ("redis", "postgres")
        with client.websocket_connect("/ws/notes") as socket:
            socket.send_json({"type": "ping"})
            assert socket.receive_json() == {"type": "pong"}
            proxy.stop()
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert closed.value.code == 1012

        answer = client.get("/health/ready")
        assert answer.status_code == 503
        assert "broker is unreachable" in answer.json()["detail"]
        with client.websocket_connect("/ws/notes") as socket:
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert closed.value.code == 1013

        proxy.start()
        deadline = time.monotonic() + 10
        while client.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "readiness did not recover"
            time.sleep(0.05)
        with client.websocket_connect("/ws/notes") as socket:
            socket.send_json({"type": "ping"})
            assert socket.receive_json() == {"type": "pong"}
            note = client.post("/api/notes", json={"title": "After the outage"}).json()
            assert socket.receive_json()["note"] == note


def test_a_broker_that_stops_answering_delays_a_write_at_most_the_timeout(
    caller: dict[str, str], broker_url: str, channel: str, proxy: Proxy, database_url: str
) -> None:
    settings = Settings(  # BROADCAST_TIMEOUT left at its default
        _env_file=None,
        database_url=database_url,
        allowed_hosts=("testserver",),
        broadcast_url=through(broker_url, proxy),
        broadcast_channel=channel,
    )
    app = create_app(settings)
    with TestClient(app, headers=caller) as client:
        with client.websocket_connect("/ws/notes") as socket:
            socket.send_json({"type": "ping"})
            assert socket.receive_json() == {"type": "pong"}
            proxy.hang()  # connections stay open; nothing is answered
            began = time.monotonic()
            written = client.post("/api/notes", json={"title": "While the broker hangs"})
            took = time.monotonic() - began
            assert written.status_code == 201, written.text
            assert took < settings.broadcast_timeout + 1, took
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert closed.value.code == 1012  # the event feed was interrupted: reconnect

        answer = client.get("/health/ready")
        assert answer.status_code == 503
        assert "broker is unreachable" in answer.json()["detail"]
        with client.websocket_connect("/ws/notes") as socket:
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert closed.value.code == 1013
