"""The whole schema: every feature's tables, on one `MetaData`. Alembic migrates from this.

Each feature declares its tables in its own folder (notes/table.py, for one); importing the
features below declares them all.
"""

from . import features  # noqa: F401 - imported for the tables its features declare
from .core.metadata import metadata
from .web import idempotency  # noqa: F401 - and for the idempotency keys' table

__all__ = ["metadata"]
