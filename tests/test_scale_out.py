"""Live events across server processes, through the real brokers (`broadcast` option).

Two servers of one rendered project share a database and a broker: a WebSocket client of
either hears about every change made through the other, exactly once and in order; the same
with two workers behind one port; and through a broker outage (a TCP proxy cut and restored).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page
from websockets.asyncio.client import ClientConnection, connect

from .conftest import Served, free_port, require_server, serve, stop
from .harness import (
    ROOT, SERVERS, broadcast_url, build_venv, manage_database, render, run, servers_for, venv_env,
)
from .test_browser import browser, open_notes  # noqa: F401 - the fixture, shared

CLIENTS, EVENTS = 50, 200
OPTIONS = {
    "redis": {"database": "sqlite", "broadcast": "redis"},
    "postgres": {"database": "postgresql", "broadcast": "postgres"},
}


def proxy_module() -> ModuleType:
    """The rendered project's own TCP proxy (tests/proxy.py), which its outage tests use."""
    path = ROOT / "{{cookiecutter.project_slug}}" / "tests" / "proxy.py"
    spec = importlib.util.spec_from_file_location("rendered_proxy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Scaled:
    project: Path
    env: dict[str, str]  # DATABASE_URL, BROADCAST_URL and a channel of this test's own

    def start(self, *, workers: int = 1, **settings: str) -> Served:
        return serve(self.project, {**self.env, **settings}, workers=workers,
                     SHUTDOWN_DRAIN_SECONDS="0")


@pytest.fixture(params=sorted(OPTIONS))
def scaled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Scaled]:
    context = OPTIONS[request.param]
    for needed in servers_for(context):
        require_server(needed)
    project = render(tmp_path, **context)
    env = venv_env(build_venv([project]))
    env["BROADCAST_CHANNEL"] = f"scale-{secrets.token_hex(4)}"
    server = SERVERS.get(context["database"])
    if server is not None:
        env["DATABASE_URL"] = server.url.format(database=f"tpl_{secrets.token_hex(4)}")
        manage_database(project, env, "create")
    env["BROADCAST_URL"] = broadcast_url(context, env.get("DATABASE_URL", ""))
    try:
        run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
        yield Scaled(project, env)
    finally:
        if server is not None:
            manage_database(project, env, "drop")


def through(url: str, port: int) -> str:
    address = urlsplit(url)
    user = address.netloc.rpartition("@")[0]
    host = f"127.0.0.1:{port}"
    return urlunsplit(address._replace(netloc=f"{user}@{host}" if user else host))


async def subscribed(stack: AsyncExitStack, url: str) -> ClientConnection:
    """A WebSocket on `url`, its subscription proven by a ping round trip."""
    socket_url = url.replace("http://", "ws://", 1) + "/ws/notes"
    socket = await stack.enter_async_context(connect(socket_url, open_timeout=10))
    await socket.send('{"type": "ping"}')
    assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "pong"}
    return socket


async def collect(socket: ClientConnection, count: int) -> list[dict[str, Any]]:
    received = []
    while len(received) < count:
        event = json.loads(await socket.recv())
        if event["type"].startswith("note."):
            received.append(event)
    return received


async def create_notes(urls: list[str], count: int) -> list[int]:
    """Create `count` notes one after another, through each server in turn."""
    ids = []
    async with httpx.AsyncClient(timeout=10) as client:
        for number in range(count):
            url = urls[number % len(urls)]
            response = await client.post(f"{url}/api/notes", json={"title": f"note {number}"})
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return ids


async def fan_out(client_urls: list[str], write_urls: list[str], count: int) -> None:
    """Clients on `client_urls` each get every one of `count` notes created via `write_urls`."""
    async with AsyncExitStack() as stack, asyncio.timeout(120):
        sockets = [await subscribed(stack, url) for url in client_urls]
        receiving = [asyncio.create_task(collect(socket, count)) for socket in sockets]
        ids = await create_notes(write_urls, count)
        for received in await asyncio.gather(*receiving):
            assert [event["note"]["id"] for event in received] == ids  # all, once, in order
            assert len({event["id"] for event in received}) == count


def test_every_client_of_two_servers_gets_every_event_once_in_order(scaled: Scaled) -> None:
    first, second = scaled.start(), scaled.start()
    try:
        clients = [first.url, second.url] * (CLIENTS // 2)
        asyncio.run(fan_out(clients, [first.url, second.url], EVENTS))
    finally:
        for served in (first, second):
            assert "Traceback" not in stop(served.process)


def test_two_workers_behind_one_port_share_events(scaled: Scaled) -> None:
    served = scaled.start(workers=2)
    try:
        asyncio.run(fan_out([served.url] * 20, [served.url], 40))
    finally:
        assert "Traceback" not in stop(served.process)


def test_several_workers_without_a_broker_are_refused(tmp_path: Path) -> None:
    project = render(tmp_path)
    env = venv_env(build_venv([project]))
    started = subprocess.run(
        ["scripts/start"], cwd=project, capture_output=True, text=True, timeout=60,
        env={**env, "PORT": str(free_port()), "WEB_CONCURRENCY": "2"},
    )
    assert started.returncode != 0
    assert "WEB_CONCURRENCY=2 starts several processes, but BROADCAST_URL=memory://" in (
        started.stderr
    )
    assert "Traceback" not in started.stderr


def wait_for_status(url: str, status: int, seconds: float = 15) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while (response := httpx.get(url, timeout=5)).status_code != status:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.1)
    return response


@dataclass
class Pair:
    cut: Served  # reaches the broker through `proxy`
    other: Served
    proxy: Any


@pytest.fixture
def pair(scaled: Scaled) -> Iterator[Pair]:
    """Two servers of `scaled`; the first reaches the broker through a proxy to cut."""
    target = urlsplit(scaled.env["BROADCAST_URL"])
    with proxy_module().Proxy(target.hostname, target.port) as proxy:
        proxy.start()
        cut = scaled.start(BROADCAST_URL=through(scaled.env["BROADCAST_URL"], proxy.port),
                           BROADCAST_TIMEOUT="1")
        other = scaled.start()
        try:
            yield Pair(cut, other, proxy)
        finally:
            for served in (cut, other):
                assert "Traceback" not in stop(served.process)


def test_a_broker_outage_is_reported_and_events_resume_after_it(pair: Pair) -> None:
    cut, other = pair.cut.url, pair.other.url
    asyncio.run(fan_out([cut, other], [other, cut], 5))
    pair.proxy.stop()
    refused = wait_for_status(f"{cut}/health/ready", 503)
    assert "broker is unreachable" in refused.json()["detail"]
    assert httpx.get(f"{other}/health/ready", timeout=5).status_code == 200
    pair.proxy.start()
    wait_for_status(f"{cut}/health/ready", 200)
    asyncio.run(fan_out([cut, other] * 5, [other, cut], 10))


def test_browsers_on_two_servers_see_each_others_notes_through_an_outage(
    pair: Pair, browser: Browser  # noqa: F811 - the fixture imported above
) -> None:
    console: list[str] = []
    on_first = open_notes(browser, pair.cut.url, console)
    on_second = open_notes(browser, pair.other.url, console)
    add_note(on_first, "Written on A")
    on_second.wait_for_selector("#notes li:has-text('Written on A')", timeout=10_000)
    add_note(on_second, "Written on B")
    on_first.wait_for_selector("#notes li:has-text('Written on B')", timeout=10_000)

    pair.proxy.stop()
    on_first.wait_for_selector("#status:text('Reconnecting')", timeout=10_000)
    pair.proxy.start()
    on_first.wait_for_selector("#status:text('Live')", timeout=30_000)
    add_note(on_second, "After the outage")
    on_first.wait_for_selector("#notes li:has-text('After the outage')", timeout=10_000)
    assert on_first.locator("#notes li:has-text('After the outage')").count() == 1
    assert [line for line in console if "Content Security Policy" in line] == []


def add_note(page: Page, title: str) -> None:
    page.fill("input[name=title]", title)
    page.click("button[type=submit]")
