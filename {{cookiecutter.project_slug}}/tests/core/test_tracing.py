"""Traces, sent to a real OTLP/HTTP receiver (tests/receiver.py, on a free port); what the
exporter posts is decoded with opentelemetry-proto."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.logs import formatter
from {{ cookiecutter.package_name }}.core.settings import Settings, SettingsError
from {{ cookiecutter.package_name }}.core.tracing import TracingSettings, load_tracing

from ..receiver import Receiver, receiving

ROOT = Path(__file__).parents[2]


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with receiving() as server:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.port}")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "notes-under-test")
        yield server


def exported(receiver: Receiver) -> tuple[list[Span], set[str]]:
    """The spans posted to `receiver`, and the service names of their resources."""
    spans, services = [], set()
    for _, body in receiver.posts:
        for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    services.add(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    return spans, services


def attributes(span: Span) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in span.attributes:
        value = attribute.value
        values[attribute.key] = getattr(value, value.WhichOneof("value") or "string_value")
    return values


async def logs_a_line(request: Request) -> Response:
    logging.getLogger("{{ cookiecutter.package_name }}.test").warning("Inside the request")
    return Response(status_code=204)


def test_a_note_written_is_a_server_span_with_its_query(
    receiver: Receiver, settings: Settings, caller: dict[str, str]
) -> None:
    app = create_app(settings)
    with TestClient(app, headers=caller) as client:
        response = client.post(
            app.url_path_for("notes"),
            json={"title": "Traced", "body": "secret body"},
            headers={"X-Request-ID": "trace-me-1"},
        )
        assert response.status_code == 201, response.text
    # The lifespan's end sent the batch.

    assert receiver.posts and {path for path, _ in receiver.posts} == {"/v1/traces"}
    spans, services = exported(receiver)
    assert services == {"notes-under-test"}
    [server] = [span for span in spans if span.kind == Span.SPAN_KIND_SERVER]
    assert server.name == "POST /api/notes"
    found = attributes(server)
    assert found["http.request.method"] == "POST"
    assert found["http.route"] == "/api/notes"
    assert found["http.response.status_code"] == 201
    assert found["request.id"] == "trace-me-1"
    queries = [span for span in spans if span.parent_span_id == server.span_id]
    assert queries, [span.name for span in spans]
    system = settings.database_url.partition(":")[0].partition("+")[0]
    for query in queries:
        assert query.kind == Span.SPAN_KIND_CLIENT
        assert query.trace_id == server.trace_id
        assert attributes(query)["db.system.name"] == system
    statements = [attributes(query)["db.query.text"] for query in queries]
    assert any(statement.startswith("INSERT INTO notes") for statement in statements), statements
    # Placeholders, never the values.
    assert not any("secret body" in statement for statement in statements)


def test_a_trace_the_caller_started_is_continued_and_a_server_error_marked(
    receiver: Receiver, settings: Settings, caller: dict[str, str]
) -> None:
    app = create_app(settings)

    async def fails(request: Request) -> Response:
        raise RuntimeError("broken on purpose")

    app.router.routes.append(Route("/fails", fails))
    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    with TestClient(app, headers=caller, raise_server_exceptions=False) as client:
        response = client.get("/fails", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
        assert response.status_code == 500

    [server] = [span for span in exported(receiver)[0] if span.kind == Span.SPAN_KIND_SERVER]
    assert server.trace_id.hex() == trace_id
    assert server.parent_span_id.hex() == parent_id
    assert server.name == "GET /fails"
    assert attributes(server)["http.response.status_code"] == 500
    assert server.status.code == server.status.STATUS_CODE_ERROR


def test_a_websocket_is_one_server_span_from_handshake_to_close(
    receiver: Receiver, settings: Settings, caller: dict[str, str]
) -> None:
    app = create_app(settings)
    with TestClient(app, headers=caller) as client:
        with client.websocket_connect(app.url_path_for("notes_socket")) as socket:
            socket.send_json({"type": "ping"})
            assert socket.receive_json() == {"type": "pong"}
            socket.send_text("not json")  # a bad frame: the server closes the socket
            with pytest.raises(WebSocketDisconnect):
                socket.receive_text()

    [server] = [span for span in exported(receiver)[0] if span.kind == Span.SPAN_KIND_SERVER]
    assert server.name == "WEBSOCKET /ws/notes"
    found = attributes(server)
    assert found["http.route"] == "/ws/notes"
    assert found["url.scheme"] == "ws"
    assert found["websocket.close.code"] == 1008
    assert server.end_time_unix_nano > server.start_time_unix_nano


def test_the_sampled_share_of_requests_is_traced_whole_and_a_callers_trace_always(
    receiver: Receiver, settings: Settings, caller: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.5")
    app = create_app(settings)
    sampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with TestClient(app, headers=caller) as client:
        for _ in range(200):
            assert client.get("/api/notes").status_code == 200
        assert client.get("/api/notes", headers={"traceparent": sampled}).status_code == 200

    spans, _ = exported(receiver)
    servers = [span for span in spans if span.kind == Span.SPAN_KIND_SERVER]
    continued = [span for span in servers if span.trace_id.hex() == sampled[3:35]]
    # Half of 200, sampled once: 60 to 140 all but always (sampled twice it would be 50).
    assert len(continued) == 1 and 60 <= len(servers) - 1 <= 140, len(servers)
    queried = {span.parent_span_id for span in spans if span.kind == Span.SPAN_KIND_CLIENT}
    assert all(server.span_id in queried for server in servers)  # each with its queries


def test_every_log_line_of_a_request_carries_its_trace_id(
    receiver: Receiver, settings: Settings, caller: dict[str, str]
) -> None:
    app = create_app(settings)
    app.router.routes.append(Route("/logs-a-line", logs_a_line, name="logs_a_line"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter())
    logging.getLogger().addHandler(handler)
    try:
        with TestClient(app, headers=caller) as client:
            assert client.get("/logs-a-line").status_code == 204
    finally:
        logging.getLogger().removeHandler(handler)

    spans, _ = exported(receiver)
    [server] = [span for span in spans if span.kind == Span.SPAN_KIND_SERVER]
    [line] = [json.loads(line) for line in stream.getvalue().splitlines() if "Inside" in line]
    assert line["trace_id"] == server.trace_id.hex()
    assert line["span_id"] == server.span_id.hex()
    assert line["request_id"] == attributes(server)["request.id"]


def test_without_an_endpoint_nothing_is_traced(
    settings: Settings, caller: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    app = create_app(settings)

    assert not any("Spans" in repr(middleware.cls) for middleware in app.user_middleware)


@pytest.mark.parametrize(
    ("values", "sentence"),
    [
        (
            {"otel_exporter_otlp_endpoint": "collector:4318"},
            "OTEL_EXPORTER_OTLP_ENDPOINT 'collector:4318' is not the base URL of an OTLP/HTTP",
        ),
        ({"otel_traces_sampler_arg": 2}, "OTEL_TRACES_SAMPLER_ARG=2 is not valid: input should"),
        ({"otel_service_name": ""}, "OTEL_SERVICE_NAME='' is not valid"),
    ],
)
def test_bad_values_are_refused_in_one_sentence(values: dict[str, Any], sentence: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_tracing(_env_file=None, **values)

    assert str(refused.value).startswith(sentence)
    assert "\n" not in str(refused.value)


def test_env_example_documents_every_tracing_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    documented = {line.split("=")[0] for line in example.splitlines() if line.startswith("OTEL_")}

    assert documented == {name.upper() for name in TracingSettings.model_fields}
