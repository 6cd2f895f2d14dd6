"""Refuse answers that would render a broken project, before anything is written.

Each check prints one sentence saying what is wrong and how to fix it, then exits 1.
"""

import keyword
import re
import sys

PROJECT_SLUG = "{{ cookiecutter.project_slug }}"
PACKAGE_NAME = "{{ cookiecutter.package_name }}"
AUTHOR_EMAIL = "{{ cookiecutter.author_email }}"
VERSION = "{{ cookiecutter.version }}"

# Names the generated project imports, or that tools treat specially: a package called
# one of these would shadow the real module for the whole project.
RESERVED = {
    "alembic", "anyio", "app", "broadcaster", "conftest", "databases", "httpx", "jinja2",
    "migrations", "mypy", "pydantic", "pytest", "ruff", "scripts", "sqlalchemy", "starlette",
    "test", "tests", "uvicorn", "websockets",
}

SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PEP440 = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?")


def problem() -> str | None:
    if not SLUG.fullmatch(PROJECT_SLUG):
        return (
            f"project_slug {PROJECT_SLUG!r} is not a safe folder name: use lowercase letters, "
            "digits and single hyphens or underscores between them, e.g. 'my-service'."
        )
    if not PACKAGE_NAME.isidentifier() or not PACKAGE_NAME.isascii():
        return f"package_name {PACKAGE_NAME!r} is not a valid Python identifier, e.g. 'my_service'."
    if keyword.iskeyword(PACKAGE_NAME) or keyword.issoftkeyword(PACKAGE_NAME):
        return f"package_name {PACKAGE_NAME!r} is a Python keyword; choose another name."
    if PACKAGE_NAME != PACKAGE_NAME.lower():
        return f"package_name {PACKAGE_NAME!r} should be lowercase (PEP 8), e.g. 'my_service'."
    if PACKAGE_NAME in sys.stdlib_module_names or PACKAGE_NAME in RESERVED:
        return (
            f"package_name {PACKAGE_NAME!r} would shadow the module of the same name that the "
            "project imports; choose another name."
        )
    if not EMAIL.fullmatch(AUTHOR_EMAIL):
        return f"author_email {AUTHOR_EMAIL!r} is not an email address, e.g. 'you@example.com'."
    if not PEP440.fullmatch(VERSION):
        return f"version {VERSION!r} is not a PEP 440 version, e.g. '0.1.0'."
    return None


if __name__ == "__main__":
    reason = problem()
    if reason:
        print(f"ERROR: {reason}", file=sys.stderr)
        sys.exit(1)
