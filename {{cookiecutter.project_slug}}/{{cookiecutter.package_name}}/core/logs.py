"""Logging: one handler for the app and the servers, JSON lines in production, readable in
development (DEBUG=true), each line of a request carrying its request id.

Modules log with the standard library (`logging.getLogger(__name__)`); structlog formats.
"""

from __future__ import annotations

import logging
import logging.config
import random
import re
from contextvars import ContextVar
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

from . import tracing

# A caller's id is kept when it is short and plain, so it cannot forge or flood log lines.
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# The id of the request this task serves: one context variable, set and reset per request,
# costs less than binding structlog's per-key ones.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

# The servers' own loggers, sent through the same handler.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "_granian", "granian.access")


def formatter(debug: bool = False) -> logging.Formatter:
    renderer: Any = structlog.processors.JSONRenderer()
    if debug:
        traceback = structlog.dev.plain_traceback
        renderer = structlog.dev.ConsoleRenderer(colors=False, exception_formatter=traceback)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            add_request_id,
            *tracing.LOG_PROCESSORS,  # the trace id, when traces are on
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # JSON: the traceback becomes one field of the one line.
            *([] if debug else [structlog.processors.format_exc_info]),
            renderer,
        ],
    )


def config(debug: bool) -> dict[str, Any]:
    """A `logging.config.dictConfig` for this process, or for a server to load from a file."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {"()": f"{__name__}.formatter", "debug": debug},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "stream": "ext://sys.stderr",
            },
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {name: {"handlers": [], "propagate": True} for name in SERVER_LOGGERS},
    }


def configure(debug: bool) -> None:
    logging.config.dictConfig(config(debug))


def configure_unless_done(debug: bool) -> None:
    """Configure, unless the server loaded `config` already (scripts/start has it do so): its
    options, such as no access lines, then stay as it set them."""
    handlers = logging.getLogger().handlers
    if not any(isinstance(h.formatter, structlog.stdlib.ProcessorFormatter) for h in handlers):
        configure(debug)


def request_id(caller_id: bytes | None) -> str:
    """The caller's `X-Request-ID` when it is safe to log, else a new id."""
    if caller_id is not None and _SAFE_ID.fullmatch(caller_id):
        return caller_id.decode()
    # Unique, not secret: Python's generator (reseeded in each forked worker) makes no system
    # call, where uuid4 reads os.urandom on every request.
    return f"{random.getrandbits(128):032x}"


def add_request_id(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """Adds the id of the request being served (see `middleware.Guard`) to a log line."""
    current = REQUEST_ID.get()
    if current is not None:
        event.setdefault("request_id", current)
    return event
