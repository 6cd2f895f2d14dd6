"""The notes page in a real browser: a note added in one tab appears live in another."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

# Chromium's own background traffic is refused by a closed network; these flags keep it quiet.
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        yield browser
        browser.close()


def test_note_added_in_one_tab_appears_live_in_another(server: str, browser: Browser) -> None:
    writer, watcher = browser.new_page(), browser.new_page()
    for page in (writer, watcher):
        page.goto(server + "/")
        page.wait_for_selector("#status:text('Live')")

    writer.fill("input[name=title]", "From the browser")
    writer.fill("textarea[name=body]", "typed in one tab")
    writer.click("button[type=submit]")

    note = watcher.wait_for_selector("#notes li:has-text('From the browser')", timeout=5000)
    assert note is not None and "typed in one tab" in note.inner_text()
    assert writer.input_value("input[name=title]") == ""


def test_rejected_note_shows_the_field_error(server: str, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(server + "/")
    page.wait_for_selector("#status:text('Live')")

    page.fill("input[name=title]", "   ")
    page.click("button[type=submit]")

    error = page.wait_for_selector("#form-error:not([hidden])", timeout=5000)
    assert error is not None and error.inner_text().startswith("title:")
    assert page.locator("#notes li").count() == 0
