"""What the service says about itself: its name, on pages and in the API's document, and its
version, which pyproject.toml sets (and nothing else repeats)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

# The project's name as ruff formats a literal: in double quotes, unless it holds more of them
# than of single quotes.
TITLE = {{ ("'" ~ cookiecutter.project_name | replace('\\', '\\\\') | replace("'", "\\'") ~ "'") if cookiecutter.project_name.count('"') > cookiecutter.project_name.count("'") else ('"' ~ cookiecutter.project_name | replace('\\', '\\\\') | replace('"', '\\"') ~ '"') }}
PACKAGE = __name__.partition(".")[0]
# In a checkout, the project's own pyproject.toml, beside the package.
PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


@cache
def version() -> str:
    """The checkout's version where there is one (an editable install's metadata is as old as
    the install), else the installed distribution's."""
    if PYPROJECT.is_file():
        found: str = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
        return found
    (distribution,) = metadata.packages_distributions()[PACKAGE]
    return metadata.version(distribution)
