"""The metrics, scraped by a real Prometheus from a project served with two workers, and from
its job worker.

One served project (SQLite, the Redis broker, which allows two workers, and a Redis job queue
with scripts/worker running an export) and one Prometheus are shared by the tests that need
them; the alert rules and the dashboards are checked with promtool and against the served
expositions.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from .conftest import Served, free_port, require_server, serve, stop, unavailable
from .harness import BROKERS, build_venv, render, run, venv_env
from .test_workers import workers

NOTE_IDS = 1000
ROUTE = "/api/notes/{id:id}"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool is not installed (Debian's prometheus package)")
    return found


@dataclass(frozen=True)
class Scraped:
    project: Path
    served: Served
    metrics_url: str
    worker_metrics_url: str  # scripts/worker's
    prometheus: str  # the Prometheus server's base URL
    note_requests: int  # requests sent to ROUTE


def query(prometheus: str, expression: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expression}, timeout=5)
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def wait_for(prometheus: str, expression: str, seconds: float = 30) -> list[dict[str, Any]]:
    """The result of `expression` once it is not empty."""
    deadline = time.monotonic() + seconds
    while not (result := query(prometheus, expression)):
        assert time.monotonic() < deadline, f"no result for {expression} within {seconds}s"
        time.sleep(0.5)
    return result


def drive(url: str, note_id: int) -> int:
    """Traffic over several connections (so both workers answer): notes listed and read, and
    NOTE_IDS different ids asked for. Returns how many requests went to ROUTE."""
    sent: list[int] = []  # one entry per request to ROUTE
    ids = list(range(note_id, note_id + NOTE_IDS))
    chunks = [ids[start::4] for start in range(4)]

    def client(chunk: list[int]) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            for index, each in enumerate(chunk):
                if http.get(f"/api/notes/{each}").status_code in {200, 404}:
                    sent.append(each)
                if index % 10 == 0:
                    http.get("/api/notes").raise_for_status()

    threads = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return len(sent)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    promtool()
    prometheus_binary = shutil.which("prometheus")
    if prometheus_binary is None:
        unavailable("prometheus is not installed (Debian's prometheus package)")
    require_server(BROKERS["redis"])
    folder = tmp_path_factory.mktemp("metrics")
    project = render(folder, database="sqlite", broadcast="redis", jobs="redis")
    env = {
        **venv_env(build_venv([project])), "BROADCAST_URL": BROKERS["redis"].url,
        "BROADCAST_CHANNEL": f"metrics-{free_port()}", "JOBS_QUEUE": f"metrics-{free_port()}",
    }
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
    metrics_port, worker_port = free_port(), free_port()
    worker = subprocess.Popen(
        ["scripts/worker"], cwd=project, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**env, "HOST": "127.0.0.1", "WORKER_METRICS_PORT": str(worker_port)},
    )
    try:
        served = serve(
            project, env, workers=2, METRICS_PORT=str(metrics_port), SHUTDOWN_DRAIN_SECONDS="0"
        )
    except BaseException:
        print(stop(worker))
        raise
    prometheus_port = free_port()
    config = folder / "prometheus.yaml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for job, port in (("app", metrics_port), ("worker", worker_port))
        ],
    }))
    prometheus = subprocess.Popen(
        [
            prometheus_binary, f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        text=True, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{prometheus_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert prometheus.poll() is None, prometheus.communicate()[0]
            assert time.monotonic() < deadline, "Prometheus did not scrape the app within 30s"
            try:
                if len(query(base, "up == 1")) == 2:  # the app and the worker
                    break
            except (httpx.TransportError, httpx.HTTPStatusError):  # 503 while it starts
                pass
            time.sleep(0.3)
        # Both workers up before the traffic, so that both answer some of it.
        while len(workers(served.process.pid)) < 2:
            assert time.monotonic() < deadline, "the server did not start two workers"
            time.sleep(0.2)
        with httpx.Client(base_url=served.url, timeout=10) as http:
            created = http.post("/api/notes", json={"title": "scraped", "body": ""})
            assert created.status_code == 201, created.text
            export = http.post("/api/exports")
            assert export.status_code == 202, export.text
            ran_by = time.monotonic() + 60
            while http.get(export.headers["location"]).json()["status"] != "complete":
                assert time.monotonic() < ran_by, "the worker did not run the export"
                time.sleep(0.2)
        sent = drive(served.url, created.json()["id"])
        yield Scraped(
            project, served, f"http://127.0.0.1:{metrics_port}/metrics",
            f"http://127.0.0.1:{worker_port}/metrics", base, sent,
        )
    finally:
        stop(prometheus)
        output = stop(served.process) + stop(worker)
        assert "Traceback" not in output, output


def exposition(scraped: Scraped, worker: bool = False) -> str:
    answer = httpx.get(scraped.worker_metrics_url if worker else scraped.metrics_url, timeout=5)
    assert answer.status_code == 200
    return answer.text


def samples(text: str, name: str, **labels: str) -> list[float]:
    """The values of the samples of `name` whose labels include `labels`."""
    found = []
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        pairs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        if all(pairs.get(key) == value for key, value in labels.items()):
            found.append(float(match[3]))
    return found


def test_the_counter_sums_both_workers_and_keeps_one_route_label(scraped: Scraped) -> None:
    deadline = time.monotonic() + 10  # the workers write what they counted every second
    while (counted := sum(samples(text := exposition(scraped), "http_requests_total", route=ROUTE))) < NOTE_IDS:
        assert time.monotonic() < deadline, counted
        time.sleep(0.3)
    assert counted == scraped.note_requests == NOTE_IDS
    routes = set(re.findall(r'http_requests_total\{[^}]*route="([^"]*)"', text))
    assert [route for route in routes if route.startswith("/api/notes/")] == [ROUTE]
    # Both workers wrote what was summed: each process has its own counter file.
    environ = Path(f"/proc/{workers(scraped.served.process.pid)[0]}/environ").read_bytes()
    folder = dict(
        entry.decode().partition("=")[::2] for entry in environ.split(b"\0") if b"=" in entry
    )["PROMETHEUS_MULTIPROC_DIR"]
    writers = {file.stem.rpartition("_")[2] for file in Path(folder).glob("counter_*.db")}
    assert len(writers) >= 2, writers


def test_prometheus_scrapes_the_counter_and_the_latency_histogram(scraped: Scraped) -> None:
    expression = f'sum(http_requests_total{{job="app",route="{ROUTE}"}})'
    deadline = time.monotonic() + 30
    while float(wait_for(scraped.prometheus, expression)[0]["value"][1]) < NOTE_IDS:
        assert time.monotonic() < deadline, query(scraped.prometheus, expression)
        time.sleep(0.5)
    assert float(query(scraped.prometheus, expression)[0]["value"][1]) == NOTE_IDS

    labels = 'job="app",route="/api/notes",method="GET"'
    p99 = wait_for(
        scraped.prometheus,
        f"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{labels}}}[1m])))",
    )
    assert 0 < float(p99[0]["value"][1]) < 10, p99
    one_label = query(
        scraped.prometheus, 'count(count by (route) (http_requests_total{route=~"/api/notes/.+"}))'
    )
    assert one_label[0]["value"][1] == "1"


def test_prometheus_scrapes_the_queue_and_the_jobs_the_worker_ran(scraped: Scraped) -> None:
    ran = 'jobs_ended_total{job="worker",function="export_notes",outcome="complete"}'
    assert float(wait_for(scraped.prometheus, ran)[0]["value"][1]) == 1
    gauges = {"jobs_queued": "0", "jobs_running": "0", "jobs_queue_reachable": "1"}
    for gauge, value in gauges.items():
        found = wait_for(scraped.prometheus, f'{gauge}{{job="worker"}}')
        assert [each["value"][1] for each in found] == [value], gauge
    took = 'job_duration_seconds_count{job="worker",function="export_notes"}'
    assert wait_for(scraped.prometheus, took)[0]["value"][1] == "1"


@pytest.mark.parametrize("worker", [False, True], ids=["app", "worker"])
def test_promtool_finds_no_problem_in_the_exposition(scraped: Scraped, worker: bool) -> None:
    checked = subprocess.run(
        [promtool(), "check", "metrics"], input=exposition(scraped, worker), text=True,
        capture_output=True, check=False,
    )
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("dashboard", "worker", "least"), [("dashboard", False, 10), ("jobs", True, 5)],
    ids=["app", "worker"],
)
def test_every_metric_the_dashboard_queries_is_exposed(
    scraped: Scraped, dashboard: str, worker: bool, least: int
) -> None:
    panels = json.loads((scraped.project / f"deploy/grafana/{dashboard}.json").read_text())
    expressions = [target["expr"] for panel in panels["panels"] for target in panel["targets"]]
    assert len(expressions) >= least
    exposed = set(re.findall(r"^([a-zA-Z_:][\w:]*)", exposition(scraped, worker), re.MULTILINE))
    # Every selector names its metric and a job: `name{job=~"$job", ...}`.
    queried = {name for expression in expressions for name in re.findall(r"(\w+)\{", expression)}
    assert queried and queried <= exposed, sorted(queried - exposed)


@pytest.mark.parametrize(
    ("options", "rules"),
    [
        ({}, {"alerts": 6}),
        ({"broadcast": "redis", "jobs": "redis"}, {"alerts": 6, "alerts-jobs": 4}),
    ],
    ids=["without-jobs", "with-jobs"],
)
def test_the_alert_rules_pass_promtool_check_and_their_unit_tests(
    tmp_path: Path, options: dict[str, str], rules: dict[str, int]
) -> None:
    folder = render(tmp_path, **options) / "deploy/prometheus"
    tool = promtool()
    assert sorted(path.stem for path in folder.glob("alerts*.yaml")) == sorted(
        name for rule in rules for name in (rule, f"{rule}-test")
    )
    for name, count in rules.items():
        for command in (["check", "rules", f"{name}.yaml"], ["test", "rules", f"{name}-test.yaml"]):
            done = subprocess.run([tool, *command], cwd=folder, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
        alerts = re.findall(r"^\s+- alert: (\w+)", (folder / f"{name}.yaml").read_text(), re.M)
        tested = set(re.findall(r"alertname: (\w+)", (folder / f"{name}-test.yaml").read_text()))
        assert len(alerts) == count and set(alerts) == tested
    checked = subprocess.run(
        [tool, "check", "config", "prometheus.yaml"], cwd=folder, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(rules)} rule files found" in checked.stdout, checked.stdout
