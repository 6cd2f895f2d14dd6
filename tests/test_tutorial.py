"""The rendered docs/tutorial.md, applied step by step to a fresh project on each database,
without user accounts on two of them and with them on the third.

The steps are read from the tutorial itself, so it cannot drift from the code it changes:
a ```diff block is applied with `git apply` (a `...` in the name of the file it changes stands
for a revision id), a ```python file=PATH block is written to PATH,
a ```python expect=GLOB block lists lines the generated file must hold, a ```sh block is run,
and a ```text block after it lists lines its output must show. In both kinds of expected lines
`...` stands for anything, and the lines must appear in that order.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from .conftest import require_server, serving
from .harness import (
    COMBINATIONS, SERVERS, broadcast_url, build_venv, manage_database, render, run, servers_for,
    venv_env,
)
from .test_browser import browser, signed_up  # noqa: F401 - browser is a fixture

BLOCK = re.compile(r"^```(\w+)(.*?)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    kind: str  # the fence's language: diff, python, sh, text, ...
    options: dict[str, str]  # file=PATH or expect=GLOB
    text: str


def blocks(tutorial: str) -> list[Block]:
    found = []
    for kind, info, text in BLOCK.findall(tutorial):
        options = dict(word.split("=", 1) for word in info.split())
        found.append(Block(kind, options, text))
    return found


def assert_shows(expected: str, actual: str, where: str) -> None:
    """Each expected line matches a whole line of `actual`, in order; spaces runs count as one."""
    lines = [" ".join(line.split()) for line in actual.splitlines()]
    position = 0
    for wanted in expected.splitlines():
        wanted = " ".join(wanted.split())
        if wanted in {"", "..."}:
            continue
        pattern = re.compile(".*".join(map(re.escape, wanted.split("..."))))
        for index in range(position, len(lines)):
            if pattern.fullmatch(lines[index]):
                position = index + 1
                break
        else:
            pytest.fail(f"{where} does not show {wanted!r} (in this order):\n{actual}")


def follow(project: Path, env: dict[str, str]) -> list[str]:
    """Apply every step of the project's tutorial; return the commands it ran."""
    ran: list[str] = []
    output: str | None = None  # of the command just run, for the text block after it
    for block in blocks((project / "docs" / "tutorial.md").read_text()):
        shown, output = output, None
        if block.kind == "text":
            assert shown is not None, f"expected output with no command before it:\n{block.text}"
            assert_shows(block.text, shown, ran[-1])
        elif block.kind == "sh":
            result = subprocess.run(
                ["sh", "-e", "-c", block.text], cwd=project, env=env, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False,
            )
            assert result.returncode == 0, f"{block.text} failed:\n{result.stdout}"
            ran.append(block.text)
            output = result.stdout
        elif block.kind == "diff":
            applied = subprocess.run(
                ["git", "apply", "-"], cwd=project, input=named(project, block.text), text=True,
                capture_output=True, check=False,
            )
            assert applied.returncode == 0, f"{applied.stderr}\n{block.text}"
        elif "file" in block.options:
            path = project / block.options["file"]
            assert not path.exists(), f"{path} is a new file in the tutorial, yet exists"
            path.write_text(block.text)
        elif "expect" in block.options:
            (generated,) = project.glob(block.options["expect"])
            assert_shows(block.text, generated.read_text(), str(generated))
    return ran


def named(project: Path, diff: str) -> str:
    """`diff` with each file name that holds `...` completed from the one file it matches."""

    def found(match: re.Match[str]) -> str:
        (path,) = project.glob(match[2].replace("...", "*"))
        return f"{match[1]}{path.relative_to(project)}"

    return re.sub(r"^(--- a/|\+\+\+ b/)(.*\.\.\..*)$", found, diff, flags=re.MULTILINE)


# Each database, and each value of `auth` (with accounts, tags are each user's own).
@pytest.mark.parametrize("combination", ["sqlite", "postgresql", "users-mysql"])
def test_tutorial_steps_apply_and_pass(
    tmp_path: Path, combination: str, request: pytest.FixtureRequest
) -> None:
    context = COMBINATIONS[combination]
    project = render(tmp_path, **context)
    env = venv_env(build_venv([project]))
    for needed in servers_for(context):
        require_server(needed)
    database = context["database"]
    server = SERVERS.get(database)
    if server is not None:
        # Not created yet: the tutorial's first step does it, as it does for a reader.
        env["DATABASE_URL"] = server.url.format(database=f"tpl_{secrets.token_hex(4)}")
        env["BROADCAST_URL"] = broadcast_url(context, env["DATABASE_URL"])
    versions = project / "migrations" / "versions"
    before = set(versions.glob("*.py"))
    try:
        ran = follow(project, env)

        # After a random revision id; a list, so a revision written twice shows.
        added = sorted(path.name.split("_", 1)[1] for path in set(versions.glob("*.py")) - before)
        assert added == [
            "add_pinned_to_notes.py", "add_priority_and_due_to_notes.py", "add_tags.py",
            "rename_due_to_due_at.py",
        ]
        assert any(command.startswith("scripts/check") for command in ran)
        # The whole way down and up again: every migration, the tutorial's four included.
        for arguments in (["downgrade", "base"], ["upgrade", "head"], ["check"]):
            run(["scripts/migrate", *arguments], cwd=project, env=env)
        # Asked for here, not as an argument: without Chromium the rest has run when it skips.
        browser = request.getfixturevalue("browser")
        assert_page_pins(project, env, browser, accounts=context.get("auth") == "users")
    finally:
        if server is not None:
            manage_database(project, env, "drop")


def assert_page_pins(project: Path, env: dict[str, str], browser: Browser, accounts: bool) -> None:
    """The page of the finished tutorial pins a new note, and unpins it in the editor."""
    with serving(project, env) as served:
        if accounts:
            page = signed_up(browser, served.url, "reader@example.com", [])
        else:
            page = browser.new_page()
            page.goto(served.url + "/")
            page.wait_for_selector("#status:text('Live')")
        page.fill("#new-note input[name=title]", "Pinned from the page")
        page.check("#new-note input[name=pinned]")
        page.click("#new-note button[type=submit]")
        page.wait_for_selector("#notes li.pinned:has-text('Pinned from the page')", timeout=5000)

        page.click("#notes li.pinned button[data-action=edit]")
        assert page.is_checked("#notes form.editor input[name=pinned]")
        page.uncheck("#notes form.editor input[name=pinned]")
        page.click("#notes form.editor button[type=submit]")

        page.wait_for_selector("#notes li.pinned", state="detached", timeout=5000)
        (note,) = page.request.get(served.url + "/api/notes").json()["items"]  # its cookies
        assert (note["title"], note["pinned"]) == ("Pinned from the page", False)


def test_readme_links_the_tutorial(tmp_path: Path) -> None:
    project = render(tmp_path)

    assert "(docs/tutorial.md)" in (project / "README.md").read_text()
    assert (project / "docs" / "tutorial.md").is_file()
