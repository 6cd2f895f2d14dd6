"""The database goes away for real (its connections cut by a proxy) and comes back."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial

import pytest
from alembic import command
from httpx2 import Response
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.database import Database, DatabaseUnavailable
from {{ cookiecutter.package_name }}.core.settings import Settings

from ..conftest import alembic_config, fresh_database_url
from ..databases import checked_out, settled, stored
from ..proxy import Proxy

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


@pytest.fixture
def proxy(database_url: str) -> Iterator[Proxy]:
    target = make_url(database_url)
    port = target.port or DEFAULT_PORTS[target.get_backend_name()]
    with Proxy(target.host or "127.0.0.1", port) as proxy:
        yield proxy


def via(proxy: Proxy, database_url: str) -> str:
    """`database_url`, reached through `proxy`."""
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


def through(
    proxy: Proxy, database_url: str, database_timeout: float, readiness_timeout: float = 2
) -> Settings:
    """Settings for the app to reach the database through `proxy`."""
    return Settings(
        _env_file=None,
        database_url=via(proxy, database_url),
        allowed_hosts=("testserver",),
        database_timeout=database_timeout,
        readiness_timeout=readiness_timeout,
    )


@pytest.fixture
def client(caller: dict[str, str], database_url: str, proxy: Proxy) -> Iterator[TestClient]:
    with TestClient(
        create_app(through(proxy, database_url, database_timeout=3)), headers=caller
    ) as client:
        yield client


def eventually(call: Callable[[], Response], status: int, seconds: float = 15) -> Response:
    deadline = time.monotonic() + seconds
    while True:
        response = call()
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def assert_unavailable(response: Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 503
    assert "Traceback" not in response.text


def test_starts_without_the_database_and_recovers_when_it_returns(
    client: TestClient, proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    ready = client.get("/health/ready")
    assert_unavailable(ready)
    # The driver's error goes to the log, not to the client.
    assert ready.json()["detail"] == "The database is unreachable."
    assert any("Not ready" in record.getMessage() for record in caplog.records)
    assert_unavailable(client.post("/api/notes", json={"title": "lost"}))
    assert_unavailable(client.get("/api/notes"))

    proxy.start()

    assert eventually(lambda: client.get("/health/ready"), 200).status_code == 200
    created = client.post("/api/notes", json={"title": "kept"})
    assert created.status_code == 201
    assert client.get("/api/notes", params={"total": "true"}).json()["total"] == 1


def test_survives_losing_the_database_while_running(client: TestClient, proxy: Proxy) -> None:
    proxy.start()
    note = eventually(lambda: client.post("/api/notes", json={"title": "before"}), 201).json()

    proxy.stop()

    assert_unavailable(client.get(f"/api/notes/{note['id']}"))
    assert_unavailable(client.get("/health/ready"))
    assert_unavailable(client.patch(f"/api/notes/{note['id']}", json={"title": "during"}))

    proxy.start()

    assert eventually(lambda: client.get(f"/api/notes/{note['id']}"), 200).json() == note
    assert client.get("/health/ready").status_code == 200


def test_starts_before_its_database_exists_and_says_how_to_create_it(
    caller: dict[str, str],
    real_database_url: str,
) -> None:
    missing = fresh_database_url(real_database_url)  # never created
    settings = Settings(_env_file=None, database_url=missing, allowed_hosts=("testserver",))
    app = create_app(settings)

    with TestClient(app, headers=caller) as client:
        ready = client.get(app.url_path_for("health_ready"))
        listing = client.get(app.url_path_for("notes"))

    assert_unavailable(ready)
    assert_unavailable(listing)
    name = make_url(missing).database
    assert f"the database {name!r} does not exist" in ready.json()["detail"]
    assert "scripts/createdb" in ready.json()["detail"]


def test_migrate_names_the_missing_database_and_the_command(real_database_url: str) -> None:
    missing = fresh_database_url(real_database_url)

    with pytest.raises(SystemExit) as exited:
        command.upgrade(alembic_config(missing), "head")

    name = make_url(missing).database
    assert str(exited.value) == (
        f"The database {name!r} does not exist on the server DATABASE_URL names; "
        "create it with scripts/createdb, then run this again."
    )


def test_readiness_answers_within_its_own_bound_when_the_database_hangs(
    caller: dict[str, str], database_url: str, proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(through(proxy, database_url, database_timeout=10, readiness_timeout=1))
    proxy.start()
    with TestClient(app, headers=caller) as client:
        url = app.url_path_for("health_ready")
        assert eventually(lambda: client.get(url), 200).status_code == 200

        proxy.hang()
        started = time.monotonic()
        hung = client.get(url)
        latency = time.monotonic() - started

        proxy.stop()
        proxy.start()
        recovered = eventually(lambda: client.get(url), 200)

    assert_unavailable(hung)
    assert hung.json()["detail"] == "The database is unreachable."
    assert latency < 5, latency  # the bound is 1 s; DATABASE_TIMEOUT is 10 s
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "Not ready: no answer within 1s" in warnings, warnings
    assert recovered.status_code == 200


def post_with_key(client: TestClient, key: str) -> Response:
    return client.post("/api/notes", json={"title": "t"}, headers={"Idempotency-Key": key})


def test_a_write_retried_across_an_outage_is_stored_once(client: TestClient, proxy: Proxy) -> None:
    proxy.start()
    first = eventually(lambda: post_with_key(client, "across-the-outage"), 201)

    # The answer was lost on the way, say; the client retries while the database is away.
    proxy.stop()
    assert_unavailable(post_with_key(client, "across-the-outage"))
    proxy.start()
    retried = eventually(lambda: post_with_key(client, "across-the-outage"), 201)

    assert retried.json() == first.json()
    assert retried.headers["idempotent-replayed"] == "true"
    assert client.get("/api/notes", params={"total": "true"}).json()["total"] == 1


def test_a_write_refused_in_an_outage_is_stored_by_its_retry(
    client: TestClient, proxy: Proxy
) -> None:
    assert_unavailable(post_with_key(client, "first-try-refused"))

    proxy.start()
    retried = eventually(lambda: post_with_key(client, "first-try-refused"), 201)

    assert "idempotent-replayed" not in retried.headers
    assert client.get("/api/notes", params={"total": "true"}).json()["total"] == 1


# Where a write's connection is cut: after the COMMIT of a write with a key, after the
# statements inside its transaction, and after a write committed on its own (no key).
CUTS = [
    (b"COMMIT", True),
    (b"INSERT INTO idempotency_keys", True),
    (b"INSERT INTO notes", True),
    (b"UPDATE idempotency_keys", True),
    (b"INSERT INTO notes", False),
]


def test_a_write_cut_during_its_commit_says_its_outcome_is_unknown(
    client: TestClient, proxy: Proxy, database_url: str
) -> None:
    """Every 2xx was stored, every plain 503 was not, an unknown outcome says so, and a retry
    with the same key ends with exactly one note."""
    proxy.start()
    eventually(lambda: client.get("/api/notes"), 200)
    unknown_but_stored = 0
    for number, (marker, with_key) in enumerate(CUTS):
        title = f"cut {number} {uuid.uuid4()}"
        headers = {"Idempotency-Key": str(uuid.uuid4())} if with_key else {}
        proxy.cut_after(marker)
        answer = client.post("/api/notes", json={"title": title}, headers=headers)
        rows = stored(database_url, title)
        if answer.status_code == 201:
            assert rows == 1, (marker, answer.text)
        else:
            assert_unavailable(answer)
            assert answer.headers["retry-after"].isdigit()
            if "may or may not" in answer.json()["detail"]:
                assert "Idempotency-Key" in answer.json()["detail"]
                unknown_but_stored += settled(database_url, title)
            else:
                assert rows == 0, (marker, answer.text)  # a plain 503 wrote nothing
        if with_key:
            retry = partial(client.post, "/api/notes", json={"title": title}, headers=headers)
            retried = eventually(retry, 201)
            assert retried.status_code == 201, retried.text
            assert stored(database_url, title) == 1, marker
    assert unknown_but_stored >= 1  # the cut after COMMIT at least: committed, answered 503
    # Each cut connection went back to its pool and was dropped, none held: else the pool's
    # close at shutdown would wait for them for good.
    database = client.app_state["database"]
    deadline = time.monotonic() + 5
    while checked_out(database) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert checked_out(database) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("in_transaction", [True, False], ids=["in-a-transaction", "on-its-own"])
async def test_a_query_waiting_for_the_pool_takes_the_place_of_a_lost_connection(
    database_url: str, proxy: Proxy, in_transaction: bool
) -> None:
    """With every connection in use, one that is lost frees its place for the query waiting."""
    proxy.start()
    database = Database(via(proxy, database_url), max_size=1)
    await database.connect()

    async def hold() -> None:
        if in_transaction:
            async with database.transaction():
                await database.fetch_val("SELECT 1")
        else:
            await database.fetch_val("SELECT 1")

    try:
        proxy.hang()  # the only connection stays in use, its query unanswered
        holding = asyncio.create_task(hold())
        await asyncio.sleep(0.2)
        waiting = asyncio.create_task(database.fetch_val("SELECT 2"))
        await asyncio.sleep(0.2)
        proxy.stop()  # the held connection is lost
        proxy.start()
        with pytest.raises(DatabaseUnavailable):
            await holding
        assert await asyncio.wait_for(waiting, 5) == 2
    finally:
        await asyncio.wait_for(database.disconnect(), 5)
