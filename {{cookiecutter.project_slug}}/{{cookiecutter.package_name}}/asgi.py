"""The ASGI entry point for servers: `uvicorn {{ cookiecutter.package_name }}.asgi:app`."""

import gc
import sys

from .app import create_app
from .core import logs
from .core.settings import SettingsError, load

try:
    settings = load()
    logs.configure_unless_done(settings.debug)
    app = create_app(settings)
except SettingsError as exc:
    # One sentence, not a traceback: the message says what to change.
    sys.exit(f"Configuration error: {exc}")

# What exists by now (modules, tables, the app) lasts as long as the process. Frozen, it is no
# longer walked by every full garbage collection, which otherwise took about a quarter of the
# time of a quick request (benchmarks/README.md).
gc.freeze()
