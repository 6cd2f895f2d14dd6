"""A project made from the template takes later template changes with `cruft update`, by the
commands its docs/updates.md gives, run as a person runs them: the update in a terminal, its prompt
answered."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from .harness import ROOT, build_venv, run, venv_env

GIT = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(cwd: Path, *arguments: str) -> str:
    return run(["git", *arguments], cwd=cwd, env={**os.environ, **GIT}).stdout.strip()


def template_copy(target: Path) -> Path:
    """The template's files as they are in this working tree, without git."""
    files = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    for name in files:
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def template_repository(target: Path) -> Path:
    """The template as it is in this working tree, committed to a repository of its own."""
    template_copy(target)
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "commit", "-qm", "The template today")
    return target


def render_from(template: str, tmp_path: Path, **context: str) -> Path:
    """Render `template` (a path or a URL) with cookiecutter, which clones URLs under tmp_path."""
    config = tmp_path / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {tmp_path / 'cloned'}\nreplay_dir: {tmp_path / 'replay'}\n"
    )
    return Path(cookiecutter(
        template, no_input=True, extra_context=context, output_dir=str(tmp_path / "out"),
        config_file=str(config),
    ))


def documented_commands(project: Path) -> list[str]:
    """The shell lines of docs/updates.md's block, without comments."""
    section = (project / "docs" / "updates.md").read_text().partition("# Taking template updates")[2]
    (block,) = re.findall(r"```sh\n(.*?)```", section.partition("\n## ")[0], re.DOTALL)
    return [line.partition("  #")[0].strip() for line in block.splitlines() if line.strip()]


def in_terminal(
    command: str,
    cwd: Path,
    env: Mapping[str, str],
    answers: Mapping[str, str],
    seconds: float = 180,
) -> tuple[int, str]:
    """Run a shell command with a pseudo-terminal as its input and output, as typed at one;
    when its output shows one of `answers`' prompts, type that answer. Returns the exit status
    and everything it printed."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        ["sh", "-c", command], cwd=cwd, env=env, stdin=terminal, stdout=terminal, stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    output, pending = b"", dict(answers)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if select.select([controller], [], [], 0.5)[0]:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: every process holding the terminal has ended
                    break
                output += chunk
                for prompt, answer in list(pending.items()):
                    if prompt.encode() in output:
                        os.write(controller, f"{answer}\r".encode())  # Enter sends \r
                        del pending[prompt]
            elif process.poll() is not None:
                break
        else:
            process.kill()
            printed = output.decode(errors="replace")
            pytest.fail(f"{command} did not end within {seconds}s:\n{printed}")
        return process.wait(timeout=30), output.decode(errors="replace")
    finally:
        os.close(controller)


def test_a_project_takes_a_later_template_change_as_its_readme_says(tmp_path: Path) -> None:
    template = template_repository(tmp_path / "template")
    # A local repository by URL, as cookiecutter takes it (a plain path works the same way).
    project = render_from(f"git+file://{template}", tmp_path, auth="users")
    recorded = json.loads((project / ".cruft.json").read_text())
    assert recorded["commit"] == git(template, "rev-parse", "HEAD")
    assert recorded["template"] == f"file://{template}"
    assert recorded["skip"] == [".env"]
    secret = (project / ".env").read_text()
    # The project is committed and changed by its team...
    git(project, "init", "-q")
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nOur team's notes.\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "A project of our own")
    # ...while the template moves on.
    package = template / "{{cookiecutter.project_slug}}" / "{{cookiecutter.package_name}}"
    source = package / "tables.py"
    source.write_text(source.read_text().replace('"""The whole schema', '"""The schema'))
    git(template, "commit", "-qam", "A template improvement")

    install, check, diff, update = documented_commands(project)
    # cruft goes where the install puts it, apart from the project and from the template's tests.
    tools = tmp_path / "tools"
    path = [str(tools / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]]  # uv
    env = {
        **os.environ, **GIT, "UV_TOOL_DIR": str(tools / "lib"),
        "UV_TOOL_BIN_DIR": str(tools / "bin"), "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1",
        "PATH": os.pathsep.join(path),
    }
    env.pop("VIRTUAL_ENV", None)
    assert install.startswith("uv tool install cruft=="), install
    run(shlex.split(install), cwd=project, env=env)
    checked = subprocess.run(
        shlex.split(check), cwd=project, env=env, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 1 and "out of date" in checked.stdout, checked.stdout
    own = run(shlex.split(diff), cwd=project, env=env).stdout
    assert "Our team's notes." in own and "The schema" not in own, own
    assert update == "cruft update"

    status, output = in_terminal(update, project, env, {"Apply diff and update?": "y"})

    assert status == 0, output
    assert "Good work! Project's cruft has been updated" in output, output
    assert "Rendered" not in output, output  # the hook is quiet in cruft's scratch copies
    assert (project / "my_service" / "tables.py").read_text().startswith('"""The schema')
    assert "Our team's notes." in readme.read_text()
    assert (project / ".env").read_text() == secret
    assert not list(project.rglob("*.rej"))
    updated = json.loads((project / ".cruft.json").read_text())
    assert updated["commit"] == git(template, "rev-parse", "HEAD") != recorded["commit"]
    project_env = venv_env(build_venv([project]))
    run(["scripts/check"], cwd=project, env=project_env)
    run(["scripts/test", "-q", "-p", "no:cacheprovider"], cwd=project, env=project_env)


def test_a_local_template_is_recorded_by_its_absolute_path(tmp_path: Path) -> None:
    template = template_repository(tmp_path / "template")

    project = render_from(os.path.relpath(template), tmp_path)

    assert json.loads((project / ".cruft.json").read_text())["template"] == str(template)


def test_a_template_without_git_says_how_to_record_it_later(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    template = template_copy(tmp_path / "unpacked")  # as from an archive

    project = Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "out")))

    assert not (project / ".cruft.json").exists()
    assert "cruft link" in capfd.readouterr().out
