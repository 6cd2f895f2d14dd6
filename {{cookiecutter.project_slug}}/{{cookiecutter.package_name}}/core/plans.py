"""Statements compiled once and run straight on the driver: the speed behind `database.py`.

`databases` compiles every statement on every call and wraps every row it returns. A `Plan` is a
statement compiled once for the connection's dialect, with its driver-ready SQL, the order of its
arguments and its columns' type processors, so a call costs one dict lookup, one driver call and
one pass over the rows. Statements written once at module level (see `notes.py`) are found by
identity; raw SQL by its text; anything else is compiled for the call at hand. Outside a
transaction a plan runs on a connection taken straight from the driver's pool.

This needs a few private attributes of `databases` and SQLAlchemy, all listed in `PRIVATE`;
`tests/test_plans.py` checks each one on real objects, so an upgrade that drops one fails the
test suite with a sentence naming it, rather than failing in production.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, Insert, Select
from sqlalchemy.sql.compiler import SQLCompiler

Row = dict[str, Any]
Derived = TypeVar("Derived")

# True inside `Database.transaction()`: its queries run on the transaction's connection.
writing: ContextVar[bool] = ContextVar("writing", default=False)

# Private attributes read below, named "Class.attribute" after the class that defines them.
PRIVATE = {
    "databases": [
        "Database._backend",  # its backend, for the dialect and the SQLite pool
        "DatabaseBackend._dialect",  # the dialect it compiles for, which plans must match
        "SQLiteBackend._pool",  # replaced by `sqlite.SQLitePool`
        "PostgresBackend._pool",  # the asyncpg pool, borrowed from outside a transaction
        "MySQLBackend._pool",  # the aiomysql pool, likewise
        "SQLitePool._memref",  # the shared in-memory database's keep-alive connection
        "Connection._query_lock",  # taken while a plan runs, as `databases` does itself
        "Connection._connection_counter",  # a transaction's hold on its connection
    ],
    "sqlalchemy": [
        "SQLCompiler._bind_processors",  # each parameter's type conversion into the driver
        "SQLCompiler._result_columns",  # each result column's name and type
        "TypeEngine._cached_result_processor",  # each column's conversion out of the driver
    ],
}

MAX_PLANS = 1000  # statements built per call are compiled again; they must not fill memory


class Plans:
    """The plans of one database, by statement."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._plans: dict[Any, Plan] = {}
        self._derived: dict[Any, tuple[Any, Any]] = {}  # by (kind, id(source)): (source, derived)

    def get(self, query: ClauseElement | str) -> Plan:
        key = query if isinstance(query, str) else id(query)
        plan = self._plans.get(key)
        if plan is not None and (isinstance(query, str) or plan.statement is query):
            return plan
        plan = Plan(text(query) if isinstance(query, str) else query, self.dialect)
        if not plan.expanding:  # IN lists render a different SQL for each number of values
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def returning(self, statement: Insert) -> Insert:
        """`statement` returning every column of the new row, built once per statement."""
        return self._derive("returning", statement, lambda: statement.returning(*statement.table.c))

    def by_key(self, statement: Insert) -> Select[Any]:
        """The row of `statement`'s table whose single-column primary key is `:key`."""
        table = statement.table
        key = next(iter(table.primary_key))
        return self._derive("by_key", table, lambda: table.select().where(key == bindparam("key")))

    def _derive(self, kind: str, source: Any, build: Callable[[], Derived]) -> Derived:
        found = self._derived.get((kind, id(source)))
        if found is None or found[0] is not source:
            if len(self._derived) >= MAX_PLANS:
                self._derived.clear()
            found = self._derived[kind, id(source)] = (source, build())
        return found[1]


class Plan:
    """A statement compiled for a dialect: its driver SQL, argument order and type processors."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        self.sql = compiled.string
        self.compiled = compiled if isinstance(compiled, SQLCompiler) else None
        self.is_insert = self.is_write = self.expanding = self.plain = False
        self.names: list[str] | None = None  # None: the driver takes a dict of named values
        self.parameters: frozenset[str] = frozenset()
        self.binds: Mapping[str, Callable[[Any], Any]] = {}
        self.columns: list[str] = []
        self.results: list[Any] = []
        self.processed: list[tuple[str, Callable[[Any], Any]]] = []
        if self.compiled is not None:  # else DDL: no parameters, no rows
            self._describe(self.compiled, dialect)

    def _describe(self, compiled: SQLCompiler, dialect: Dialect) -> None:
        self.is_insert = bool(compiled.isinsert)
        self.is_write = bool(compiled.isinsert or compiled.isupdate or compiled.isdelete)
        self.expanding = any(bind.expanding for bind in compiled.binds.values())
        # Plain: every parameter is a `bindparam` without a value, which each call names.
        self.parameters = frozenset(compiled.binds)
        self.plain = not self.expanding and all(
            bind.required and bind.callable is None for bind in compiled.binds.values()
        )
        if dialect.paramstyle == "qmark":  # SQLite: positional, in the order of the SQL
            self.names = list(compiled.positiontup or ())
        elif dialect.name == "postgresql":  # asyncpg: $1, $2 ... in place of pyformat names
            self.names = sorted(compiled.params)  # as the SQL spells them, IN lists expanded
            self.sql = self.sql % {name: f"${n}" for n, name in enumerate(self.names, 1)}
        # Tuple-valued processors belong to IN lists, whose values arrive already expanded.
        self.binds = cast(Mapping[str, Callable[[Any], Any]], compiled._bind_processors)
        result_columns = compiled._result_columns or []
        # Plain str: SQLAlchemy's names are a subclass that orjson refuses as keys.
        self.columns = [str(column[0]) for column in result_columns]
        self.results = [
            column[3]._cached_result_processor(dialect, None) for column in result_columns
        ]
        # The columns that need a conversion out of the driver, and theirs.
        self.processed = [
            (name, process)
            for name, process in zip(self.columns, self.results, strict=True)
            if process is not None
        ]

    def arguments(self, values: Mapping[str, Any] | None) -> Any:
        """The driver's arguments for this call: the statement's own values, then `values`."""
        if self.compiled is None:
            return None
        if self.plain and values is not None and self.parameters <= values.keys():
            params = dict(values)  # what construct_params would return, in a fraction of the time
        else:
            given = dict(values) if values else None
            params = dict(self.compiled.construct_params(params=given) or {})
        for name, process in self.binds.items():
            if name in params:
                params[name] = process(params[name])
        if self.names is None:
            return params
        return [params[name] for name in self.names]

    def rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Row]:
        """Rows as dicts; `columns` are the driver's names, for SQL that declares none."""
        names = self.columns or columns  # raw SQL: untyped, named by the driver
        found = [dict(zip(names, row, strict=True)) for row in rows]
        for name, process in self.processed:
            for row in found:
                row[name] = process(row[name])
        return found

    def value(self, row: Sequence[Any]) -> Any:
        process = self.results[0] if self.results else None
        return row[0] if process is None else process(row[0])


# Running a plan on each driver's own connection. A read returns the column names and the rows;
# `execute` returns the new primary key of an insert, else the number of rows changed.

Run = Callable[[Any, Plan, Any, str], Awaitable[Any]]


async def run_aiosqlite(connection: Any, plan: Plan, arguments: Any, mode: str) -> Any:
    if mode == "execute":
        cursor = await connection.execute(plan.sql, arguments)
        try:
            return cursor.lastrowid if plan.is_insert else cursor.rowcount
        finally:
            await cursor.close()
    if plan.columns:  # one trip to aiosqlite's thread
        return plan.columns, await connection.execute_fetchall(plan.sql, arguments)
    async with connection.execute(plan.sql, arguments) as cursor:
        rows = await cursor.fetchall()
        return [column[0] for column in cursor.description or ()], rows


async def run_asyncpg(connection: Any, plan: Plan, arguments: Any, mode: str) -> Any:
    arguments = arguments or ()
    if mode == "execute":
        if plan.is_insert:  # the dialect adds RETURNING for the new key
            return await connection.fetchval(plan.sql, *arguments)
        status: str = await connection.execute(plan.sql, *arguments)  # e.g. "UPDATE 3"
        count = status.rpartition(" ")[2]
        return int(count) if count.isdigit() else 0
    if mode == "all":
        rows = await connection.fetch(plan.sql, *arguments)
    else:
        row = await connection.fetchrow(plan.sql, *arguments)
        rows = [] if row is None else [row]
    return plan.columns or (list(rows[0].keys()) if rows else []), rows


async def run_aiomysql(connection: Any, plan: Plan, arguments: Any, mode: str) -> Any:
    async with connection.cursor() as cursor:
        await cursor.execute(plan.sql, arguments)
        if mode == "execute":
            return cursor.lastrowid if plan.is_insert else cursor.rowcount
        rows = await cursor.fetchall() if mode == "all" else [await cursor.fetchone()]
        rows = [row for row in rows if row is not None]
        return plan.columns or [column[0] for column in cursor.description or ()], rows


RUN: dict[str, Run] = {"sqlite": run_aiosqlite, "postgresql": run_asyncpg, "mysql": run_aiomysql}
