"""Deployment options: each one's files exist only when chosen and pass the checker made for them.

Offline: systemd-analyze, Kubernetes' schemas on what `kubectl kustomize` builds, actionlint and
GitHub's workflow schema. tests/test_kubernetes.py runs the Kubernetes manifests with podman.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import yaml

from .conftest import BANNERS, DEFAULT_SERVER, IN_CI, free_port, require_server, stop, wait_until_up
from .harness import COMBINATIONS, SERVERS, build_venv, manage_database, render, run, venv_env

TOOLS = Path(sys.executable).parent  # the checkers installed with the template's tests
DATABASES = ["sqlite", "postgresql", "mysql"]
FILES = {
    "process_manager": ["deploy/systemd/my-service.service", "deploy/systemd/environment"],
    "kubernetes": [
        "deploy/kubernetes/base/kustomization.yaml",
        "deploy/kubernetes/overlays/production/kustomization.yaml",
    ],
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


def deploy_doc(project: Path) -> str:
    """docs/deploy.md: the container image and compose, then a section per target chosen."""
    return (project / "docs" / "deploy.md").read_text()


# The sections of docs/deploy.md that every project has; the others are the targets'.
COMMON_SECTIONS = ["## The image", "## Compose"]


def target_headings(deploy: str) -> list[str]:
    return [
        line for line in deploy.splitlines()
        if line.startswith("## ") and line not in COMMON_SECTIONS
    ]


def test_every_option_off_leaves_no_deployment_file(tmp_path: Path) -> None:
    project = render(tmp_path, **COMBINATIONS["deploy-none"])

    for paths in FILES.values():
        for path in paths:
            assert not (project / path).exists(), path
    # Only what every project ships: the metrics' alert rules and dashboard.
    assert sorted(path.name for path in (project / "deploy").iterdir()) == ["grafana", "prometheus"]
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not any(requirement.startswith("mangum") for requirement in dependencies)
    readme = (project / "README.md").read_text()
    assert target_headings(deploy_doc(project)) == [] and ".github/" not in readme


def test_every_option_on_renders_its_files(tmp_path: Path) -> None:
    project = render(tmp_path, **COMBINATIONS["deploy-all"])

    for paths in FILES.values():
        for path in paths:
            assert (project / path).is_file(), path
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "mangum==0.22.0" in dependencies


@pytest.mark.parametrize(
    ("context", "heading", "commands"),
    [
        ({"process_manager": "systemd"}, "## systemd", ["sudo systemctl enable --now my-service"]),
        (
            {"kubernetes": "yes", "broadcast": "redis"},
            "## Kubernetes",
            [
                "kubectl apply -k deploy/kubernetes/overlays/production -l "
                "'app.kubernetes.io/component!=web'",
                "kubectl -n my-service wait --for=condition=complete --timeout=10m "
                "job/my-service-migrate",
                "kubectl -n my-service rollout status deployment/my-service",
            ],
        ),
        ({"lambda": "yes"}, "## AWS Lambda", ["--handler my_service.ops.aws_lambda.handler"]),
        ({"paas": "yes"}, "## PaaS", ["git push heroku main"]),
    ],
    ids=["systemd", "kubernetes", "lambda", "paas"],
)
def test_readme_deploy_section_has_the_chosen_target_only(
    tmp_path: Path, context: dict[str, str], heading: str, commands: list[str]
) -> None:
    project = render(tmp_path, database="postgresql", **context)

    deploy = deploy_doc(project)
    headings = target_headings(deploy)
    assert len(headings) == 1 and headings[0].startswith(heading), headings
    for command in commands:
        assert command in deploy


def test_lambda_readme_says_what_does_not_work(tmp_path: Path) -> None:
    project = render(tmp_path, **{"lambda": "yes"})

    deploy = deploy_doc(project)
    assert "**WebSockets**: an HTTP API cannot carry `/ws/notes`" in deploy
    assert "**SQLite**: a function's disk is per instance and temporary" in deploy


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Each key of a systemd unit with its values in order (keys may repeat)."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def verify_and_rate(analyze: str, unit: Path, project: Path, tmp_path: Path) -> None:
    """`systemd-analyze verify` finds nothing in the unit, and rates its exposure 2.0 at most."""
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


@pytest.mark.parametrize("database", DATABASES)
def test_systemd_unit_verifies_and_is_confined(tmp_path: Path, database: str) -> None:
    analyze = require_tool("systemd-analyze")
    project = render(tmp_path, database=database, process_manager="systemd")
    unit = project / "deploy" / "systemd" / "my-service.service"
    verify_and_rate(analyze, unit, project, tmp_path)
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


@pytest.mark.parametrize("jobs", ["redis", "postgres"])
def test_systemd_worker_unit_verifies_and_is_confined(tmp_path: Path, jobs: str) -> None:
    analyze = require_tool("systemd-analyze")
    project = render(
        tmp_path, database="postgresql", broadcast="redis", jobs=jobs, process_manager="systemd"
    )
    unit = project / "deploy" / "systemd" / "my-service-worker.service"
    verify_and_rate(analyze, unit, project, tmp_path)
    settings = unit_settings(unit)
    assert settings["ExecStart"] == ["/opt/my-service/scripts/worker"]
    assert settings["TimeoutStopSec"] == ["35s"]  # past WORKER_GRACE_SECONDS
    environment = env_file(project / "deploy" / "systemd" / "environment")
    assert environment["JOBS_URL"].startswith({"redis": "redis://", "postgres": "postgresql://"}[jobs])


KUBERNETES = {"database": "postgresql", "broadcast": "redis", "kubernetes": "yes"}
OVERLAYS = ["dev", "production"]


def kustomized(project: Path, overlay: str) -> list[dict[str, Any]]:
    """What `kubectl kustomize` builds from an overlay; dev's Secret from its example file."""
    kubectl = require_tool("kubectl")
    folder = project / "deploy" / "kubernetes" / "overlays" / overlay
    example = folder / "secret.env.example"
    if example.is_file() and not (folder / "secret.env").is_file():
        (folder / "secret.env").write_text(example.read_text())
    built = run([kubectl, "kustomize", str(folder)], cwd=project).stdout
    return [document for document in yaml.safe_load_all(built) if document]


def by_kind(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = {document["kind"]: document for document in documents}
    assert len(kinds) == len(documents), "two objects of one kind"
    return kinds


@pytest.mark.parametrize(
    "context",
    [{"database": "postgresql", "broadcast": "redis"},
     {"database": "mysql", "broadcast": "redis", "jobs": "redis"},
     {"database": "postgresql", "broadcast": "postgres", "auth": "users", "jobs": "postgres"}],
    ids=lambda context: "-".join(context.values()),
)
def test_kubernetes_overlays_build_and_match_the_schemas(
    tmp_path: Path, context: dict[str, str]
) -> None:
    project = render(tmp_path, kubernetes="yes", **context)
    validate = [str(TOOLS / "kubernetes-validate"), "--strict", "--quiet"]
    web = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}

    for overlay in OVERLAYS:
        documents = kustomized(project, overlay)
        built = tmp_path / f"{overlay}.yaml"
        built.write_text(yaml.safe_dump_all(documents))
        result = run([*validate, str(built)], cwd=project)
        assert result.stdout + result.stderr == "", overlay
        workers = [document for document in documents if component(document) == "worker"]
        kinds = by_kind([document for document in documents if document not in workers])
        check_workers(workers, kinds["Deployment"], context.get("jobs", "none"))
        namespace = {"dev": "my-service-dev", "production": "my-service"}[overlay]
        assert kinds["Namespace"]["metadata"]["name"] == namespace
        assert {document["metadata"].get("namespace") for document in documents if
                document["kind"] != "Namespace"} == {namespace}
        # What docs/deploy.md's first apply selects (component!=web) is what the Job needs.
        labels = {kind: document["metadata"].get("labels", {}) for kind, document in kinds.items()}
        assert {kind for kind, label in labels.items()
                if label.get("app.kubernetes.io/component") == "web"} == web
        pods = [kinds[kind]["spec"]["template"]["spec"] for kind in ("Deployment", "Job")]
        images = {container["image"] for pod in pods for container in pod["containers"]}
        assert images == {
            "dev": {"my-service:dev"}, "production": {"registry.example.com/my-service:0.1.0"},
        }[overlay]
        secrets = {source["secretRef"]["name"] for pod in pods
                   for container in pod["containers"] for source in container["envFrom"]
                   if "secretRef" in source}
        if overlay == "production":
            # Made once, outside the tree: applying it can never empty the Secret.
            assert "Secret" not in kinds and secrets == {"my-service"}
        else:
            # Generated, its name a hash of its values: a change makes a new one.
            assert secrets == {kinds["Secret"]["metadata"]["name"]} != {"my-service"}
            example = env_file(project / "deploy/kubernetes/overlays/dev/secret.env.example")
            assert set(kinds["Secret"]["data"]) == set(example)
        settings = kinds["ConfigMap"]["data"]
        if context["broadcast"] == "redis":
            assert settings["BROADCAST_URL"] == "redis://redis:6379/0"
        else:  # it carries the database password
            assert "BROADCAST_URL" not in settings
            assert "BROADCAST_URL" in env_file(
                project / "deploy/kubernetes/overlays/dev/secret.env.example"
            )


def component(document: dict[str, Any]) -> str | None:
    labels: dict[str, str] = document["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component")


def check_workers(workers: list[dict[str, Any]], web: dict[str, Any], jobs: str) -> None:
    """With a job queue: a worker Deployment of the web pods' image and settings, probed by
    `scripts/worker --check`, that outlasts its grace period, with its disruption budget."""
    if jobs == "none":
        assert workers == []
        return
    kinds = by_kind(workers)
    assert set(kinds) == {"Deployment", "PodDisruptionBudget"}
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    (worker,), (server,) = pod["containers"], web["spec"]["template"]["spec"]["containers"]
    assert worker["command"] == ["scripts/worker"]
    assert worker["livenessProbe"]["exec"]["command"] == ["scripts/worker", "--check"]
    assert (worker["image"], worker["envFrom"]) == (server["image"], server["envFrom"])
    assert pod["terminationGracePeriodSeconds"] > 25  # WORKER_GRACE_SECONDS
    assert kinds["Deployment"]["spec"]["replicas"] >= 2
    selector = kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    assert selector == kinds["Deployment"]["spec"]["selector"]["matchLabels"]


def test_kubernetes_secret_values_stay_out_of_git(tmp_path: Path) -> None:
    project = render(tmp_path, **KUBERNETES)
    run(["git", "init", "--quiet"], cwd=project)
    ignored = subprocess.run(
        ["git", "check-ignore", "deploy/kubernetes/overlays/dev/secret.env",
         "deploy/kubernetes/overlays/dev/secret.env.example"],
        cwd=project, capture_output=True, text=True, check=False,
    )
    assert ignored.stdout.split() == ["deploy/kubernetes/overlays/dev/secret.env"]


def test_with_accounts_every_target_asks_for_a_secret_key(tmp_path: Path) -> None:
    project = render(tmp_path, **COMBINATIONS["deploy-all"])

    example = env_file(project / "deploy" / "kubernetes" / "overlays" / "dev" / "secret.env.example")
    assert set(example) == {"DATABASE_URL", "BROADCAST_URL", "JOBS_URL", "SECRET_KEY"}
    assert env_file(project / "deploy" / "systemd" / "environment")["SECRET_KEY"] == ""
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    assert compose["x-app"]["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")
    workflow = (project / ".github" / "workflows" / "ci.yml").read_text()
    assert "SECRET_KEY=$(python3 -c" in workflow
    for target in ("kubectl -n my-service create secret", "heroku config:set SECRET_KEY",
                   "SECRET_KEY=...", "--from-literal=JOBS_URL="):
        assert target in deploy_doc(project), target


def test_kubernetes_deployment_probes_drain_and_rollout(tmp_path: Path) -> None:
    project = render(tmp_path, **KUBERNETES)
    kinds = by_kind(kustomized(project, "production"))
    deployment = kinds["Deployment"]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    settings = kinds["ConfigMap"]["data"]

    # The autoscaler owns the count: a replicas field would reset it on every apply.
    assert "replicas" not in deployment["spec"]
    assert kinds["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2
    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    assert readiness["httpGet"]["path"] == "/health/ready"
    assert liveness["httpGet"]["path"] == "/health/live"
    probe_host = readiness["httpGet"]["httpHeaders"][0]["value"]
    assert probe_host in settings["ALLOWED_HOSTS"].split(",")
    # Readiness answers 503 after READINESS_TIMEOUT; the probe must wait longer than that.
    assert readiness["timeoutSeconds"] > float(settings["READINESS_TIMEOUT"])
    assert liveness["timeoutSeconds"] > 1
    # The drain outlasts the time the probe takes to notice (docs/shutdown.md's rule), the server
    # has time after it (the app's own rule), and the whole stop, after preStop, ends before
    # the kubelet's SIGKILL.
    drain = float(settings["SHUTDOWN_DRAIN_SECONDS"])
    grace = float(settings["SHUTDOWN_GRACE_SECONDS"])
    assert drain > readiness["periodSeconds"] * readiness["failureThreshold"]
    assert grace >= drain + 2
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["spec"]["terminationGracePeriodSeconds"] > float(pre_stop[1]) + grace
    shutdown = (project / "docs" / "shutdown.md").read_text()
    assert "Make it longer than your load balancer needs to notice" in shutdown
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
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
    assert set(settings) <= documented


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


def test_procfile_worker_runs_the_jobs_the_web_process_enqueues(tmp_path: Path) -> None:
    """The three processes of a project with a job queue in its database, as a platform runs
    them, with the driverless URLs a platform attaches: an export started through `web` is run
    by `worker`."""
    require_server(SERVERS["postgresql"])
    context = {"database": "postgresql", "broadcast": "postgres", "jobs": "postgres"}
    project = render(tmp_path, paas="yes", **context)
    (project / ".env").unlink()
    processes = dict(
        line.split(": ", 1) for line in (project / "Procfile").read_text().splitlines() if line
    )
    assert set(processes) == {"release", "web", "worker"}
    name = f"tpl_{secrets.token_hex(4)}"
    env = venv_env(build_venv([project]))
    creating = {**env, "DATABASE_URL": SERVERS["postgresql"].url.format(database=name)}
    manage_database(project, creating, "create")
    platform = f"postgres://postgres@127.0.0.1:5432/{name}"
    env.update(DATABASE_URL=platform, BROADCAST_URL=platform, JOBS_URL=platform)
    started: list[subprocess.Popen[str]] = []
    try:
        run(["sh", "-c", processes["release"]], cwd=project, env=env)
        port = free_port()
        for process, more in (("web", {"PORT": str(port)}), ("worker", {})):
            started.append(subprocess.Popen(
                ["sh", "-c", processes[process]], cwd=project, env={**env, **more}, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            ))
        wait_until_up(f"http://127.0.0.1:{port}/health/ready", started[0])
        base = f"http://127.0.0.1:{port}"
        httpx.post(f"{base}/api/notes", json={"title": "Exported"}, timeout=5)
        export = httpx.post(f"{base}/api/exports", timeout=5)
        assert export.status_code == 202, export.text
        deadline = time.monotonic() + 60
        while (shown := httpx.get(export.headers["location"], timeout=5).json())["status"] != (
            "complete"
        ):
            assert time.monotonic() < deadline and shown["status"] in ("queued", "active"), shown
            time.sleep(0.2)
        file = httpx.get(shown["file"], timeout=5).json()
        assert [note["title"] for note in file["notes"]] == ["Exported"]
    finally:
        outputs = [stop(process) for process in started]
        manage_database(project, creating, "drop")
    assert all("Traceback" not in output for output in outputs), outputs


def test_procfile_release_migrates_and_web_serves_on_port(tmp_path: Path) -> None:
    """Both processes as a platform runs them: from the repository (no git-ignored .env), with
    PORT and the DATABASE_URL a platform attaches, which names no driver."""
    require_server(SERVERS["postgresql"])
    project = render(tmp_path, database="postgresql", paas="yes")
    (project / ".env").unlink()
    processes = dict(
        line.split(": ", 1) for line in (project / "Procfile").read_text().splitlines() if line
    )
    assert set(processes) == {"release", "web"}
    name = f"tpl_{secrets.token_hex(4)}"
    env = venv_env(build_venv([project]))
    creating = {**env, "DATABASE_URL": SERVERS["postgresql"].url.format(database=name)}
    manage_database(project, creating, "create")
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"  # Heroku's spelling
    try:
        run(["sh", "-c", processes["release"]], cwd=project, env=env)
        current = run(["scripts/migrate", "current"], cwd=project, env=env)
        assert "(head)" in current.stdout
        port = free_port()
        web = subprocess.Popen(
            ["sh", "-c", processes["web"]], cwd=project, env={**env, "PORT": str(port)},
            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/health/ready", web)
            created = httpx.post(
                f"http://127.0.0.1:{port}/api/notes", json={"title": "On a platform"}, timeout=5
            )
            assert created.status_code == 201, created.text
        finally:
            output = stop(web)
        assert BANNERS[DEFAULT_SERVER] in output, output
        no_port = subprocess.run(
            ["sh", "-c", processes["web"]], cwd=project, env=env, capture_output=True,
            text=True, check=False, timeout=30,
        )
        assert no_port.returncode != 0 and "the platform sets PORT" in no_port.stderr
    finally:
        manage_database(project, creating, "drop")
