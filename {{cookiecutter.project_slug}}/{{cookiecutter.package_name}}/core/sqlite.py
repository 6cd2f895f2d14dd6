"""SQLite's connections: one shared by readers, one for writes, which take turns on it.

SQLite runs one writer at a time. Writes queue here, in the app, rather than on the database
file's lock, where a waiting connection would sleep and retry (and block its thread meanwhile).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .plans import writing


class WriterTurns:
    """Single writes share the writer connection freely; a transaction has it to itself.

    Single writes (autocommit statements) go straight into the connection's queue, which its
    thread runs back to back. A transaction waits for those in flight to finish, and new ones
    wait for it to end, so none of them becomes part of it.
    """

    def __init__(self) -> None:
        self._transaction = asyncio.Lock()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @asynccontextmanager
    async def single(self) -> AsyncIterator[None]:
        while self._transaction.locked():
            async with self._transaction:  # wait for the transaction to end
                pass
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self._transaction:
            await self._idle.wait()
            yield


class SQLitePool:
    """Two long-lived SQLite connections in WAL mode: one shared by every reader, one writer.

    `databases` would open a connection (a thread, with aiosqlite) for every query. Here all
    reads outside a transaction share one connection, whose thread runs them back to back;
    transactions and single writes get the writer connection, taking turns (`WriterTurns`).
    """

    def __init__(self, opener: Any) -> None:
        self._opener = opener
        self._shared: Any = None
        self._writer: Any = None
        self._opening = asyncio.Lock()

    @property
    def _memref(self) -> sqlite3.Connection | None:
        # `databases` reads and clears this on its pool at disconnect: pass both to the real one.
        memref: sqlite3.Connection | None = self._opener._memref
        return memref

    @_memref.setter
    def _memref(self, value: sqlite3.Connection | None) -> None:
        if value is None and self._opener._memref is not None:
            self._opener._memref.close()
        self._opener._memref = value

    async def acquire(self) -> Any:
        """The connection `databases` asks for: the writer inside a transaction."""
        return await (self.writer() if writing.get() else self.shared())

    async def shared(self) -> Any:
        return self._shared or await self._open("_shared")

    async def writer(self) -> Any:
        return self._writer or await self._open("_writer")

    async def _open(self, role: str) -> Any:
        async with self._opening:
            if getattr(self, role) is None:
                connection = await self._opener.acquire()
                await connection.execute("PRAGMA journal_mode = WAL")
                await connection.execute("PRAGMA synchronous = NORMAL")
                setattr(self, role, connection)
        return getattr(self, role)

    async def release(self, connection: Any) -> None:
        if connection.in_transaction:  # a failure left it mid-transaction: start afresh
            await self._forget(connection)

    async def close(self) -> None:
        for connection in (self._shared, self._writer):
            if connection is not None:
                await self._forget(connection)

    async def _forget(self, connection: Any) -> None:
        if connection is self._shared:
            self._shared = None
        if connection is self._writer:
            self._writer = None
        await self._opener.release(connection)
