"""Fixtures: a test database migrated once per run, emptied before each test, and an app on it.

Test databases are named from DATABASE_URL (`test_<name>`); the real database is never opened.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.config import Config
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.database import Database
from {{ cookiecutter.package_name }}.core.jobs_memory import Jobs as MemoryJobs
from {{ cookiecutter.package_name }}.core.settings import Settings
from {{ cookiecutter.package_name }}.tables import metadata

from .databases import create_database, drop_database, empty_tables, url_for_tests

ROOT = Path(__file__).parents[1]
_numbers = itertools.count(1)

# The queue this project was given (.env, or the environment, as in CI), for the worker's tests
# (tests/ops/test_worker.py). Every other app of the suite runs its jobs in its own process,
# whatever the environment says.
_env_file = ROOT / ".env"
JOBS_URL: str = Config(_env_file if _env_file.is_file() else None)("JOBS_URL", default="")
os.environ["JOBS_URL"] = "memory://"


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig(ROOT / "alembic.ini")
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture(scope="session")
def real_database_url() -> str:
    env_file = ROOT / ".env"
    url: str | None = Config(env_file if env_file.is_file() else None)("DATABASE_URL", default=None)
    if not url:
        pytest.fail("DATABASE_URL is not set; copy .env.example to .env or export it.")
    return url


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The broker BROADCAST_URL names, for the tests of a project that has one."""
    url: str = Config(_env_file if _env_file.is_file() else None)("BROADCAST_URL", default="")
    if url.startswith("memory") or not url:
        pytest.fail("BROADCAST_URL names no broker; set it in .env (see .env.example).")
    return url


@pytest.fixture(scope="session")
def test_database(real_database_url: str) -> Iterator[str]:
    """A test database migrated once with the real migrations, dropped at the end of the run."""
    url = url_for_tests(real_database_url)
    asyncio.run(create_database(url))
    try:
        command.upgrade(alembic_config(url), "head")
        yield url
    finally:
        asyncio.run(drop_database(url))


def fresh_database_url(real_database_url: str) -> str:
    return url_for_tests(real_database_url, suffix=f"_{os.getpid()}_{next(_numbers)}")


@pytest.fixture
def database_url(test_database: str) -> str:
    """The test database with every table emptied and every id counter restarted."""
    asyncio.run(empty_tables(test_database, metadata))
    return test_database


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test database opened with the app's own `Database`, for tests of queries."""
    database = Database(database_url)
    await database.connect()
    yield database
    await database.disconnect()


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Events in memory, whatever BROADCAST_URL says: test_broker.py tests the broker itself.
    return Settings(
        _env_file=None,
        database_url=database_url,
        allowed_hosts=("testserver",),
        broadcast_url="memory://",
        jobs_url="memory://",
    )


@pytest.fixture
def app(settings: Settings) -> Starlette:
    return create_app(settings)


def settle(client: TestClient) -> None:
    """Wait until the jobs the app has started (exports, mail) have ended: the suite's apps
    run them in their own process (JOBS_URL=memory://), after the response."""
    jobs = client.app_state["jobs"]
    assert isinstance(jobs, MemoryJobs) and client.portal is not None
    client.portal.call(jobs.idle)


@pytest.fixture
def client(app: Starlette, caller: dict[str, str]) -> Iterator[TestClient]:
    """A test client of `app`, sending the `caller` headers (tests/callers.py)."""
    with TestClient(app, headers=caller) as client:
        yield client


@pytest.fixture
def unreachable_database_url(real_database_url: str, tmp_path: Path) -> str:
    """A URL of the same backend where nothing answers: a closed port, or a missing folder."""
    url = make_url(real_database_url)
    if url.get_backend_name() == "sqlite":
        url = url.set(database=str(tmp_path / "missing" / "app.db"))
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = url.set(host="127.0.0.1", port=port)
    return url.render_as_string(hide_password=False)
