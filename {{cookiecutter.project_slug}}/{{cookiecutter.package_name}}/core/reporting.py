"""Error reports: none in this project (unhandled errors are logged, `logs.py`). The template's
`error_reporting=sentry` option replaces this module with one that sends them to Sentry.
"""

from __future__ import annotations

from .settings import Settings


class Reporter:
    """What `start` gives `create_app`: `stop`, for the end of its lifespan."""

    async def stop(self) -> None:
        return None


def start(settings: Settings) -> Reporter:
    return Reporter()
