"""Finish the rendered project: drop the files the chosen options do not use, write `.env`.

Hermetic: no network, no installs. The next steps are printed at the end.
"""

import secrets
import shutil
from pathlib import Path

DATABASE = "{{ cookiecutter.database }}"
PACKAGE = "{{ cookiecutter.package_name }}"

# Option value -> paths (relative to the project) that the choice does not need.
UNUSED: dict[tuple[str, str], list[str]] = {
    # SQLite has no server to lose, so there is no outage to simulate.
    ("database", "sqlite"): ["tests/test_outage.py"],
}

# Local defaults for each database; the template's README says how to point them elsewhere.
DATABASE_URLS = {
    "sqlite": f"sqlite+aiosqlite:///./{PACKAGE}.db",
    "postgresql": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PACKAGE}",
    "mysql": f"mysql+aiomysql://root@127.0.0.1:3306/{PACKAGE}",
}


def remove_unused(options: dict[str, str]) -> None:
    for option, value in options.items():
        for relative in UNUSED.get((option, value), []):
            path = Path(relative)
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


def write_env() -> None:
    example = Path(".env.example").read_text()
    lines = []
    for line in example.splitlines():
        if line.startswith("SECRET_KEY="):
            line = f"SECRET_KEY={secrets.token_urlsafe(48)}"
        elif line.startswith("DATABASE_URL="):
            line = f"DATABASE_URL={DATABASE_URLS[DATABASE]}"
        elif line.startswith("DEBUG="):
            line = "DEBUG=true"
        lines.append(line)
    env = Path(".env")
    env.write_text("\n".join(lines) + "\n")
    env.chmod(0o600)


if __name__ == "__main__":
    remove_unused({"database": DATABASE})
    write_env()
    print(
        f"Rendered {Path.cwd().name}. Next:\n"
        f"  cd {Path.cwd().name}\n"
        "  scripts/install && scripts/migrate upgrade head && scripts/run"
    )
