"""Cold start of the Lambda handler from the bundle the rendered README builds.

A PostgreSQL project with the Lambda option, migrated; its zip built with the README's own
commands (or `--bundle`, an unzipped bundle built some other way, for a before/after). Each
round is a fresh `python -I -S` that sees only the bundle and the standard library: the
handler's import, the first event (the app built, the lifespan run, a note created) and a
second one (the note read back). Medians of `--rounds`; then the top entries of one
`python -X importtime` run. `--no-bytecode` ignores the bundle's .pyc files, as a function does
when its zip has none (it cannot write them). Printed, not asserted.

    python -m benchmarks.lambda_cold [--rounds 7] [--python /usr/bin/python3.11] [--bundle DIR]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from tests.harness import SERVERS, build_venv, manage_database, render, run, venv_env  # noqa: E402
from tests.lambda_bundle import PROBE, build, probe  # noqa: E402

PACKAGE = "my_service"


def importtime(
    python: str, bundle: Path, flags: list[str], top: int
) -> tuple[list[str], Counter[str]]:
    """The `top` modules with the largest cumulative import time, as -X importtime prints them,
    and the self times (us) summed by top-level package (the project's by subpackage)."""
    code = f"import sys; sys.path.insert(0, {str(bundle)!r}); import {PACKAGE}.ops.aws_lambda"
    done = subprocess.run(
        [python, "-I", "-S", *flags, "-X", "importtime", "-c", code],
        capture_output=True, text=True, check=True, cwd=bundle.parent,
        env={"PATH": "/usr/bin:/bin"},
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")][1:]
    by_package: Counter[str] = Counter()
    for line in lines:
        own, _, name = line.removeprefix("import time:").split("|")
        parts = name.strip().split(".")
        by_package[".".join(parts[:2] if parts[0] == PACKAGE else parts[:1])] += int(own)
    return sorted(lines, key=lambda line: -int(line.split("|")[1]))[:top], by_package


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--python", default="/usr/bin/python3.11")
    parser.add_argument("--bundle", type=Path, help="an unzipped bundle to measure instead")
    parser.add_argument("--no-bytecode", action="store_true")
    parser.add_argument("--top", type=int, default=15)
    options, _ = parser.parse_known_args()

    with tempfile.TemporaryDirectory() as folder:
        flags = ["-B", "-X", f"pycache_prefix={folder}/no-pycache"] if options.no_bytecode else []
        project = render(Path(folder), database="postgresql", **{"lambda": "yes"})
        env = venv_env(build_venv([project]))
        database = f"bench_{secrets.token_hex(4)}"
        env["DATABASE_URL"] = SERVERS["postgresql"].url.format(database=database)
        manage_database(project, env, "create")
        try:
            run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
            if options.bundle is None:
                archive, bundle = build(project, env, Path(folder))
                size = f"{archive.stat().st_size / 1e6:.1f} MB zip"
            else:
                bundle = options.bundle.resolve()
                size = "given bundle"
            rounds = [
                probe(bundle, PACKAGE, env["DATABASE_URL"], options.python, flags)
                for _ in range(options.rounds)
            ]
            entries, by_package = importtime(options.python, bundle, flags, options.top)
        finally:
            manage_database(project, env, "drop")

    print(f"\nLambda cold start: {size}, {options.python}, median of {options.rounds} fresh "
          f"processes{', bytecode ignored' if options.no_bytecode else ''} ({PROBE.name})")
    print("| step | seconds |")
    print("|---|---:|")
    for step in ("import", "import_cpu", "first_event", "second_event"):
        print(f"| {step.replace('_', ' ')} | {statistics.median(r[step] for r in rounds):.3f} |")
    print(f"\n`python -X importtime`, top {options.top} by cumulative time (us):")
    for line in entries:
        print(line)
    total = sum(by_package.values())
    print(f"\nSelf time by package, top {options.top} (ms; {total / 1000:.0f} ms in all):")
    print(", ".join(f"{name} {us / 1000:.0f}" for name, us in by_package.most_common(options.top)))


if __name__ == "__main__":
    main()
