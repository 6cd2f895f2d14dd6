from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.web.templates import readable


def test_the_icon_is_where_browsers_look_for_it(client: TestClient, app: Starlette) -> None:
    moved = client.get("/favicon.ico", follow_redirects=False)

    assert moved.status_code == 301
    icon = client.get(moved.headers["location"])
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    page = client.get(app.url_path_for("docs")).text
    assert 'rel="icon"' in page


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 2, 15, 20, 11, 123456),  # naive, as SQLite and MySQL give it: UTC
        datetime(2026, 12, 2, 15, 20, 59, tzinfo=UTC),
        datetime(2026, 12, 3, 0, 20, 11, tzinfo=timezone(timedelta(hours=9))),
    ],
)
def test_a_time_reads_in_utc_to_the_minute(moment: datetime) -> None:
    assert readable(moment) == "2 Dec 2026, 15:20 UTC"
