"""The AWS Lambda entry point: API Gateway events through Mangum to the same app.

Set the function's handler to `{{ cookiecutter.package_name }}.ops.aws_lambda.handler`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from mangum import Mangum
from mangum.types import LambdaContext, LambdaEvent

from ..app import create_app
from ..core.settings import Settings, load


def create_handler(settings: Settings) -> Mangum:
    # Lambda may freeze the process between events, so the lifespan (database and broker
    # connections) runs around each event rather than once.
    return Mangum(create_app(settings), lifespan="on")


@cache
def default_handler() -> Mangum:
    # Built on the first event, from the function's environment variables.
    return create_handler(load())


def handler(event: LambdaEvent, context: LambdaContext) -> dict[str, Any]:
    return default_handler()(event, context)
