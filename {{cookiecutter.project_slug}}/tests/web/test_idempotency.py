from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.core.database import Database
from {{ cookiecutter.package_name }}.web.idempotency import forget
from {{ cookiecutter.package_name }}.web.idempotency import keys as idempotency_keys


def total(client: TestClient, app: Starlette) -> int:
    count: int = client.get(app.url_path_for("notes"), params={"total": "true"}).json()["total"]
    return count


def test_a_retried_key_gets_the_first_answer_without_a_second_write(
    client: TestClient, app: Starlette
) -> None:
    url = app.url_path_for("notes")
    headers = {"Idempotency-Key": "4b0c7e0e-retry"}

    first = client.post(url, json={"title": "once"}, headers=headers)
    again = client.post(url, json={"title": "once"}, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert total(client, app) == 1


def test_the_same_body_spelled_differently_is_the_same_request(
    client: TestClient, app: Starlette
) -> None:
    url = app.url_path_for("notes")
    headers = {"Idempotency-Key": "spelling", "Content-Type": "application/json"}

    first = client.post(url, content=b'{"title": "a", "body": ""}', headers=headers)
    again = client.post(url, content=b'{ "body":"", "title":" a " }', headers=headers)

    assert again.json() == first.json()
    assert total(client, app) == 1


def test_a_key_reused_with_another_body_is_refused_naming_the_header(
    client: TestClient, app: Starlette
) -> None:
    url = app.url_path_for("notes")
    headers = {"Idempotency-Key": "reused"}
    client.post(url, json={"title": "first"}, headers=headers)

    refused = client.post(url, json={"title": "second"}, headers=headers)

    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in refused.json()["detail"]
    assert total(client, app) == 1


@pytest.mark.parametrize("key", [b"", b"x" * 201, b"has space", "caf\u00e9".encode()])
def test_a_malformed_key_is_a_field_error(client: TestClient, app: Starlette, key: bytes) -> None:
    response = client.post(
        app.url_path_for("notes"), json={"title": "t"}, headers={b"Idempotency-Key": key}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert response.json()["errors"][0]["location"] == "header"
    assert total(client, app) == 0


def test_without_a_key_every_post_writes(client: TestClient, app: Starlette) -> None:
    for _ in range(2):
        assert client.post(app.url_path_for("notes"), json={"title": "t"}).status_code == 201

    assert total(client, app) == 2


def test_concurrent_requests_with_one_key_write_once(
    client: TestClient, app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    # Several rounds of several clients released at once. Each waiter fails once, on the
    # duplicate key, and then replays; a lock taken in the write's transaction beyond the key's
    # own row showed up on MySQL as deadlocks, second tries and, after the third, a 500.
    caplog.set_level(logging.INFO, "{{ cookiecutter.package_name }}.web.idempotency")
    url = app.url_path_for("notes")
    rounds, clients = 4, 6
    answers: list[int] = []
    start = threading.Barrier(clients)

    def post(key: str) -> None:
        start.wait()
        response = client.post(url, json={"title": key}, headers={"Idempotency-Key": key})
        answers.append(response.status_code)

    for round_ in range(rounds):
        threads = [threading.Thread(target=post, args=[f"race-{round_}"]) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert answers == [201] * rounds * clients
    assert total(client, app) == rounds
    failures = [record.getMessage() for record in caplog.records]
    assert len(failures) <= rounds * (clients - 1)
    assert [failure for failure in failures if "try 1 of" not in failure] == []


async def age_keys(url: str, hours: float, key: str | None = None) -> None:
    database = Database(url)
    await database.connect()
    try:
        past = datetime.now(UTC) - timedelta(hours=hours)
        aged = idempotency_keys.update().values(created_at=past)
        if key is not None:
            aged = aged.where(idempotency_keys.c.key == key)
        await database.execute(aged)
    finally:
        await database.disconnect()


async def forget_and_list(url: str, hours: float) -> list[str]:
    database = Database(url)
    await database.connect()
    try:
        await forget(database, datetime.now(UTC) - timedelta(hours=hours))
        return [row["key"] for row in await database.fetch_all(idempotency_keys.select())]
    finally:
        await database.disconnect()


def test_an_expired_key_is_forgotten(client: TestClient, app: Starlette, database_url: str) -> None:
    url = app.url_path_for("notes")
    headers = {"Idempotency-Key": "old"}
    first = client.post(url, json={"title": "first"}, headers=headers)
    asyncio.run(age_keys(database_url, hours=25))  # IDEMPOTENCY_KEY_HOURS is 24

    second = client.post(url, json={"title": "second"}, headers=headers)

    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    assert total(client, app) == 2


def test_forgetting_deletes_only_expired_keys(
    client: TestClient, app: Starlette, database_url: str
) -> None:
    url = app.url_path_for("notes")
    for key in ("old", "new"):
        client.post(url, json={"title": key}, headers={"Idempotency-Key": key})
    asyncio.run(age_keys(database_url, hours=25, key="old"))

    assert asyncio.run(forget_and_list(database_url, hours=24)) == ["new"]


def test_the_header_is_described_in_the_openapi_document(
    client: TestClient, app: Starlette
) -> None:
    operation = client.get(app.url_path_for("openapi")).json()["paths"]["/api/notes"]["post"]

    headers = [p for p in operation["parameters"] if p["in"] == "header"]
    assert [p["name"] for p in headers] == ["Idempotency-Key"]
    assert headers[0]["schema"]["maxLength"] == 200
    assert "422" in operation["responses"]


def test_keys_differing_in_case_are_different_keys(client: TestClient, app: Starlette) -> None:
    url = app.url_path_for("notes")

    for key in ("Case-Key", "case-key"):
        response = client.post(url, json={"title": "t"}, headers={"Idempotency-Key": key})
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers

    assert total(client, app) == 2
