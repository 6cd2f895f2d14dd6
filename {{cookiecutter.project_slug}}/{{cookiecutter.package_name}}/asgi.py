"""The ASGI entry point for servers: `uvicorn {{ cookiecutter.package_name }}.asgi:app`."""

import sys

from .app import create_app
from .settings import Settings, SettingsError

try:
    app = create_app(Settings.from_environ())
except SettingsError as exc:
    # One sentence, not a traceback: the message says what to change.
    sys.exit(f"Configuration error: {exc}")
