"""The ASGI entry point for servers: `uvicorn {{ cookiecutter.package_name }}.asgi:app`."""

from .app import create_app
from .settings import Settings

app = create_app(Settings.from_environ())
