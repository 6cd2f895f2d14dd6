from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.web.schemas import Input

from ..problems import assert_problem


def create(client: TestClient, app: Starlette, title: str = "First") -> dict[str, Any]:
    response = client.post(app.url_path_for("notes"), json={"title": title, "body": "Hello"})
    assert response.status_code == 201, response.text
    note: dict[str, Any] = response.json()
    return note


def note_url(app: Starlette, note_id: int) -> str:
    return app.url_path_for("note", id=note_id)


def test_create_returns_the_note_and_its_location(client: TestClient, app: Starlette) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    response = client.post(app.url_path_for("notes"), json={"title": " Shopping ", "body": "eggs"})

    assert response.status_code == 201
    note = response.json()
    assert note["title"] == "Shopping"
    assert note["body"] == "eggs"
    assert response.headers["location"].endswith(note_url(app, note["id"]))
    created = datetime.fromisoformat(note["created_at"])
    assert created.tzinfo is not None and created.utcoffset() == timedelta(0)
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=2)


def test_read_returns_what_was_created(client: TestClient, app: Starlette) -> None:
    note = create(client, app)

    response = client.get(note_url(app, note["id"]))

    assert response.status_code == 200
    assert response.json() == note


def test_patch_changes_only_the_given_fields(client: TestClient, app: Starlette) -> None:
    note = create(client, app)

    response = client.patch(note_url(app, note["id"]), json={"body": "Changed"})

    assert response.status_code == 200
    assert response.json()["body"] == "Changed"
    assert response.json()["title"] == note["title"]
    assert client.get(note_url(app, note["id"])).json()["body"] == "Changed"


def test_delete_removes_the_note(client: TestClient, app: Starlette) -> None:
    note = create(client, app)

    response = client.delete(note_url(app, note["id"]))

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(client.get(note_url(app, note["id"])), 404)
    assert_problem(client.delete(note_url(app, note["id"])), 404)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("note_id", [999, 0, 2**31 - 1])
def test_missing_note_is_a_json_404(
    client: TestClient, app: Starlette, method: str, note_id: int
) -> None:
    response = client.request(method, note_url(app, note_id), json={"title": "x"})

    problem = assert_problem(response, 404)
    assert str(note_id) in problem["detail"]


def test_an_id_longer_than_any_row_id_is_a_404(client: TestClient, app: Starlette) -> None:
    # Past 4,300 digits, int() itself refuses the string.
    for note_id in ["1" + "0" * 30, "9" * 4301]:
        for method in ["GET", "PATCH", "DELETE"]:
            url = f"{app.url_path_for('notes')}/{note_id}"
            assert_problem(client.request(method, url, json={}), 404)


def test_list_pages_through_all_notes(client: TestClient, app: Starlette) -> None:
    ids = [create(client, app, f"Note {n}")["id"] for n in range(5)]

    first = client.get(app.url_path_for("notes"), params={"limit": 2, "total": "true"}).json()
    second = client.get(first["next"]).json()
    last = client.get(second["next"]).json()

    assert first["total"] == second["total"] == last["total"] == 5
    assert [note["id"] for page in (first, second, last) for note in page["items"]] == ids
    assert (first["limit"], first["offset"], second["offset"], last["offset"]) == (2, 0, 2, 4)
    assert last["next"] is None


def test_list_defaults_to_twenty(client: TestClient, app: Starlette) -> None:
    for n in range(21):
        create(client, app, f"Note {n}")

    page = client.get(app.url_path_for("notes")).json()

    assert len(page["items"]) == 20
    assert page["total"] is None  # counting every note is asked for, not done by default
    assert page["next"] is not None
    following = client.get(page["next"]).json()
    assert len(following["items"]) == 1 and following["next"] is None


def test_a_full_last_page_has_no_next_link(client: TestClient, app: Starlette) -> None:
    for n in range(4):
        create(client, app, f"Note {n}")

    page = client.get(app.url_path_for("notes"), params={"limit": 4}).json()

    assert len(page["items"]) == 4 and page["next"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**31}, "offset"),
    ],
)
def test_list_rejects_out_of_bounds_paging(
    client: TestClient, app: Starlette, params: dict[str, Any], field: str
) -> None:
    response = client.get(app.url_path_for("notes"), params=params)

    problem = assert_problem(response, 422)
    assert [error["field"] for error in problem["errors"]] == [field]
    assert problem["errors"][0]["location"] == "query"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, ["title"]),
        ({"title": ""}, ["title"]),
        ({"title": "   "}, ["title"]),
        ({"title": "x" * 201}, ["title"]),
        ({"title": " " * 195 + "x" * 10}, ["title"]),
        ({"title": "a\u0000b"}, ["title"]),
        ({"title": "ok", "body": "\u0000"}, ["body"]),
        ({"title": 5, "body": ["not", "text"]}, ["title", "body"]),
        ({"title": "ok", "colour": "red"}, ["colour"]),
        ([], ["body"]),
    ],
)
def test_create_names_each_invalid_field(
    client: TestClient, app: Starlette, payload: Any, fields: list[str]
) -> None:
    response = client.post(app.url_path_for("notes"), json=payload)

    problem = assert_problem(response, 422)
    assert [error["field"] for error in problem["errors"]] == fields
    assert all(error["message"] for error in problem["errors"])
    assert client.get(app.url_path_for("notes"), params={"total": "true"}).json()["total"] == 0


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"title": " \t "}, "a character other than whitespace"),
        ({"title": "a\u0000b"}, "no NUL character"),
        ({"title": "ok", "body": "\u0000"}, "not contain a NUL character"),
    ],
)
def test_a_pattern_is_explained_in_words(
    client: TestClient, app: Starlette, payload: dict[str, str], words: str
) -> None:
    response = client.post(app.url_path_for("notes"), json=payload)

    (error,) = assert_problem(response, 422)["errors"]
    assert words in error["message"]
    assert "^" not in error["message"]


def test_patch_refuses_null(client: TestClient, app: Starlette) -> None:
    note = create(client, app)

    response = client.patch(note_url(app, note["id"]), json={"title": None})

    problem = assert_problem(response, 422)
    assert [error["field"] for error in problem["errors"]] == ["title"]
    assert client.get(note_url(app, note["id"])).json()["title"] == note["title"]


def test_patch_names_an_invalid_title_before_looking_for_the_note(
    client: TestClient, app: Starlette
) -> None:
    note = create(client, app)

    for title in ["a\u0000b", "\t\n", "x" * 201]:
        for note_id in (note["id"], 424242):
            response = client.patch(note_url(app, note_id), json={"title": title})
            problem = assert_problem(response, 422)
            assert [error["field"] for error in problem["errors"]] == ["title"]
    assert client.get(note_url(app, note["id"])).json() == note


def test_only_json_bodies_are_accepted(client: TestClient, app: Starlette) -> None:
    # What a form or a simple fetch() on another site can send without a CORS preflight.
    note = create(client, app)
    body = b'{"title": "from elsewhere"}'

    for headers in [{}, {"content-type": "text/plain"}, {"content-type": "multipart/form-data"}]:
        created = client.post(app.url_path_for("notes"), content=body, headers=headers)
        changed = client.patch(note_url(app, note["id"]), content=body, headers=headers)
        assert "JSON" in assert_problem(created, 415)["detail"]
        assert_problem(changed, 415)
    assert client.get(app.url_path_for("notes")).json()["items"] == [note]


def test_json_media_types_with_parameters_are_accepted(client: TestClient, app: Starlette) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = client.post(
            app.url_path_for("notes"),
            content=b'{"title": "x"}',
            headers={"content-type": content_type},
        )
        assert response.status_code == 201, content_type


def test_malformed_json_is_a_400(client: TestClient, app: Starlette) -> None:
    headers = {"content-type": "application/json"}
    response = client.post(app.url_path_for("notes"), content=b'{"title": ', headers=headers)

    assert "JSON" in assert_problem(response, 400)["detail"]


def test_wrong_method_is_a_json_405_with_allow(client: TestClient, app: Starlette) -> None:
    response = client.put(app.url_path_for("notes"), json={"title": "x"})

    assert_problem(response, 405)
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_unknown_api_path_is_a_json_404(client: TestClient) -> None:
    assert_problem(client.get("/api/nothing-here"), 404)


def test_concurrent_writes_all_land(client: TestClient, app: Starlette) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        notes = list(pool.map(lambda n: create(client, app, f"Note {n}"), range(24)))

    assert len({note["id"] for note in notes}) == 24
    assert client.get(app.url_path_for("notes"), params={"total": "true"}).json()["total"] == 24


def test_a_deleted_id_is_never_given_again(client: TestClient, app: Starlette) -> None:
    create(client, app, "kept")
    last = create(client, app, "deleted")
    assert client.delete(note_url(app, last["id"])).status_code == 204

    assert create(client, app, "new")["id"] > last["id"]


def test_validation_title_is_rfc_9110s(client: TestClient, app: Starlette) -> None:
    response = client.post(app.url_path_for("notes"), json={})

    assert assert_problem(response, 422)["title"] == "Unprocessable Content"


def test_input_of_the_wrong_json_type_is_refused_not_coerced(
    client: TestClient, app: Starlette
) -> None:
    class Flagged(Input):
        pinned: bool

    with pytest.raises(pydantic.ValidationError, match="pinned"):
        Flagged.model_validate_json(b'{"pinned": "yes"}')
    response = client.post(app.url_path_for("notes"), json={"title": "ok", "body": 5})
    assert [error["field"] for error in assert_problem(response, 422)["errors"]] == ["body"]
