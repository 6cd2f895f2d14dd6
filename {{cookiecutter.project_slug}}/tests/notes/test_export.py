"""Exports of the notes, run as jobs in the app's process (JOBS_URL=memory://, as the suite's
apps are set up): the answer, the progress and end its caller's sockets hear, the file.
tests/ops/test_worker.py runs one on a real worker, where the project has a queue."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.notes import export

from ..conftest import settle


def test_an_export_is_a_file_of_the_callers_notes(client: TestClient, app: Starlette) -> None:
    titles = [f"note {number}" for number in range(3)]
    for title in titles:
        client.post(app.url_path_for("notes"), json={"title": title})

    started = client.post(app.url_path_for("exports"))
    assert started.status_code == 202
    export_id = started.json()["id"]
    assert started.headers["location"].endswith(app.url_path_for("export", id=export_id))
    settle(client)
    shown = client.get(started.headers["location"]).json()
    file = client.get(shown["file"])

    assert shown == {**shown, "id": export_id, "status": "complete", "progress": 1.0}
    assert file.headers["content-disposition"] == f'attachment; filename="notes-{export_id}.json"'
    assert [note["title"] for note in file.json()["notes"]] == titles
    assert file.json()["truncated"] is False


def test_the_callers_socket_hears_the_exports_progress_and_end(
    client: TestClient, app: Starlette
) -> None:
    with client.websocket_connect(app.url_path_for("notes_socket")) as socket:
        socket.send_json({"type": "ping"})
        assert socket.receive_json() == {"type": "pong"}  # subscribed
        client.post(app.url_path_for("notes"), json={"title": "one"})
        assert socket.receive_json()["type"] == "note.created"
        export_id = client.post(app.url_path_for("exports")).json()["id"]
        settle(client)
        progress = socket.receive_json()
        done = socket.receive_json()

    assert progress["type"] == "job.progress"
    assert progress["job"] == {"key": export_id, "progress": 1.0}
    assert done["type"] == "job.done"
    assert done["job"] == {"key": export_id, "status": "complete"}


def test_an_export_reads_page_after_page(client: TestClient, app: Starlette) -> None:
    notes = export.PAGE + 5
    for number in range(notes):
        client.post(app.url_path_for("notes"), json={"title": f"note {number}"})

    export_id = client.post(app.url_path_for("exports")).json()["id"]
    settle(client)
    exported = client.get(app.url_path_for("export_file", id=export_id)).json()["notes"]

    assert [note["title"] for note in exported] == [f"note {number}" for number in range(notes)]


def test_an_unknown_export_is_not_found(client: TestClient, app: Starlette) -> None:
    for path in (
        app.url_path_for("export", id="nothing-here"),
        app.url_path_for("export_file", id="nothing-here"),
        app.url_path_for("export", id="x" * 65),
    ):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
