"""Deployment options: each one's files exist only when chosen and pass the checker made for them.

All offline: systemd-analyze, Kubernetes' schemas, actionlint and GitHub's workflow schema.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import IN_CI, free_port, stop, wait_until_up
from .harness import COMBINATIONS, render, run

TOOLS = Path(sys.executable).parent  # the checkers installed with the template's tests
DATABASES = ["sqlite", "postgresql", "mysql"]
FILES = {
    "process_manager": ["deploy/systemd/my-service.service", "deploy/systemd/environment"],
    "kubernetes": ["deploy/kubernetes/deployment.yaml", "deploy/kubernetes/migrate-job.yaml"],
    "lambda": ["my_service/ops/aws_lambda.py", "tests/ops/test_aws_lambda.py"],
    "paas": ["Procfile"],
    "ci": [".github/workflows/ci.yml"],
}


def env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def require_tool(name: str) -> str:
    """Skip when a system tool is missing, except in CI, where that is a failure."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def deploy_section(readme: str) -> str:
    """The README's "Deploy" section: the container image, then a part per target chosen."""
    start = readme.index("\n## Deploy\n")
    return readme[start : readme.index("\n## ", start + 1)]


def test_every_option_off_leaves_no_deployment_file(tmp_path: Path) -> None:
    project = render(tmp_path, **COMBINATIONS["deploy-none"])

    for paths in FILES.values():
        for path in paths:
            assert not (project / path).exists(), path
    assert not (project / "deploy").exists()
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not any(requirement.startswith("mangum") for requirement in dependencies)
    readme = (project / "README.md").read_text()
    assert "### " not in deploy_section(readme) and ".github/" not in readme


def test_every_option_on_renders_its_files(tmp_path: Path) -> None:
    project = render(tmp_path, **COMBINATIONS["deploy-all"])

    for paths in FILES.values():
        for path in paths:
            assert (project / path).is_file(), path
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "mangum==0.22.0" in dependencies


@pytest.mark.parametrize(
    ("option", "value", "heading", "commands"),
    [
        ("process_manager", "systemd", "### systemd", ["sudo systemctl enable --now my-service"]),
        (
            "kubernetes",
            "yes",
            "### Kubernetes",
            [
                "kubectl apply -f deploy/kubernetes/migrate-job.yaml",
                "kubectl wait --for=condition=complete --timeout=10m job/my-service-migrate",
                "kubectl rollout status deployment/my-service",
            ],
        ),
        ("lambda", "yes", "### AWS Lambda", ["--handler my_service.ops.aws_lambda.handler"]),
        ("paas", "yes", "### PaaS", ["git push heroku main"]),
    ],
)
def test_readme_deploy_section_has_the_chosen_target_only(
    tmp_path: Path, option: str, value: str, heading: str, commands: list[str]
) -> None:
    project = render(tmp_path, database="postgresql", **{option: value})

    readme = (project / "README.md").read_text()
    deploy = deploy_section(readme)
    headings = [line for line in deploy.splitlines() if line.startswith("### ")]
    assert len(headings) == 1 and headings[0].startswith(heading), headings
    for command in commands:
        assert command in deploy


def test_lambda_readme_says_what_does_not_work(tmp_path: Path) -> None:
    project = render(tmp_path, **{"lambda": "yes"})

    readme = (project / "README.md").read_text()
    assert "**WebSockets**: an HTTP API cannot carry `/ws/notes`" in readme
    assert "**SQLite**: a function's disk is per instance and temporary" in readme


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Each key of a systemd unit with its values in order (keys may repeat)."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


@pytest.mark.parametrize("database", DATABASES)
def test_systemd_unit_verifies_and_is_confined(tmp_path: Path, database: str) -> None:
    analyze = require_tool("systemd-analyze")
    project = render(tmp_path, database=database, process_manager="systemd")
    unit = project / "deploy" / "systemd" / "my-service.service"
    # verify checks that the commands exist: point the install folder at the rendered project.
    local = tmp_path / unit.name
    local.write_text(unit.read_text().replace("/opt/my-service", str(project)))

    verified = subprocess.run(
        [analyze, "verify", str(local)], capture_output=True, text=True, check=False, timeout=60
    )
    security = run([analyze, "security", "--offline=yes", str(local)], cwd=tmp_path)

    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert exposure is not None and float(exposure.group(1)) <= 2.0, security.stdout
    settings = unit_settings(unit)
    assert settings["User"] == ["my-service"]
    assert settings["ExecStart"] == ["/opt/my-service/scripts/start"]
    assert settings["ExecStartPre"] == ["/opt/my-service/scripts/migrate upgrade head"]
    assert settings["Restart"] == ["on-failure"]
    assert settings["KillSignal"] == ["SIGTERM"] and settings["TimeoutStopSec"] == ["30s"]
    for hardening in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert settings[hardening] == ["yes"], hardening
    assert settings["ProtectSystem"] == ["strict"]
    environment = env_file(project / "deploy" / "systemd" / "environment")
    scheme = {
        "sqlite": "sqlite+aiosqlite:////var/lib/my-service/",
        "postgresql": "postgresql+asyncpg://",
        "mysql": "mysql+aiomysql://",
    }[database]
    assert environment["DATABASE_URL"].startswith(scheme)


def manifests(project: Path) -> dict[str, dict[str, Any]]:
    documents = [
        yaml.safe_load(path.read_text())
        for path in sorted((project / "deploy" / "kubernetes").glob("*.yaml"))
    ]
    return {document["kind"]: document for document in documents}


@pytest.mark.parametrize("database", ["postgresql", "mysql"])
def test_kubernetes_manifests_match_the_schemas(tmp_path: Path, database: str) -> None:
    project = render(tmp_path, database=database, kubernetes="yes")
    files = sorted((project / "deploy" / "kubernetes").glob("*.yaml"))

    validate = [str(TOOLS / "kubernetes-validate"), "--strict", "--quiet"]
    result = run([*validate, *map(str, files)], cwd=project)

    assert result.stdout + result.stderr == ""
    kinds = manifests(project)
    assert set(kinds) == {
        "ConfigMap", "Secret", "Job", "Deployment", "Service", "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    assert all(value == "" for value in kinds["Secret"]["stringData"].values())
    assert set(kinds["Secret"]["stringData"]) == {"DATABASE_URL"}


def test_with_accounts_every_target_asks_for_a_secret_key(tmp_path: Path) -> None:
    project = render(tmp_path, **COMBINATIONS["deploy-all"])

    assert set(manifests(project)["Secret"]["stringData"]) == {"DATABASE_URL", "SECRET_KEY"}
    assert env_file(project / "deploy" / "systemd" / "environment")["SECRET_KEY"] == ""
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    assert compose["x-app"]["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")
    workflow = (project / ".github" / "workflows" / "ci.yml").read_text()
    assert "SECRET_KEY=$(python3 -c" in workflow
    for target in ("kubectl create secret", "heroku config:set SECRET_KEY", "SECRET_KEY=..."):
        assert target in deploy_section((project / "README.md").read_text()), target


def test_kubernetes_deployment_probes_limits_and_rollout(tmp_path: Path) -> None:
    project = render(tmp_path, database="postgresql", kubernetes="yes")
    kinds = manifests(project)
    deployment = kinds["Deployment"]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]

    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    probe_host = container["readinessProbe"]["httpGet"]["httpHeaders"][0]["value"]
    assert probe_host in kinds["ConfigMap"]["data"]["ALLOWED_HOSTS"].split(",")
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["spec"]["terminationGracePeriodSeconds"] == 30
    labels = pod["metadata"]["labels"]
    for selector in (
        kinds["Service"]["spec"]["selector"],
        kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == (
        deployment["metadata"]["name"]
    )
    (job,) = kinds["Job"]["spec"]["template"]["spec"]["containers"]
    for command in (container["command"], job["command"]):
        assert (project / command[0]).is_file(), command
    assert job["command"] == ["scripts/migrate", "upgrade", "head"]
    documented = set(env_file(project / ".env.example")) | {"HOST", "PORT", "WEB_CONCURRENCY"}
    assert set(kinds["ConfigMap"]["data"]) <= documented


@pytest.mark.parametrize("database", DATABASES)
def test_ci_workflow_passes_actionlint_and_the_schema(tmp_path: Path, database: str) -> None:
    project = render(tmp_path, database=database)
    workflow = project / ".github" / "workflows" / "ci.yml"

    lint = run([str(TOOLS / "actionlint"), "-no-color", str(workflow)], cwd=project)
    schema = run(
        [str(TOOLS / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
         str(workflow)],
        cwd=project,
    )

    assert lint.stdout + lint.stderr == ""
    assert "ok -- validation done" in schema.stdout
    document = yaml.safe_load(workflow.read_text())
    assert document["permissions"] == {"contents": "read"}
    assert "github.ref" in document["concurrency"]["group"]
    job = document["jobs"]["test"]
    assert [step["run"] for step in job["steps"] if "run" in step] == [
        "scripts/install", "scripts/check", "scripts/test",
    ]
    pinned = re.compile(r"uses: [\w-]+/[\w-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+$")
    uses = [line.strip() for line in workflow.read_text().splitlines() if "uses:" in line]
    assert uses and all(pinned.search(line) for line in uses), uses
    images = [service["image"] for service in job.get("services", {}).values()]
    assert images == {"sqlite": [], "postgresql": ["postgres:17"], "mysql": ["mariadb:11.4"]}[
        database
    ]
    assert job["env"]["DATABASE_URL"] == env_file(project / ".env")["DATABASE_URL"]


def test_procfile_release_migrates_and_web_serves_on_port(
    tmp_path: Path, project_env: dict[str, str]
) -> None:
    project = render(tmp_path, paas="yes")
    processes = dict(
        line.split(": ", 1) for line in (project / "Procfile").read_text().splitlines() if line
    )
    assert set(processes) == {"release", "web"}

    run(["sh", "-c", processes["release"]], cwd=project, env=project_env)
    current = run(["scripts/migrate", "current"], cwd=project, env=project_env)
    assert "(head)" in current.stdout
    port = free_port()
    web = subprocess.Popen(
        ["sh", "-c", processes["web"]], cwd=project, env={**project_env, "PORT": str(port)},
        text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health/ready", web)
    finally:
        stop(web)
    no_port = subprocess.run(
        ["sh", "-c", processes["web"]], cwd=project, env=project_env, capture_output=True,
        text=True, check=False, timeout=30,
    )
    assert no_port.returncode != 0 and "the platform sets PORT" in no_port.stderr
