"""What an outage is: the errors each driver raises when the database server is down or the
connection is lost, turned into `DatabaseUnavailable` (or `OutcomeUnknown`, past a write)."""

from __future__ import annotations

import importlib

from . import metrics


class DatabaseUnavailable(Exception):
    """The database server did not answer; the request may succeed later."""


class DatabaseMissing(DatabaseUnavailable):
    """The server answers, but the database DATABASE_URL names has not been created yet."""


class OutcomeUnknown(DatabaseUnavailable):
    """The connection was lost after a write was sent, so it may or may not have been committed:
    only a retry with the same `Idempotency-Key` can tell."""


_MYSQL_LOST = {2003, 2006, 2013, 2055}  # can't connect, gone away, lost during query, lost
_SQLITE_BUSY = ("unable to open database file", "database is locked")


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, OSError | TimeoutError):
        return True
    module = type(exc).__module__.split(".")[0]
    if module == "asyncpg":
        asyncpg = importlib.import_module("asyncpg")
        lost = (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.exceptions.OperatorInterventionError,
            asyncpg.exceptions.CannotConnectNowError,
        )
        return isinstance(exc, lost)
    if module in {"pymysql", "asyncmy"}:
        code = exc.args[0] if exc.args else None
        return code in _MYSQL_LOST or type(exc).__name__ == "InterfaceError"
    if module == "sqlite3":
        return any(message in str(exc) for message in _SQLITE_BUSY)
    return False


class Outages:
    """Turns a driver's connection errors into `DatabaseUnavailable`; other errors pass.

    A class rather than a `@contextmanager` generator: it wraps every query, and entering and
    leaving it costs a quarter as much (0.15 µs against 0.68 µs here).
    """

    __slots__ = ("unknown",)

    def __init__(self, unknown: bool = False) -> None:
        self.unknown = unknown  # whether a write may have been committed when one happens

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        if isinstance(exc, Exception) and is_outage(exc):
            metrics.DATABASE_UNAVAILABLE.inc()
            lost = OutcomeUnknown if self.unknown else DatabaseUnavailable
            raise lost(f"{type(exc).__name__}: {exc}") from exc
