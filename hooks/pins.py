"""A rendered project's dependencies and uv.lock, derived offline from the template's own.

The template repository is a uv project (its pyproject.toml and uv.lock): `[project]
dependencies` are what every rendered project needs, and a dependency group named
`<option>-<value>` holds what that answer adds; `dev` is the project's dev group (a group
`dev-<option>-<value>` adds to it for that answer) and `build` its build backend. uv locks them all together once, so every render takes the versions of one
resolution: its lock is the template's with only the packages its own dependencies reach, and
the project itself in place of the template's list of pins. Used by hooks/post_gen_project.py
and the template tests; standard library only, as it runs wherever cookiecutter does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Table = dict[str, Any]


def normalize(name: str) -> str:
    """A distribution or group name as uv writes it (PEP 503, PEP 735)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def groups_for(answers: Mapping[str, object], pins: Table) -> list[str]:
    """The option groups of the template's pyproject.toml that these answers choose."""
    chosen = {normalize(f"{option}-{value}") for option, value in answers.items()}
    return [group for group in pins["dependency-groups"] if normalize(group) in chosen]


def dev_groups_for(answers: Mapping[str, object], pins: Table) -> list[str]:
    """The `dev-<option>-<value>` groups of the template's pyproject.toml these answers choose."""
    chosen = {normalize(f"dev-{option}-{value}") for option, value in answers.items()}
    return [group for group in pins["dependency-groups"] if normalize(group) in chosen]


@dataclass(frozen=True)
class Dependencies:
    """What a render declares: [project] dependencies, the dev group, [build-system] requires."""

    project: list[str]
    dev: list[str]
    build: list[str]
    groups: list[str]  # the option groups they came from
    dev_groups: list[str]  # and the option groups of the dev group


def dependencies(answers: Mapping[str, object], pins: Table) -> Dependencies:
    groups, dev_groups = groups_for(answers, pins), dev_groups_for(answers, pins)
    chosen = [*pins["project"]["dependencies"]]
    for group in groups:
        chosen.extend(pins["dependency-groups"][group])
    return Dependencies(
        project=sorted(set(chosen), key=lambda requirement: normalize(re.split(r"[\[=<>~!; ]", requirement)[0])),
        dev=[*pins["dependency-groups"]["dev"], *(
            requirement for group in dev_groups for requirement in pins["dependency-groups"][group]
        )],
        build=list(pins["dependency-groups"]["build"]),
        groups=groups,
        dev_groups=dev_groups,
    )


def _key(edge: Table) -> tuple[str, str, str]:
    return (edge["name"], json.dumps(edge.get("extra", [])), edge.get("marker", ""))


def _spelled(requirements: Iterable[str | Table]) -> list[str]:
    """Requirements as comparable text, from pyproject.toml's strings or uv.lock's tables."""
    spelled = []
    for requirement in requirements:
        if isinstance(requirement, dict):
            extras = requirement.get("extras", [])
            requirement = requirement["name"] + (f"[{','.join(extras)}]" if extras else "") + (
                requirement.get("specifier", "")
            )
        name, rest = re.match(r"([A-Za-z0-9._-]+)(.*)", requirement.replace(" ", "")).groups()
        spelled.append(normalize(name) + rest)
    return sorted(spelled)


def derive_lock(
    lock: Table, deps: Dependencies, name: str, version: str, requires_python: str
) -> Table:
    """The template's lock cut down to project `name`'s dependencies (groups `deps.groups`)."""
    (root,) = [package for package in lock["package"] if "virtual" in package["source"]]
    edges = [*root.get("dependencies", [])]
    requires = [*root["metadata"].get("requires-dist", [])]
    for group in deps.groups:
        edges.extend(root["dev-dependencies"][normalize(group)])
        requires.extend(root["metadata"]["requires-dev"][normalize(group)])
    # Two options may pin the same package (the broker's and the queue's Redis client): once.
    edges = list({_key(edge): edge for edge in edges}.values())
    requires = list({json.dumps(item, sort_keys=True): item for item in requires}.values())
    dev_edges = [*root["dev-dependencies"]["dev"]]
    dev = [*root["metadata"]["requires-dev"]["dev"]]
    for group in deps.dev_groups:
        dev_edges.extend(root["dev-dependencies"][normalize(group)])
        dev.extend(root["metadata"]["requires-dev"][normalize(group)])
    if _spelled(requires) != _spelled(deps.project) or _spelled(dev) != _spelled(deps.dev):
        raise SystemExit(
            "ERROR: the template's uv.lock was not made from its pyproject.toml's pins; run the "
            "template's scripts/lock."
        )
    own: Table = {"name": normalize(name), "version": version, "source": {"editable": "."}}
    own["dependencies"] = sorted(edges, key=_key)
    own["dev-dependencies"] = {"dev": sorted(dev_edges, key=_key)}
    own["metadata"] = {
        "requires-dist": sorted(requires, key=lambda requirement: requirement["name"]),
        "requires-dev": {"dev": sorted(dev, key=lambda requirement: requirement["name"])},
    }
    # Each package reachable from the project, with the extras something asks of it.
    by_name: dict[str, list[Table]] = {}
    for package in lock["package"]:
        if package is not root:
            by_name.setdefault(package["name"], []).append(package)
    extras: dict[int, set[str]] = {}
    pending = [*own["dependencies"], *own["dev-dependencies"]["dev"]]
    while pending:
        edge = pending.pop()
        for package in by_name[edge["name"]]:
            if "version" in edge and package["version"] != edge["version"]:
                continue
            asked = extras.setdefault(id(package), set())
            if not asked:  # first reached: its own dependencies
                pending.extend(package.get("dependencies", []))
            for extra in set(edge.get("extra", [])) - asked:
                pending.extend(package["optional-dependencies"][extra])
            asked.update(edge.get("extra", []), [""])
    kept = [own]
    for package in lock["package"]:
        if id(package) not in extras:
            continue
        optional = {
            extra: edges for extra, edges in package.get("optional-dependencies", {}).items()
            if extra in extras[id(package)]
        }
        package = {key: value for key, value in package.items() if key != "optional-dependencies"}
        kept.append({**package, **({"optional-dependencies": optional} if optional else {})})
    header = {key: value for key, value in lock.items() if key != "package"}
    header["requires-python"] = requires_python
    return {**header, "package": sorted(kept, key=lambda package: package["name"])}


# uv's lock format: these keys are tables of their own ([package.metadata]); every other
# table is written inline, and these arrays always one element a line.
SUBTABLES = {"optional-dependencies", "dev-dependencies", "metadata", "requires-dev", "options"}
MULTILINE = {"resolution-markers", "dependencies", "wheels", "requires-dist"}


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_value(item)}" for key, item in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def _entry(key: str, value: object, multiline: bool) -> str:
    if isinstance(value, list) and (multiline or len(value) > 1):
        return f"{key} = [\n" + "".join(f"    {_value(item)},\n" for item in value) + "]"
    return f"{key} = {_value(value)}"


def _table(header: str, table: Table, multiline: bool = False, array: bool = False) -> list[str]:
    """`[header]` (`[[header]]` in an array) and its keys, then its subtables."""
    lines = [f"[[{header}]]" if array else f"[{header}]"] if header else []
    subtables = []
    for key, value in table.items():
        if key in SUBTABLES and isinstance(value, dict):
            subtables.append((key, value))
        else:
            lines.append(_entry(key, value, multiline or key in MULTILINE))
    for key, value in subtables:
        # A group's list of locked dependencies is one a line even when it holds one.
        lines += ["", *_table(f"{header}.{key}", value, key != "requires-dev")]
    return lines


def dump_lock(lock: Table) -> str:
    """The lock as uv writes it, byte for byte (tests/test_locks.py checks on the template's)."""
    header = {key: value for key, value in lock.items() if key != "package"}
    blocks = [_table("", header)]
    blocks += [_table("package", package, array=True) for package in lock["package"]]
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def toml_array(values: Iterable[str], multiline: bool = True) -> str:
    """An array of strings in pyproject.toml's style."""
    items = list(values)
    if not multiline:
        return _value(items)
    return "[\n" + "".join(f"    {_value(item)},\n" for item in items) + "]"
