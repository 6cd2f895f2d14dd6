"""The Kubernetes manifests, run: what `kubectl kustomize` builds from the dev and production
overlays, under `podman kube play`, against this machine's PostgreSQL and Redis.

No cluster runs here, so the test changes only what podman cannot run as Kubernetes would,
each change in `for_podman` with its reason: the image is the one just built, never pulled;
the pods share the host's network (PostgreSQL and Redis listen on 127.0.0.1 only), so each
pod gets a port of its own and no port mapping, and `BROADCAST_URL` names the machine's Redis
instead of the in-cluster Service `redis`; and the ConfigMap and Secret are given as the
container's `env` (podman 4.3 cannot read a Secret from the YAML, and lets `envFrom` win over
`env`). Podman runs no Job, so the migration runs as a Pod made of the Job's pod template.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import yaml
from websockets.sync.client import connect

from .conftest import free_port, require_server
from .harness import BROKERS, SERVERS, build_venv, manage_database, render, run, venv_env
from .test_container import base_image, build, logs, podman, podman_env  # noqa: F401 - fixture
from .test_deploy import component, kustomized, require_tool

CONTEXT = {"database": "postgresql", "broadcast": "redis", "kubernetes": "yes", "jobs": "redis"}
REDIS = BROKERS["redis"].url
JOBS = REDIS.removesuffix("/0") + "/1"


@dataclass(frozen=True)
class Cluster:
    project: Path
    image: str
    database_url: str
    env: dict[str, str]  # podman's


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, podman_env: dict[str, str]  # noqa: F811
) -> Iterator[Cluster]:
    """The rendered project, its image built once, and a database of its own."""
    for needed in (SERVERS["postgresql"], BROKERS["redis"]):
        require_server(needed)
    project = render(tmp_path_factory.mktemp("kubernetes"), **CONTEXT)
    base_image(podman_env)
    image = build(podman_env, project, f"tpl-kube-{secrets.token_hex(3)}:dev")
    database_url = SERVERS["postgresql"].url.format(database=f"tpl_{secrets.token_hex(4)}")
    env = {**venv_env(build_venv([project])), "DATABASE_URL": database_url}
    manage_database(project, env, "create")
    try:
        yield Cluster(project, image, database_url, podman_env)
    finally:
        manage_database(project, env, "drop")
        subprocess.run(["podman", "rmi", image], env=podman_env, capture_output=True)


def for_podman(
    template: dict[str, Any], name: str, image: str, env: dict[str, str]
) -> dict[str, Any]:
    """A Pod of `template` (a pod template from the manifests) that podman can run here."""
    pod = copy.deepcopy(template)
    spec = pod["spec"]
    spec["hostNetwork"] = True  # the machine's servers listen on 127.0.0.1 only
    for container in spec["containers"]:
        container["image"], container["imagePullPolicy"] = image, "Never"
        # Host networking has no port mappings; the probes name the pod's own port instead.
        container.pop("ports", None)
        for probe in ("readinessProbe", "livenessProbe"):
            if "httpGet" in container.get(probe, {}):
                container[probe]["httpGet"]["port"] = int(env["PORT"])
        container.pop("envFrom")
        container["env"] = [{"name": key, "value": value} for key, value in env.items()]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {**pod["metadata"], "name": name},
            "spec": spec}


def pod_env(kinds: dict[str, dict[str, Any]], **changes: str) -> dict[str, str]:
    """What envFrom gives the pods: the ConfigMap, then the Secret (which wins), then `changes`."""
    values = dict(kinds["ConfigMap"]["data"])
    values.update({
        key: base64.b64decode(value).decode() for key, value in kinds["Secret"]["data"].items()
    })
    return {**values, **changes}


def play(env: dict[str, str], folder: Path, pod: dict[str, Any]) -> Path:
    path = folder / f"{pod['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(pod))
    podman(env, "kube", "play", "--quiet", str(path))
    return path


def wait_ready(url: str, container: str, env: dict[str, str], seconds: float = 60) -> None:
    deadline, last = time.monotonic() + seconds, "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(url, headers={"Host": "localhost"}, timeout=2)
            if answer.status_code == 200:
                return
            last = answer.text
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.3)
    pytest.fail(f"{url} not ready in {seconds}s: {last}\n{logs(env, container)}")


def test_dev_overlay_migrates_then_two_pods_share_live_events(
    cluster: Cluster, tmp_path: Path
) -> None:
    overlay = cluster.project / "deploy" / "kubernetes" / "overlays" / "dev"
    (overlay / "secret.env").write_text(f"DATABASE_URL={cluster.database_url}\n")
    documents = kustomized(cluster.project, "dev")
    assert sum(document["kind"] == "Secret" for document in documents) == 1
    release(cluster, documents, tmp_path, cluster.image, pods=("a", "b"))


def test_production_overlay_runs_with_the_secret_made_as_documented(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The production tree names the registry's image and no Secret: the pods read the one
    docs/deploy.md's `kubectl create secret` makes, here printed rather than applied."""
    documents = kustomized(cluster.project, "production")
    assert not [document for document in documents if document["kind"] == "Secret"]
    (image,) = {container["image"] for document in documents if document["kind"] == "Deployment"
                for container in document["spec"]["template"]["spec"]["containers"]}
    assert image.startswith("registry.example.com/")
    (namespace,) = {document["metadata"]["namespace"] for document in documents
                    if document["kind"] == "Deployment"}
    database_url = SERVERS["postgresql"].url.format(database=f"tpl_{secrets.token_hex(4)}")
    kubectl = require_tool("kubectl")
    secret = yaml.safe_load(run([
        kubectl, "-n", namespace, "create", "secret", "generic", namespace,
        f"--from-literal=DATABASE_URL={database_url}", "--dry-run=client", "-o", "yaml",
    ], cwd=cluster.project).stdout)
    env = {**venv_env(build_venv([cluster.project])), "DATABASE_URL": database_url}
    manage_database(cluster.project, env, "create")
    podman(cluster.env, "tag", cluster.image, image)  # as pushed to the registry
    try:
        # The host the clients name, as docs/deploy.md says to add.
        release(cluster, [*documents, secret], tmp_path, image, pods=("a",),
                ALLOWED_HOSTS="localhost,127.0.0.1")
    finally:
        manage_database(cluster.project, env, "drop")
        subprocess.run(["podman", "untag", image], env=cluster.env, capture_output=True)


def release(
    cluster: Cluster, documents: list[dict[str, Any]], folder: Path, image: str,
    pods: tuple[str, ...], **settings: str,
) -> None:
    """Run an overlay's objects as a release does: the migration Job's pod to completion, then
    `pods` of the web Deployment and one of the workers'. A note made through the first pod
    reaches a socket on the last, and an export it starts runs on the worker. `settings` are
    what an operator adds to the ConfigMap."""
    worker_documents = [document for document in documents if component(document) == "worker"]
    kinds = {document["kind"]: document for document in documents
             if document not in worker_documents}
    workers = {document["kind"]: document for document in worker_documents}
    assert kinds["ConfigMap"]["data"]["BROADCAST_URL"] == "redis://redis:6379/0"
    assert kinds["ConfigMap"]["data"]["JOBS_URL"] == "redis://redis:6379/1"
    for template in (kinds["Deployment"], kinds["Job"], workers["Deployment"]):
        (container, *_) = template["spec"]["template"]["spec"]["containers"]
        assert {"secretRef": {"name": kinds["Secret"]["metadata"]["name"]}} in container["envFrom"]
    prefix = f"tpl-kube-{secrets.token_hex(3)}"
    channel = f"kube-{secrets.token_hex(4)}"  # other tests share this Redis
    queue = {"JOBS_URL": JOBS, "JOBS_QUEUE": channel, **settings}  # and its queues
    played: list[Path] = []
    try:
        # The Job's pod, once, to completion.
        job = kinds["Job"]["spec"]["template"]
        env = pod_env(kinds, BROADCAST_URL=REDIS, **settings)
        played.append(play(cluster.env, folder, for_podman(job, f"{prefix}-migrate", image, env)))
        (container,) = (f"{prefix}-migrate-{c['name']}" for c in job["spec"]["containers"])
        exit_code = podman(cluster.env, "wait", container, timeout=120)
        output = logs(cluster.env, container)
        assert exit_code == "0", output
        assert "Running upgrade 0002 -> 0003" in output

        # The Deployment's pods, each on a port of its own.
        urls = {}
        template = kinds["Deployment"]["spec"]["template"]
        for name in pods:
            port = free_port()
            env = pod_env(
                kinds, PORT=str(port), BROADCAST_URL=REDIS, BROADCAST_CHANNEL=channel, **queue
            )
            played.append(play(cluster.env, folder, for_podman(
                template, f"{prefix}-{name}", image, env)))
            urls[name] = f"http://127.0.0.1:{port}"
        for name, url in urls.items():
            (web,) = (f"{prefix}-{name}-{c['name']}" for c in template["spec"]["containers"])
            wait_ready(f"{url}/health/ready", web, cluster.env)
        # And a pod of the workers' Deployment, on the same queue and channel.
        worker = workers["Deployment"]["spec"]["template"]
        env = pod_env(kinds, BROADCAST_URL=REDIS, BROADCAST_CHANNEL=channel, **queue)
        played.append(play(cluster.env, folder, for_podman(
            worker, f"{prefix}-worker", image, env)))

        first, last = urls[pods[0]], urls[pods[-1]]
        with connect(last.replace("http://", "ws://") + "/ws/notes", open_timeout=10) as ws:
            ws.send('{"type": "ping"}')
            assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}
            created = httpx.post(f"{first}/api/notes", json={"title": "From pod a"}, timeout=10)
            assert created.status_code == 201, created.text
            event = json.loads(ws.recv(timeout=10))
            # An export started through the first pod runs on the worker pod; the last pod's
            # socket hears it end, and the last pod serves the file.
            started = httpx.post(f"{first}/api/exports", timeout=10)
            assert started.status_code == 202, started.text
            heard = [json.loads(ws.recv(timeout=60)) for _ in range(2)]
        assert event["type"] == "note.created" and event["note"] == created.json()
        assert [message["type"] for message in heard] == ["job.progress", "job.done"]
        assert heard[1]["job"] == {"key": started.json()["id"], "status": "complete"}
        file = httpx.get(f"{last}/api/exports/{started.json()['id']}/file", timeout=10)
        assert [note["title"] for note in file.json()["notes"]] == ["From pod a"]
    finally:
        # Together: each pod drains before it stops.
        downs = [subprocess.Popen(["podman", "kube", "down", str(path)], env=cluster.env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for path in played]
        for down in downs:
            down.wait(120)
