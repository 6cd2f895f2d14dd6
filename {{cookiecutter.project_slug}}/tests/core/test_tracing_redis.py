"""Traces of a project whose events go through Redis: publishing a note's event is a span of
the request that made it (the Redis instrumentation), sent to a real OTLP/HTTP receiver."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.settings import Settings

from ..receiver import Receiver, receiving
from .test_tracing import exported


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with receiving() as server:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.port}")
        yield server


def test_an_event_published_through_redis_is_a_span_of_its_request(
    receiver: Receiver, settings: Settings, caller: dict[str, str], broker_url: str
) -> None:
    channel = f"test-{uuid.uuid4().hex[:12]}"  # other tests share this Redis
    app = create_app(
        settings.model_copy(update={"broadcast_url": broker_url, "broadcast_channel": channel})
    )
    with TestClient(app, headers=caller) as client:
        response = client.post(app.url_path_for("notes"), json={"title": "Published"})
        assert response.status_code == 201, response.text

    spans, _ = exported(receiver)
    [server] = [span for span in spans if span.kind == Span.SPAN_KIND_SERVER]
    published = [span for span in spans if span.name == "PUBLISH"]
    assert [span.trace_id for span in published] == [server.trace_id], [s.name for s in spans]
    assert published[0].kind == Span.SPAN_KIND_CLIENT
