from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from {{ cookiecutter.package_name }}.core.settings import Settings
from {{ cookiecutter.package_name }}.ops import metrics

WORKER = """
from prometheus_client import Counter, Gauge
Counter("answered", "answered").inc(3)
Gauge("open", "open", multiprocess_mode="livesum").set(2)
"""


def test_a_worker_that_ended_keeps_its_counts_but_not_its_live_gauges(
    tmp_path: Path, settings: Settings
) -> None:
    env = {**os.environ, **metrics.environment(settings, tmp_path)}
    for _ in range(2):  # two workers, one after the other: both have ended
        subprocess.run([sys.executable, "-c", WORKER], env=env, check=True)  # noqa: S603 - ours
    registry = CollectorRegistry()
    metrics.Workers(registry, path=str(tmp_path / metrics.FOLDER))  # type: ignore[no-untyped-call]

    assert registry.get_sample_value("answered_total") == 6
    assert not registry.get_sample_value("open")
    assert not list((tmp_path / metrics.FOLDER).glob("gauge_live*"))


def test_metrics_off_gives_the_server_no_folder(tmp_path: Path, settings: Settings) -> None:
    off = settings.model_copy(update={"metrics_enabled": False})

    assert metrics.environment(off, tmp_path) == {}
    assert not (tmp_path / metrics.FOLDER).exists()
