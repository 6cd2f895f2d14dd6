from __future__ import annotations

from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.settings import Settings

from ..databases import finish_failed_opens


def count(route: str, status: str, method: str = "GET") -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def test_requests_are_counted_by_route_template_not_path(
    client: TestClient, app: Starlette
) -> None:
    route = "/api/notes/{id:id}"
    before = count(route, "4xx")

    for note_id in range(1, 51):
        assert client.get(app.url_path_for("note", id=note_id)).status_code == 404

    assert count(route, "4xx") == before + 50
    series = {
        sample.labels["route"]
        for metric in REGISTRY.collect()
        if metric.name == "http_requests"
        for sample in metric.samples
    }
    assert not any(name.startswith("/api/notes/") and name != route for name in series)


def test_unmatched_paths_the_probe_and_odd_methods_have_fixed_labels(
    client: TestClient, app: Starlette
) -> None:
    before = count("unmatched", "4xx"), count("/health/live", "2xx")
    before_other = count("/api/notes", "4xx", "other")

    client.get("/no/such/page/12345")
    client.get(app.url_path_for("health_live"))
    client.request("BREW", app.url_path_for("notes"))

    assert count("unmatched", "4xx") == before[0] + 1
    assert count("/health/live", "2xx") == before[1] + 1
    assert count("/api/notes", "4xx", "other") == before_other + 1


def test_latency_and_readiness_are_recorded(client: TestClient, app: Starlette) -> None:
    labels = {"method": "GET", "route": "/health/ready"}
    before = REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) or 0.0

    assert client.get(app.url_path_for("health_ready")).status_code == 200

    assert REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) == before + 1
    assert REGISTRY.get_sample_value("health_ready") == 1
    assert (REGISTRY.get_sample_value("database_query_duration_seconds_count") or 0) > 0


def test_a_failing_readiness_check_sets_the_gauge_to_zero(
    caller: dict[str, str], unreachable_database_url: str
) -> None:
    settings = Settings(
        _env_file=None, database_url=unreachable_database_url, allowed_hosts=("testserver",)
    )
    app = create_app(settings)
    outages = REGISTRY.get_sample_value("database_unavailable_total") or 0.0

    with TestClient(app, headers=caller) as client:
        assert client.get(app.url_path_for("health_ready")).status_code == 503
        failed = REGISTRY.get_sample_value("health_ready")
        assert client.get(app.url_path_for("health_live")).status_code == 200
        finish_failed_opens()

    assert failed == 0
    assert REGISTRY.get_sample_value("health_ready") == 0  # other routes leave it alone
    assert (REGISTRY.get_sample_value("database_unavailable_total") or 0.0) > outages


def test_metrics_off_counts_nothing(settings: Settings, caller: dict[str, str]) -> None:
    app = create_app(settings.model_copy(update={"metrics_enabled": False}))
    before = count("/health/live", "2xx")

    with TestClient(app, headers=caller) as client:
        assert client.get(app.url_path_for("health_live")).status_code == 200

    assert count("/health/live", "2xx") == before
