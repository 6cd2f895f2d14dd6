"""Alembic runs this for every command: it migrates the app's database to `tables.metadata`.

The URL is the app's own async `DATABASE_URL` (tests pass theirs in `config.attributes`).
"""

import asyncio
import traceback
from logging.config import fileConfig
from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.operations.ops import (
    AddColumnOp,
    DropColumnOp,
    DropConstraintOp,
    DropIndexOp,
    DropTableOp,
    MigrationScript,
    ModifyTableOps,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import conv

from {{ cookiecutter.package_name }}.core.database import is_missing_database, missing_database
from {{ cookiecutter.package_name }}.core.metadata import Instant
from {{ cookiecutter.package_name }}.core.settings import SettingsError, load

try:  # every feature, so a table change that breaks the app's code stops here
    from {{ cookiecutter.package_name }}.tables import metadata
except Exception as exc:
    where = traceback.extract_tb(exc.__traceback__)[-1]
    raise SystemExit(
        f"The app does not import, so its tables cannot be migrated: {exc!r} at "
        f"{where.filename}:{where.lineno} (code that names a renamed column or table?)."
    ) from None

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)


def database_url() -> str:
    given = config.attributes.get("database_url")
    try:
        return load(**({"database_url": given} if given else {})).database_url
    except SettingsError as exc:
        raise SystemExit(f"Configuration error: {exc}") from None


def render_item(kind: str, item: Any, autogen: AutogenContext) -> str | Literal[False]:
    """What autogenerate writes for a type or a default: the portable spelling, so a revision
    made on one backend runs on the others."""
    # Autogenerate compiles a default for the database at hand: sa.false() becomes '0' on
    # SQLite, which PostgreSQL refuses. The construct itself runs on every backend. A default
    # read back from a database (a downgrade's) is its text: CURRENT_TIMESTAMP, say.
    if kind == "server_default" and isinstance(item, sa.DefaultClause):
        if isinstance(item.arg, sa.sql.elements.True_):
            return "sa.true()"
        if isinstance(item.arg, sa.sql.elements.False_):
            return "sa.false()"
        if str(getattr(item.arg, "text", item.arg)).strip("()").upper() == "CURRENT_TIMESTAMP":
            return "sa.func.current_timestamp()"
    if kind == "type" and isinstance(item, Instant):
        return "sa.DateTime(timezone=True)"  # the app's type, without importing the app
    # A type read back from a database (a downgrade's) is the database's own spelling:
    # sa.DATETIME() on SQLite; written as SQLAlchemy's generic type instead.
    read_back = type(item).__name__.isupper() or type(item).__module__.startswith(
        "sqlalchemy.dialects."
    )
    if kind == "type" and read_back:
        try:
            return f"sa.{item.as_generic()!r}"
        except NotImplementedError:
            return False
    return False


def no_leftovers(name: str | None, kind: str, parents: Any) -> bool:
    # A failed batch migration on SQLite can leave its copy behind, and a job queue on this
    # database keeps its own tables (saq creates and migrates them): none is the app's.
    return not (kind == "table" and (name or "").startswith((LEFTOVER, JOB_QUEUE_TABLES)))


def review(context: Any, revision: Any, directives: list[MigrationScript]) -> None:
    """Stop autogenerate, in one sentence and before any file is written, where its output
    would lose data or fail on another backend; drop an enum's CHECK before its column, and a
    table without its indexes first."""
    for table in metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, sa.Enum) and column.type.native_enum:
                raise SystemExit(
                    f"{table.name}.{column.name} is a native enum, which does not migrate the "
                    "same way on every backend: declare it sa.Enum(..., native_enum=False, "
                    "create_constraint=True, length=20) (a checked string on all three)."
                )
    for script in directives:
        for operations in script.upgrade_ops.ops if script.upgrade_ops else []:
            if not isinstance(operations, ModifyTableOps):
                continue
            added = [op.column.name for op in operations.ops if isinstance(op, AddColumnOp)]
            dropped = [op.column_name for op in operations.ops if isinstance(op, DropColumnOp)]
            if added and dropped:
                raise SystemExit(
                    f"This revision would drop {', '.join(dropped)} and add "
                    f"{', '.join(added)} in {operations.table_name}, losing the values: for a "
                    f"rename write op.alter_column({operations.table_name!r}, {dropped[0]!r}, "
                    f"new_column_name={added[0]!r}) in a revision of your own (scripts/migrate "
                    "revision -m ...), or add and drop in two revisions."
                )
        if script.downgrade_ops:
            script.downgrade_ops.ops = tables_whole(script.downgrade_ops.ops)
        for operations in script.downgrade_ops.ops if script.downgrade_ops else []:
            if isinstance(operations, ModifyTableOps):
                operations.ops = checks_first(operations.table_name, operations.ops)


def tables_whole(operations: list[Any]) -> list[Any]:
    """`operations` without the drops of a dropped table's indexes (on SQLite, in a batch of
    their own): the table takes them along, and MySQL refuses to drop one a foreign key needs,
    as the `owner_id` of a table whose rows belong to someone."""
    dropped = {op.table_name for op in operations if isinstance(op, DropTableOp)}
    return [
        op
        for op in operations
        if not (isinstance(op, DropIndexOp | ModifyTableOps) and op.table_name in dropped)
    ]


def checks_first(table: str, operations: list[Any]) -> list[Any]:
    """`operations` with each checked enum's CHECK dropped before its column: SQLite's batch
    copy would keep the CHECK, naming a column that is gone."""
    ordered = []
    for op in operations:
        if isinstance(op, DropColumnOp):
            column = op.to_column()
            if isinstance(column.type, sa.Enum) and column.type.create_constraint:
                name = conv(f"ck_{table}_{column.type.name or column.name}")  # the convention's
                ordered.append(DropConstraintOp(name, table, type_="check"))
        ordered.append(op)
    return ordered


LEFTOVER = "_alembic_tmp_"
JOB_QUEUE_TABLES = "saq_"  # saq_jobs, saq_stats, saq_versions (JOBS_URL on this database)
BOOLEANS = {"0": False, "false": False, "1": True, "true": True}


def boolean_default_changed(
    context: Any, inspected: Any, column: sa.Column[Any], found: str | None, *_: Any
) -> bool | None:
    # SQLite and MySQL store sa.false() as 0: the same default, not a change to migrate.
    default = column.server_default
    if found is None or not isinstance(default, sa.DefaultClause):
        return None  # Alembic's own comparison
    if not isinstance(default.arg, sa.sql.elements.False_ | sa.sql.elements.True_):
        return None
    wanted = isinstance(default.arg, sa.sql.elements.True_)
    return BOOLEANS.get(found.strip("'\"").lower()) is not wanted


def keep_autoincrement(inspector: sa.Inspector, table: sa.Table, column: Any) -> None:
    # A batch migration on SQLite copies the table as reflected, and reflection misses
    # AUTOINCREMENT: the copy would hand out the ids of deleted rows again.
    bind = inspector.bind  # the migration's connection
    if not isinstance(bind, Connection) or bind.dialect.name != "sqlite":
        return
    if table.dialect_options["sqlite"]["autoincrement"]:
        return  # found already, for an earlier column
    found = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
    ).scalar()
    if found is not None and "AUTOINCREMENT" in found.upper():
        table.dialect_kwargs["sqlite_autoincrement"] = True


def configure(connection: Connection | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else None
    context.configure(
        connection=connection,
        url=None if connection is not None else database_url(),
        target_metadata=metadata,
        compare_server_default=boolean_default_changed,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=dialect == "sqlite",
        literal_binds=connection is None,
        render_item=render_item,
        include_name=no_leftovers,
        process_revision_directives=review,
    )


def drop_leftovers(connection: Connection) -> None:
    """Drop what a failed batch migration left on SQLite, so the next one can run."""
    if connection.dialect.name != "sqlite":
        return
    found = connection.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB ?", (f"{LEFTOVER}*",)
    ).scalars()
    for name in list(found):
        connection.exec_driver_sql(f'DROP TABLE "{name}"')
    if connection.in_transaction():
        connection.commit()


def migrate(connection: Connection) -> None:
    drop_leftovers(connection)
    configure(connection)
    # Only while migrating: tests run this file many times in one process.
    sa.event.listen(sa.Table, "column_reflect", keep_autoincrement)
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        sa.event.remove(sa.Table, "column_reflect", keep_autoincrement)


async def migrate_online() -> None:
    engine = create_async_engine(database_url(), poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(migrate)
    await engine.dispose()


if context.is_offline_mode():
    configure()
    with context.begin_transaction():
        context.run_migrations()
else:
    try:
        asyncio.run(migrate_online())
    except Exception as exc:
        if not is_missing_database(exc):
            raise
        sentence = missing_database(database_url())
        raise SystemExit(f"{sentence[0].upper()}{sentence[1:]}, then run this again.") from None
