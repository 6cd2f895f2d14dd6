"""Traces over OpenTelemetry: a span per request (`Spans`), one per query
(`query`, called by database.py) and per Redis command, sent over OTLP/HTTP in batches.

Off while OTEL_EXPORTER_OTLP_ENDPOINT is empty. Of the requests that start a trace, the share
OTEL_TRACES_SAMPLER_ARG is traced, chosen before any span is made: the others cost nothing.
Each log line of a traced request carries its `trace_id` and `span_id`; each server span
carries the request id (`request.id`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.util.types import Attributes
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import EventDict, WrappedLogger

from .settings import ORIGIN, Settings, SettingsError, sentence

NOTHING: AbstractContextManager[None] = nullcontext()
# The tracer of the app serving this request, for the spans of its queries.
TRACER: ContextVar[trace.Tracer | None] = ContextVar("tracer", default=None)


class TracingSettings(BaseSettings):
    """The standard OTEL_* variables this app reads (see .env.example)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    otel_exporter_otlp_endpoint: str = ""  # e.g. http://127.0.0.1:4318; empty: no traces
    otel_service_name: str = Field("{{ cookiecutter.project_slug }}", min_length=1, max_length=255)
    otel_traces_sampler_arg: float = Field(1.0, ge=0, le=1)  # the share of requests traced

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def endpoint(cls, value: str) -> str:
        if value and not ORIGIN.fullmatch(value.rstrip("/").lower()):
            raise ValueError(
                f"OTEL_EXPORTER_OTLP_ENDPOINT {value!r} is not the base URL of an OTLP/HTTP "
                "receiver; write e.g. http://127.0.0.1:4318, or leave it empty for no traces."
            )
        return value.rstrip("/")


def load_tracing(**values: Any) -> TracingSettings:
    try:
        return TracingSettings(**values)
    except ValidationError as exc:
        raise SettingsError(sentence(exc.errors(include_url=False)[0])) from None


class Tracer:
    """What `start` gives `create_app`: the middleware to add, and `stop` for its lifespan."""

    def __init__(self, provider: TracerProvider | None, redis: bool, ratio: float = 1.0) -> None:
        self.provider = provider
        self.redis = redis
        self.middleware: list[Middleware] = []
        if provider is not None:
            tracer = provider.get_tracer(__name__)
            self.middleware = [Middleware(Spans, tracer=tracer, ratio=ratio)]

    async def stop(self) -> None:
        if self.provider is None:
            return
        if self.redis:
            from opentelemetry.instrumentation.redis import RedisInstrumentor

            RedisInstrumentor().uninstrument()
        # Sends what is still batched: a blocking HTTP call, off the event loop.
        await asyncio.to_thread(self.provider.shutdown)


def start(settings: Settings) -> Tracer:
    config = load_tracing()
    if not config.otel_exporter_otlp_endpoint:
        return Tracer(None, redis=False)
    provider = TracerProvider(
        resource=Resource.create({"service.name": config.otel_service_name}),
        sampler=ParentBased(Roots(config.otel_traces_sampler_arg)),
    )
    exporter = OTLPSpanExporter(endpoint=f"{config.otel_exporter_otlp_endpoint}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    redis = settings.broadcast_url.startswith(("redis:", "rediss:"))
    if redis:
        # Imported only with a Redis broker; the instrumentation patches redis-py, once.
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor().instrument(tracer_provider=provider)
    return Tracer(provider, redis, config.otel_traces_sampler_arg)


class Roots(Sampler):
    """Which new traces are kept: a request's, every one `Spans` starts (it has sampled the
    requests already, at OTEL_TRACES_SAMPLER_ARG); any other (a broker's command outside a
    request), that share of them. A span with a parent follows it (`ParentBased`)."""

    def __init__(self, ratio: float) -> None:
        self.ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: trace.SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        sampler = ALWAYS_ON if kind == trace.SpanKind.SERVER else self.ratio
        return sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"Roots({self.ratio.rate})"


class Headers(Getter[Scope]):
    """How the propagators read an incoming `traceparent` (and `baggage`) off an ASGI scope."""

    def get(self, scope: Scope, key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        found = [value.decode("latin-1") for header, value in scope["headers"] if header == name]
        return found or None

    def keys(self, scope: Scope) -> list[str]:
        return [header.decode("latin-1") for header, _ in scope["headers"]]


HEADERS = Headers()


class Spans:
    """A server span around each HTTP request, named after the matched route's template (as
    the metrics are), with the stable HTTP attributes and the request id that `Guard`, inside
    it, puts on responses; one around each WebSocket, from its handshake to its close, with
    the close code. A trace the caller started (`traceparent`) is continued.

    Written on the SDK's tracer rather than with opentelemetry-instrumentation-asgi, which
    costs four times as much per request (`benchmarks/tracing_cost.py`) for attributes this app
    does not send.
    """

    def __init__(self, app: ASGIApp, *, tracer: trace.Tracer, ratio: float = 1.0) -> None:
        self.app = app
        self.tracer = tracer
        self.ratio = ratio

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.dropped(scope):
            await self.app(scope, receive, send)
            return
        token = TRACER.set(self.tracer)
        try:
            if scope["type"] == "http":
                await self.request(scope, receive, send)
            else:
                await self.socket(scope, receive, send)
        finally:
            TRACER.reset(token)

    def dropped(self, scope: Scope) -> bool:
        """Whether the sampler would drop this request's trace: a new trace (the caller sent
        none) past the ratio. Decided here, so that a dropped request costs one random number
        rather than a span that records nothing."""
        if self.ratio >= 1 or random.random() < self.ratio:  # noqa: S311 - sampling, not secrets
            return False
        return not any(header == b"traceparent" for header, _ in scope["headers"])

    def span(self, name: str, scope: Scope, attributes: dict[str, Any]) -> Any:
        # The propagators only when the caller sent a trace: most requests carry none.
        traced = any(header == b"traceparent" for header, _ in scope["headers"])
        parent = propagate.extract(scope, getter=HEADERS) if traced else None
        attributes = {"url.path": scope["path"], "url.scheme": scope["scheme"], **attributes}
        return self.tracer.start_as_current_span(
            name, context=parent, kind=trace.SpanKind.SERVER, attributes=attributes
        )

    async def request(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        attributes = {
            "http.request.method": method,
            "network.protocol.version": scope["http_version"],
        }
        with self.span(method, scope, attributes) as span:
            started = False

            async def send_named(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start" and span.is_recording():
                    started = True
                    described(span, scope, message["status"], message.get("headers", ()))
                await send(message)

            try:
                await self.app(scope, receive, send_named)
            except Exception:  # the span records it; the server answers 500 outside here
                if not started and span.is_recording():
                    described(span, scope, 500, ())
                raise

    async def socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self.span("WEBSOCKET", scope, {"network.protocol.name": "websocket"}) as span:

            def closed(message: Message) -> None:
                if message["type"] in ("websocket.close", "websocket.disconnect"):
                    path = getattr(scope.get("route"), "path", None)
                    if path is not None and span.is_recording():
                        span.update_name(f"WEBSOCKET {path}")
                        span.set_attribute("http.route", path)
                    span.set_attribute("websocket.close.code", message.get("code", 1000))

            async def receive_closed() -> Message:
                message = await receive()
                closed(message)
                return message

            async def send_closed(message: Message) -> None:
                closed(message)
                await send(message)

            await self.app(scope, receive_closed, send_closed)


def described(span: trace.Span, scope: Scope, status: int, headers: Any) -> None:
    """What the response's start tells of the request: its route, status and request id."""
    path = getattr(scope.get("route"), "path", None)
    if path is not None:
        span.update_name(f"{scope['method']} {path}")
        span.set_attribute("http.route", path)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(trace.StatusCode.ERROR)
    for name, value in headers:
        if name.lower() == b"x-request-id":
            span.set_attribute("request.id", value.decode("latin-1"))


def query(sql: str, system: str) -> AbstractContextManager[Any]:
    """A span around one query of a traced request (a query outside one starts no trace)."""
    tracer = TRACER.get()
    if tracer is None or not trace.get_current_span().is_recording():
        return NOTHING
    operation = sql.split(None, 1)[0].upper() if sql else "QUERY"
    return tracer.start_as_current_span(
        f"{operation} {system}",
        kind=trace.SpanKind.CLIENT,
        attributes={
            "db.system.name": system,
            "db.operation.name": operation,
            "db.query.text": sql,  # with placeholders: the values are never in it
        },
    )


def add_trace_id(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """Adds the trace and span ids of the span being served to a log line."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


LOG_PROCESSORS = [add_trace_id]
