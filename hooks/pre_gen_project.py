"""Refuse answers that would render a broken project, before anything is written.

Each check prints one sentence saying what is wrong and how to fix it, then exits 1.
"""

import json
import keyword
import os
import re
import sys
import unicodedata
from pathlib import Path

from slugify import slugify

# Every answer, as JSON: a quote in an answer cannot break this file.
CONTEXT = json.loads(r"""{{ cookiecutter | jsonify }}""")
PROJECT_NAME = CONTEXT["project_name"]
PROJECT_SLUG = CONTEXT["project_slug"]
PACKAGE_NAME = CONTEXT["package_name"]
AUTHOR_EMAIL = CONTEXT["author_email"]
VERSION = CONTEXT["version"]
DATABASE = CONTEXT["database"]
KUBERNETES = CONTEXT["kubernetes"]
BROADCAST = CONTEXT["broadcast"]
JOBS = CONTEXT["jobs"]

# Top-level names a package may not take besides the project's own folders (read from the
# template): it would collide with them, or shadow pytest's and the tests' imports.
ALSO_RESERVED = {"app", "conftest", "test"}

SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PEP440 = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?")
# A Kubernetes Service name (an RFC 1035 label), with room for the migration Job's "-migrate".
KUBERNETES_NAME = re.compile(r"[a-z]([-a-z0-9]{0,53}[a-z0-9])?")


def template_repository() -> Path:
    """This template's folder; cookiecutter passes it relative to where it was started."""
    given = Path(CONTEXT.get("_repo_dir", "."))  # cruft renders without it, from the folder
    if given.is_absolute():
        return given
    # cookiecutter runs this hook from inside the template's folder (this process's cwd is the
    # new project's): its own working directory is the answer, where the system shows it.
    parent = Path(f"/proc/{os.getppid()}/cwd")
    if parent.exists():
        return parent.resolve()
    return Path(os.environ.get("PWD", ".")) / given  # the shell's directory when it started


def locked_modules(template: Path) -> set[str]:
    """The top-level modules of every distribution in the template's lock, so of everything a
    rendered project imports, directly or through its dependencies (the template's
    scripts/modules writes the list from the lock)."""
    listing = json.loads((template / "hooks" / "locked_modules.json").read_text())
    return {module.lower() for modules in listing.values() for module in modules}


def own_folders(template: Path) -> set[str]:
    """The rendered project's top-level folders (docs, migrations, tests, ...)."""
    project = next(template.glob("*cookiecutter.project_slug*"))
    return {path.name for path in project.iterdir() if path.is_dir()}


def problem() -> str | None:
    missing = [
        name for name in ("pyproject.toml", "uv.lock", "hooks/pins.py")
        if not (template_repository() / name).is_file()
    ]
    if missing:
        # The post-generation hook takes the project's dependencies and lock from these.
        return (
            f"the template at {template_repository()} lacks {', '.join(missing)}; render from "
            "a whole checkout or archive of the template repository."
        )
    if any(unicodedata.category(character) == "Cc" for character in PROJECT_NAME):
        return (
            f"project_name {PROJECT_NAME!r} holds a control character (a line break or tab, "
            "say), which would break the files it is written into; give it on one line."
        )
    if not SLUG.fullmatch(PROJECT_SLUG) and not slugify(PROJECT_NAME):
        # cookiecutter.json turns such a name into the slug "-", which lands here.
        return (
            f"project_name {PROJECT_NAME!r} has no letter or digit to name the project folder "
            "after; give a name such as 'My Service', or set project_slug."
        )
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
    template = template_repository()
    reserved = sys.stdlib_module_names | locked_modules(template) | own_folders(template)
    if PACKAGE_NAME in reserved | ALSO_RESERVED:
        return (
            f"package_name {PACKAGE_NAME!r} would shadow the module of the same name that the "
            "project imports; choose another name."
        )
    if not EMAIL.fullmatch(AUTHOR_EMAIL):
        return f"author_email {AUTHOR_EMAIL!r} is not an email address, e.g. 'you@example.com'."
    if not PEP440.fullmatch(VERSION):
        return f"version {VERSION!r} is not a PEP 440 version, e.g. '0.1.0'."
    if KUBERNETES == "yes" and DATABASE == "sqlite":
        return (
            "kubernetes=yes needs a database server, since every pod and the migration Job "
            "would each get a SQLite file of their own; choose database=postgresql or mysql."
        )
    if KUBERNETES == "yes" and BROADCAST == "memory":
        return (
            "kubernetes=yes runs 2 to 10 pods, whose WebSocket clients hear of each other's "
            "changes only through a broker; choose broadcast=redis, or broadcast=postgres "
            "with database=postgresql."
        )
    if KUBERNETES == "yes" and not KUBERNETES_NAME.fullmatch(PROJECT_SLUG):
        return (
            f"kubernetes=yes names its objects after project_slug {PROJECT_SLUG!r}, but a "
            "Kubernetes Service name starts with a letter and holds only lowercase letters, "
            "digits and hyphens (55 at most here); set project_slug, e.g. 'notes-3d'."
        )
    if BROADCAST == "postgres" and DATABASE != "postgresql":
        return (
            f"broadcast=postgres uses LISTEN/NOTIFY on the app's PostgreSQL database, but "
            f"database={DATABASE}; choose database=postgresql, or broadcast=redis or memory."
        )
    if JOBS == "postgres" and DATABASE != "postgresql":
        return (
            f"jobs=postgres keeps its queue in the app's PostgreSQL database, but "
            f"database={DATABASE}; choose database=postgresql, or jobs=redis or none."
        )
    if JOBS != "none" and BROADCAST == "memory":
        return (
            f"jobs={JOBS} runs jobs in a worker process, whose progress events reach the web "
            "process's WebSockets only through a broker; choose broadcast=redis, or "
            "broadcast=postgres with database=postgresql."
        )
    return None


if __name__ == "__main__":
    reason = problem()
    if reason:
        print(f"ERROR: {reason}", file=sys.stderr)
        sys.exit(1)
