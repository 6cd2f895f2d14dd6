"""The rendered Dockerfile and compose.yaml, linted, validated, built and run with podman.

No image registry is reachable from here, so the image the Dockerfile's FROM names is a
stand-in built from Debian's packages: bookworm's python3 (3.11, the default python_version)
made with mmdebstrap and imported under the official image's name. It is made once, kept in
.cache/ and in podman's store, and made under a file lock, so concurrent tests wait for it.
Where the official image is already in podman's store, it is used as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import yaml
from websockets.sync.client import connect

from .conftest import BANNERS, DEFAULT_SERVER, Project, free_port, stop, unavailable, wait_until_up
from .harness import CACHE, COMBINATIONS, render, run

BASE_TAR = CACHE / "container-base-bookworm.tar"
STAND_IN_PYTHON = "3.11"  # bookworm's python3
DEBIAN_PACKAGES = "python3,python3-venv,python-is-python3,ca-certificates"


def require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        unavailable(f"{', '.join(missing)} not installed (Debian packages of the same names)")


@pytest.fixture(scope="session")
def podman_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment podman (and podman-compose) run in.

    podman raises containers' open-file and process limits by default, which needs
    CAP_SYS_RESOURCE; where that is missing (as in an unprivileged build box) containers fail
    to start. The containers get this machine's open-file limit and at most 4096 processes
    instead, and the runc runtime.
    """
    require("podman", "runc")
    CACHE.mkdir(exist_ok=True)
    nofile, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[0], 4096)
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
    )
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def podman(env: dict[str, str], *arguments: str, timeout: float = 120) -> str:
    return run(["podman", *arguments], cwd=CACHE, env=env, timeout=timeout).stdout.strip()


def base_image(env: dict[str, str]) -> None:
    """Make sure the image the default project's FROM names is in podman's store."""
    name = f"docker.io/library/python:{STAND_IN_PYTHON}-slim"
    with open(CACHE / "container-base.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if subprocess.run(["podman", "image", "exists", name], env=env).returncode == 0:
            return
        if not BASE_TAR.is_file():
            require("mmdebstrap")
            partial = BASE_TAR.with_name("container-base-partial.tar")
            run(
                ["mmdebstrap", "--quiet", "--variant=minbase", f"--include={DEBIAN_PACKAGES}",
                 "bookworm", str(partial)],
                cwd=CACHE, timeout=900,
            )
            partial.rename(BASE_TAR)
        podman(env, "import", str(BASE_TAR), name, timeout=300)


def build(env: dict[str, str], project: Path, tag: str) -> str:
    """Build the project's image as localhost/<tag>; the host's CA certificates reach PyPI."""
    image = f"localhost/{tag}"
    podman(
        env, "build", "--quiet", "--format", "docker", "--pull=never", "--network", "host",
        "--volume", "/etc/ssl/certs:/etc/ssl/certs:ro", "--tag", image, str(project),
        timeout=900,
    )
    return image


def compose_file(project: Path) -> dict[str, dict[str, dict[str, object]]]:
    loaded: dict[str, dict[str, dict[str, object]]] = yaml.safe_load(
        (project / "compose.yaml").read_text()
    )
    return loaded


def graceful_timeout(project: Path) -> int:
    """The server's whole stop, drain included, as .env.example sets it."""
    match = re.search(r"^SHUTDOWN_GRACE_SECONDS=(\d+)$", (project / ".env.example").read_text(), re.M)
    assert match, ".env.example sets no SHUTDOWN_GRACE_SECONDS"
    return int(match.group(1))


def grace_period(project: Path) -> int:
    period = str(compose_file(project)["services"]["app"]["stop_grace_period"])
    assert period.endswith("s"), period
    return int(period.removesuffix("s"))


def test_dockerfile_passes_hadolint(default_project: Path) -> None:
    result = run(
        [str(Path(sys.executable).with_name("hadolint")), "Dockerfile"], cwd=default_project
    )
    assert result.stdout == ""


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_compose_file_follows_the_spec(tmp_path: Path, combination: str) -> None:
    project = render(tmp_path, **COMBINATIONS[combination])
    run(
        [str(Path(sys.executable).with_name("check-jsonschema")), "--builtin-schema",
         "vendor.compose-spec", "compose.yaml"],
        cwd=project,
    )
    services = compose_file(project)["services"]
    assert services["migrate"]["command"] == ["scripts/migrate", "upgrade", "head"]
    broadcast = COMBINATIONS[combination].get("broadcast", "memory")
    jobs = COMBINATIONS[combination].get("jobs", "none")
    redis = "redis" in (broadcast, jobs)
    # With Redis, the app waits for it as well; the other brokers need no service of their own.
    broker = {"broker": {"condition": "service_healthy"}} if redis else {}
    migrated = {"migrate": {"condition": "service_completed_successfully"}, **broker}
    assert services["app"]["depends_on"] == migrated
    assert ("broker" in services) == redis
    if redis:
        assert "healthcheck" in services["broker"]
    if broadcast == "redis":
        assert services["app"]["environment"]["BROADCAST_URL"] == "redis://broker:6379/0"
    assert ("worker" in services) == (jobs != "none")
    if jobs != "none":
        worker = services["worker"]
        assert worker["command"] == ["scripts/worker"] and worker["depends_on"] == migrated
        assert worker["healthcheck"]["test"] == ["CMD", "scripts/worker", "--check"]
        scheme = {"redis": "redis://", "postgres": "postgresql://"}[jobs]
        assert worker["environment"]["JOBS_URL"].startswith(scheme)
        assert int(str(worker["stop_grace_period"]).removesuffix("s")) > 25  # the worker's grace
    if jobs == "redis":  # the queue is kept on disk
        assert services["broker"]["volumes"] == ["broker:/data"]
    # The server ends requests in flight before the runtime's SIGKILL would.
    assert grace_period(project) > graceful_timeout(project)
    if COMBINATIONS[combination]["database"] == "sqlite":
        assert "db" not in services
        assert services["app"]["volumes"] == ["data:/data"]
    else:
        assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
        assert "healthcheck" in services["db"]


@pytest.mark.parametrize("database", ["postgresql", "mysql"])
def test_compose_refuses_to_run_without_the_database_password(
    tmp_path: Path, database: str, podman_env: dict[str, str]
) -> None:
    project = render(tmp_path, database=database)
    compose = [str(Path(sys.executable).with_name("podman-compose")), "config"]
    env = {key: value for key, value in podman_env.items() if key != "DATABASE_PASSWORD"}
    refused = subprocess.run(compose, cwd=project, env=env, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "required variable DATABASE_PASSWORD is missing" in refused.stderr
    config = run(compose, cwd=project, env={**env, "DATABASE_PASSWORD": "s3cret"}).stdout
    assert "app:s3cret@db:" in config


@pytest.fixture
def container_database(project: Project, podman_env: dict[str, str]) -> Iterator[list[str]]:
    """podman run options that give a container the project's database."""
    if "DATABASE_URL" not in project.env:  # SQLite: a file in a volume
        volume = f"tpl-data-{secrets.token_hex(4)}"
        podman(podman_env, "volume", "create", volume)
        try:
            yield ["--env", "DATABASE_URL=sqlite+aiosqlite:////data/app.db", "--volume",
                   f"{volume}:/data"]
        finally:
            podman(podman_env, "volume", "rm", "--force", volume)
    else:
        # The server on this machine, reached over the host's network.
        yield ["--env", f"DATABASE_URL={project.env['DATABASE_URL']}"]


IMAGE_FACTS = """
import json, os, shutil
from pathlib import Path
print(json.dumps({
    "uid": os.getuid(),
    "found": sorted(str(p) for p in [*Path("/app").rglob(".env"), Path("/app/tests"),
        *Path("/").glob("*/.cache"), Path("/opt/uv")]
        if p.exists()),
    "tools": sorted(t for t in ("gcc", "cc", "uv", "make") if shutil.which(t)),
}))
"""


def logs(env: dict[str, str], name: str) -> str:
    result = subprocess.run(
        ["podman", "logs", name], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, check=False,
    )
    return result.stdout


def slow_upload(first_part_sent: threading.Event, release: threading.Event) -> Iterator[bytes]:
    """A note's JSON sent in two parts, the second only once `release` is set."""
    yield b'{"title": "Sent while the server'
    first_part_sent.set()
    release.wait(60)
    yield b' stops"}'


# None: the image's own default, no SERVER given.
@pytest.mark.parametrize(
    ("project", "server_name"),
    [("sqlite", None), ("postgresql", None), ("sqlite", "granian")],
    indirect=["project"],
)
def test_image_migrates_serves_and_stops_gracefully(
    project: Project,
    server_name: str | None,
    podman_env: dict[str, str],
    container_database: list[str],
) -> None:
    base_image(podman_env)
    image = build(podman_env, project.path, f"tpl-{project.path.name}-{secrets.token_hex(3)}")
    name = f"tpl-app-{secrets.token_hex(4)}"
    stack = contextlib.ExitStack()
    port = free_port()
    options = [
        "--network", "host", "--env", f"PORT={port}",
        *(["--env", f"SERVER={server_name}"] if server_name else []), *container_database,
    ]
    try:
        config = json.loads(podman(podman_env, "image", "inspect", "--format", "json", image))[0]
        assert config["Config"]["StopSignal"] == "SIGTERM"
        assert config["Config"]["User"] == "10001:10001"
        assert config["Healthcheck"]["Test"] == ["CMD", "scripts/healthcheck"]
        podman(podman_env, "run", "--rm", *options, image, "scripts/migrate", "upgrade", "head")
        # Attached, so that podman's exit status is the server's.
        server = stack.enter_context(subprocess.Popen(
            ["podman", "run", "--name", name, *options, image], env=podman_env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        ))
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/health/ready", server, seconds=60)
        podman(podman_env, "healthcheck", "run", name)

        with connect(f"ws://127.0.0.1:{port}/ws/notes", open_timeout=5) as websocket:
            created = httpx.post(f"{base}/api/notes", json={"title": "From a container"}, timeout=5)
            assert created.status_code == 201
            event = json.loads(websocket.recv(timeout=5))
        assert event["type"] == "note.created" and event["note"] == created.json()

        facts = json.loads(podman(podman_env, "exec", name, "python", "-c", IMAGE_FACTS))
        assert facts["uid"] != 0
        assert facts["found"] == []
        assert facts["tools"] == []

        # SIGTERM while a request body is still arriving: the request completes, then the
        # server exits by itself, before the grace period would end in SIGKILL (exit 137).
        first_part_sent, release = threading.Event(), threading.Event()
        answers: list[httpx.Response] = []
        request = threading.Thread(target=lambda: answers.append(httpx.post(
            f"{base}/api/notes", content=slow_upload(first_part_sent, release),
            headers={"content-type": "application/json"}, timeout=60,
        )))
        request.start()
        assert first_part_sent.wait(10)
        stop = stack.enter_context(subprocess.Popen(
            ["podman", "stop", "--time", str(grace_period(project.path)), name], env=podman_env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        deadline = time.monotonic() + 20
        while "Shutting down" not in logs(podman_env, name):
            assert time.monotonic() < deadline, "the server did not begin to shut down"
            time.sleep(0.2)
        release.set()
        request.join(60)
        assert stop.wait(60) == 0
        assert [answer.status_code for answer in answers] == [201]
        assert answers[0].json()["title"] == "Sent while the server stops"
        assert server.wait(60) in {0, 143}, server.communicate()[0]
        assert BANNERS[server_name or DEFAULT_SERVER] in server.communicate()[0]
    finally:
        subprocess.run(["podman", "rm", "--force", name], env=podman_env, capture_output=True)
        stack.close()
        subprocess.run(["podman", "rmi", image], env=podman_env, capture_output=True)


def test_compose_brings_up_the_sqlite_project(
    default_project: Path, podman_env: dict[str, str]
) -> None:
    base_image(podman_env)
    build(podman_env, default_project, "my-service:latest")  # the image compose.yaml names
    compose = str(Path(sys.executable).with_name("podman-compose"))
    port = free_port()
    env = {**podman_env, "PORT": str(port)}
    # In the foreground: podman-compose checks depends_on conditions only when it attaches.
    process = subprocess.Popen(
        [compose, "--verbose", "up"], cwd=default_project, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/health/ready", process, seconds=120)
        created = httpx.post(f"{base}/api/notes", json={"title": "Composed"}, timeout=5)
        assert created.status_code == 201
        listing = httpx.get(f"{base}/api/notes", timeout=5).json()
        assert [note["title"] for note in listing["items"]] == ["Composed"]
    finally:
        run([compose, "down", "--volumes"], cwd=default_project, env=env)
        output = stop(process)
    waited = output.index("'podman', 'wait', '--condition=stopped', 'my-service_migrate_1'")
    assert waited < output.index("podman start -a my-service_app_1"), output


def container_commands(project: Path) -> list[str]:
    """The shell lines of docs/deploy.md's container block (under "## The image")."""
    deploy = (project / "docs" / "deploy.md").read_text()
    section = deploy[deploy.index("\n## The image\n") :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "no sh block in docs/deploy.md's image section"
    return block.group(1).splitlines()


def on_this_machine(line: str, tag: str, port: int) -> str:
    """A README line with what this machine needs and parallel runs must not share.

    Builds reach PyPI through the host's network and CA store; the servers listen on the
    host's loopback, so the container shares the host's network, on a free port, instead of
    `-p 8000:8000`; image, container and volume get names of this run's own.
    """
    line = line.replace(" my-service-data:", f" {tag}-data:")
    line = line.replace("podman build ", "podman build --quiet --pull=never --network host "
                        "--volume /etc/ssl/certs:/etc/ssl/certs:ro ")
    line = line.replace(" -p 8000:8000", f" --network host -e PORT={port}")
    line = line.replace("podman run --rm ", "podman run --rm --network host ")
    line = line.replace(" --name my-service ", f" --name {tag} ")
    line = line.replace("-t my-service .", f"-t localhost/{tag} .")
    return re.sub(r" my-service( |$)", rf" localhost/{tag}\1", line)


def test_readme_container_commands_run_as_written(
    tmp_path: Path, podman_env: dict[str, str], certificate_authority: Any
) -> None:
    """With accounts (the run needs SECRET_KEY) on SQLite (the file in a volume): docs/deploy.md's
    build, migration and run, then the image's health check, over HTTP and with TLS on."""
    project = render(tmp_path, **COMBINATIONS["users-sqlite"])
    lines = container_commands(project)
    run_line = next(line for line in lines if line.startswith("podman run -d "))
    assert run_line.split()[-1] == "my-service"
    for variable in ("DATABASE_URL", "ALLOWED_HOSTS", "SECRET_KEY"):
        assert f" -e {variable} " in run_line, variable
    assert "--format docker" in next(line for line in lines if line.startswith("podman build"))
    base_image(podman_env)
    tag, port = f"tpl-readme-{secrets.token_hex(4)}", free_port()
    script = "\n".join(on_this_machine(line, tag, port) for line in lines)
    # The shell docs/deploy.md's commands run in: the user's, without the app's settings.
    env = {key: value for key, value in podman_env.items()
           if key not in {"DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "BROADCAST_URL"}}
    issued = certificate_authority.issue_cert("127.0.0.1", "localhost")
    tls = tmp_path / "tls"
    tls.mkdir()
    issued.cert_chain_pems[0].write_to_path(str(tls / "cert.pem"))
    issued.private_key_pem.write_to_path(str(tls / "key.pem"))
    for path in (tls, *tls.iterdir()):  # readable by the image's user
        path.chmod(0o755 if path.is_dir() else 0o644)
    tls_name, tls_port = f"{tag}-tls", free_port()
    started = time.monotonic()
    try:
        run(["sh", "-e", "-c", script], cwd=project, env=env, timeout=900)
        built = time.monotonic() - started
        wait_for_container(f"http://127.0.0.1:{port}/health/ready", podman_env, tag)
        podman(podman_env, "healthcheck", "run", tag)
        size = podman(podman_env, "image", "inspect", "--format", "{{.Size}}", f"localhost/{tag}")
        # The same image with TLS on: the health check asks over HTTPS.
        secret = podman(podman_env, "exec", tag, "printenv", "SECRET_KEY")
        podman(
            podman_env, "run", "-d", "--name", tls_name, "--network", "host",
            "-e", f"PORT={tls_port}", "-e", "DATABASE_URL=sqlite+aiosqlite:////data/my_service.db",
            "-e", f"SECRET_KEY={secret}", "-v", f"{tag}-data:/data", "-v", f"{tls}:/tls:ro",
            "-e", "TLS_CERTFILE=/tls/cert.pem", "-e", "TLS_KEYFILE=/tls/key.pem",
            f"localhost/{tag}",
        )
        wait_for_container(f"https://127.0.0.1:{tls_port}/health/live", podman_env, tls_name)
        podman(podman_env, "healthcheck", "run", tls_name)
        print(f"README build and run: {built:.0f}s; image {int(size) / 1e6:.0f} MB")
    finally:
        for name in (tls_name, tag):
            subprocess.run(["podman", "rm", "--force", "--time", "0", name], env=podman_env,
                           capture_output=True, check=False)
        subprocess.run(["podman", "volume", "rm", "--force", f"{tag}-data"], env=podman_env,
                       capture_output=True, check=False)
        subprocess.run(["podman", "rmi", f"localhost/{tag}"], env=podman_env, capture_output=True,
                       check=False)


def wait_for_container(url: str, env: dict[str, str], name: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            # As `localhost`, a name the README's ALLOWED_HOSTS keeps (the certificate's too).
            answer = httpx.get(url, headers={"Host": "localhost"}, timeout=2, verify=False)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer 200 within {seconds}s:\n{logs(env, name)}")
