"""The notes page, the account page and the API docs in a real browser: live across tabs and a
server restart."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from playwright.sync_api import (
    Browser, ConsoleMessage, Locator, Page, Route, WebSocketRoute, sync_playwright,
)

from .conftest import Servers, free_port, serving, stop
from .harness import build_venv, render, run, venv_env

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


# Recorded in the page by Playwright, which the page's Content-Security-Policy does not cover.
RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def open_notes(browser: Browser, server: str, console: list[str]) -> Page:
    page = browser.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda message: console.append(console_line(message)))
    page.goto(server + "/")
    page.wait_for_selector("#status:text('Live')")
    return page


def console_line(message: ConsoleMessage) -> str:
    return f"{message.type}: {message.text}"


def assert_no_policy_violation(page: Page, console: list[str]) -> None:
    assert page.evaluate("window.violations") == []
    assert [line for line in console if "Content Security Policy" in line] == []


def test_note_added_in_one_tab_appears_live_in_another(server: str, browser: Browser) -> None:
    console: list[str] = []
    writer, watcher = open_notes(browser, server, console), open_notes(browser, server, console)

    writer.fill("input[name=title]", "From the browser")
    writer.fill("textarea[name=body]", "typed in one tab")
    writer.click("button[type=submit]")

    note = watcher.wait_for_selector("#notes li:has-text('From the browser')", timeout=5000)
    assert note is not None and "typed in one tab" in note.inner_text()
    assert writer.input_value("input[name=title]") == ""
    for page in (writer, watcher):
        assert_no_policy_violation(page, console)


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("   ", "title: String should have a character other than whitespace"),
        ("", "title: String should have at least 1 character"),
        ("x" * 201, "title: String should have at most 200 characters"),
    ],
    ids=["blank", "empty", "too-long"],
)
def test_rejected_note_shows_the_field_error(
    server: str, browser: Browser, title: str, message: str
) -> None:
    console: list[str] = []
    page = open_notes(browser, server, console)

    page.fill("#new-note input[name=title]", title)
    page.click("#new-note button[type=submit]")

    error = page.locator("#form-error")
    error.wait_for(state="visible", timeout=5000)
    assert error.inner_text().startswith(message)
    assert page.get_attribute("#new-note input[name=title]", "aria-invalid") == "true"
    assert page.locator("#notes li").count() == 0
    # Corrected, the note goes in and the message goes away.
    page.fill("#new-note input[name=title]", "Fixed")
    page.click("#new-note button[type=submit]")
    page.wait_for_selector("#notes li:has-text('Fixed')", timeout=5000)
    assert error.is_hidden()
    assert page.get_attribute("#new-note input[name=title]", "aria-invalid") is None
    assert_no_policy_violation(page, console)


def test_a_note_sent_again_after_a_lost_answer_is_written_once(
    server: str, browser: Browser
) -> None:
    console: list[str] = []
    page = open_notes(browser, server, console)
    keys: list[str | None] = []

    def lose_the_first_answer(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fetch()  # the server writes the note...
            route.abort()  # ...and its answer never reaches the page
        else:
            route.continue_()

    page.route("**/api/notes", lose_the_first_answer)
    page.fill("#new-note input[name=title]", "Sent twice")
    page.click("#new-note button[type=submit]")
    page.wait_for_selector("#form-error:text('could not be reached')", timeout=5000)
    page.click("#new-note button[type=submit]")
    page.wait_for_selector("#form-error", state="hidden", timeout=5000)

    assert len(keys) == 2 and keys[0] is not None and keys[0] == keys[1]
    notes = httpx.get(f"{server}/api/notes", timeout=5).json()["items"]
    assert [note["title"] for note in notes] == ["Sent twice"]
    assert page.input_value("#new-note input[name=title]") == ""
    # The next note is another request: it gets a key of its own.
    page.fill("#new-note input[name=title]", "Sent once")
    page.click("#new-note button[type=submit]")
    page.wait_for_selector("#notes li:has-text('Sent once')", timeout=5000)
    assert len(keys) == 3 and keys[2] not in (None, keys[0])
    assert_no_policy_violation(page, console)


def item(page: Page, title: str) -> Locator:
    return page.locator("#notes li", has=page.locator("strong", has_text=title))


def test_note_is_edited_in_place_and_every_tab_sees_it(server: str, browser: Browser) -> None:
    console: list[str] = []
    editor, watcher = open_notes(browser, server, console), open_notes(browser, server, console)
    api = f"{server}/api/notes"
    first = httpx.post(api, json={"title": "First", "body": "one"}, timeout=5).json()
    httpx.post(api, json={"title": "Second"}, timeout=5)
    item(watcher, "Second").wait_for(timeout=5000)

    item(editor, "First").get_by_role("button", name="Edit").click()
    form = editor.locator(f"#notes li[data-id='{first['id']}'] form.editor")
    assert form.locator("input[name=title]").input_value() == "First"
    assert form.locator("textarea[name=body]").input_value() == "one"
    form.locator("input[name=title]").fill("x" * 201)
    form.get_by_role("button", name="Save").click()
    error = form.locator(".form-error")
    error.wait_for(state="visible", timeout=5000)
    assert error.inner_text() == "title: String should have at most 200 characters"
    form.locator("input[name=title]").fill("First, edited")
    form.get_by_role("button", name="Save").click()

    for page in (editor, watcher):
        item(page, "First, edited").wait_for(timeout=5000)
        # In place: the same item, still below the newer note, with no editor left open.
        assert page.locator("#notes li strong").all_inner_texts() == ["Second", "First, edited"]
        assert page.locator("#notes form.editor").count() == 0
    assert httpx.get(f"{api}/{first['id']}", timeout=5).json()["title"] == "First, edited"
    for page in (editor, watcher):
        assert_no_policy_violation(page, console)


def test_an_open_editor_keeps_what_was_typed_when_the_note_changes(
    server: str, browser: Browser
) -> None:
    console: list[str] = []
    page = open_notes(browser, server, console)
    api = f"{server}/api/notes"
    note = httpx.post(api, json={"title": "Draft"}, timeout=5).json()
    item(page, "Draft").get_by_role("button", name="Edit").click()
    page.fill("#notes form.editor input[name=title]", "Typed here")

    httpx.patch(f"{api}/{note['id']}", json={"body": "changed elsewhere"}, timeout=5)
    page.wait_for_selector("#notes li .body:text('changed elsewhere')", state="attached")

    assert page.input_value("#notes form.editor input[name=title]") == "Typed here"
    page.get_by_role("button", name="Cancel").click()
    assert item(page, "Draft").locator(".body").inner_text() == "changed elsewhere"
    assert_no_policy_violation(page, console)


def test_note_is_deleted_in_place_and_every_tab_sees_it(server: str, browser: Browser) -> None:
    console: list[str] = []
    deleter, watcher = open_notes(browser, server, console), open_notes(browser, server, console)
    api = f"{server}/api/notes"
    for title in ("Kept", "Deleted", "Also kept"):
        httpx.post(api, json={"title": title}, timeout=5)
    item(watcher, "Also kept").wait_for(timeout=5000)
    item(deleter, "Also kept").wait_for(timeout=5000)

    item(deleter, "Deleted").get_by_role("button", name="Delete").click()

    for page in (deleter, watcher):
        item(page, "Deleted").wait_for(state="detached", timeout=5000)
        assert page.locator("#notes li strong").all_inner_texts() == ["Also kept", "Kept"]
        assert_no_policy_violation(page, console)
    titles = [note["title"] for note in httpx.get(api, timeout=5).json()["items"]]
    assert titles == ["Kept", "Also kept"]


def test_timestamps_are_shown_in_the_readers_locale(server: str, browser: Browser) -> None:
    httpx.post(f"{server}/api/notes", json={"title": "Dated"}, timeout=5)
    console: list[str] = []
    page = browser.new_page(locale="de-DE", timezone_id="Europe/Berlin")
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda message: console.append(console_line(message)))
    page.goto(server + "/")

    created = item(page, "Dated").locator("time").first
    instant = created.get_attribute("datetime")
    assert instant is not None
    shown = created.inner_text()
    assert re.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{4}, \d{2}:\d{2}:\d{2}", shown)  # German order
    assert shown == page.evaluate("(iso) => new Date(iso).toLocaleString()", instant)
    assert created.get_attribute("title") == instant
    page.wait_for_selector("#status:text('Live')")  # rendered again from the API: the same
    assert item(page, "Dated").locator("time").first.inner_text() == shown
    assert_no_policy_violation(page, console)


def test_api_docs_let_a_reader_try_an_operation(server: str, browser: Browser) -> None:
    console: list[str] = []
    page = browser.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda message: console.append(console_line(message)))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server + "/docs")

    # Grouped by feature; the body starts from the operation's example, a readable note.
    operation = page.locator("#operations-notes-create_note")
    operation.locator(".opblock-summary").click()
    operation.locator(".try-out__btn").click()
    body = operation.locator("textarea.body-param__text")
    assert json.loads(body.input_value()) == {"title": "Shopping", "body": "Eggs, flour, milk"}
    operation.locator("button.execute").click()

    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for(timeout=10_000)
    assert status.inner_text().strip().startswith("201")
    notes = page.request.get(server + "/api/notes").json()["items"]
    assert [note["title"] for note in notes] == ["Shopping"]
    # The app's own styles leave Swagger UI's alone: its version badge stays readable.
    badge = page.locator(".info .version").first
    colours = badge.evaluate(
        "element => [getComputedStyle(element).color, getComputedStyle(element).backgroundColor]"
    )
    assert colours[0] != colours[1], colours
    assert [url for url in requested if not url.startswith(server)] == []  # nothing from a CDN
    assert_no_policy_violation(page, console)


def test_an_inline_script_is_blocked_and_reported(server: str, browser: Browser) -> None:
    # The checks above can fail: a script the policy does not allow is refused and reported.
    console: list[str] = []
    page = open_notes(browser, server, console)

    page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.append(script);
    }"""
    )

    page.wait_for_function("window.violations.length > 0")
    assert page.evaluate("window.injected === undefined")
    assert page.evaluate("window.violations")[0].startswith("script-src")


def test_page_reconnects_and_shows_what_it_missed_once(servers: Servers, browser: Browser) -> None:
    port = free_port()
    first = servers.start(port=port)
    page = browser.new_page()
    page.goto(first.url + "/")
    page.wait_for_selector("#status:text('Live')")

    stop(first.process)  # SIGTERM
    page.wait_for_selector("#status:text('Reconnecting…')")
    # Added through another server on the same database: no event for it reaches the page.
    other = servers.start()
    httpx.post(f"{other.url}/api/notes", json={"title": "While away"}, timeout=5)
    restarted = servers.start(port=port)

    page.wait_for_selector("#status:text('Live')", timeout=20000)
    assert page.locator("#notes li", has_text="While away").count() == 1
    httpx.post(f"{restarted.url}/api/notes", json={"title": "Back live"}, timeout=5)
    page.wait_for_selector("#notes li:has-text('Back live')", timeout=5000)
    assert page.locator("#notes li").count() == 2


def test_page_skips_an_event_delivered_again(server: str, browser: Browser) -> None:
    page = browser.new_page()
    delivered: list[str | bytes] = []
    again: list[str | bytes] = []

    def redeliver(websocket: WebSocketRoute) -> None:
        """Forward the server's events, replaying the earlier ones after a deletion."""
        from_server = websocket.connect_to_server()

        def forward(message: str | bytes) -> None:
            websocket.send(message)
            if b"note.deleted" in (message if isinstance(message, bytes) else message.encode()):
                for earlier in delivered:
                    websocket.send(earlier)
                    again.append(earlier)
            delivered.append(message)

        from_server.on_message(forward)

    page.route_web_socket(re.compile(r"/ws/notes$"), redeliver)
    page.goto(server + "/")
    page.wait_for_selector("#status:text('Live')")

    api = f"{server}/api/notes"
    gone = httpx.post(api, json={"title": "Gone soon"}, timeout=5).json()
    httpx.post(api, json={"title": "Stays"}, timeout=5)
    page.wait_for_selector("#notes li:has-text('Stays')", timeout=5000)
    httpx.delete(f"{api}/{gone['id']}", timeout=5)
    # Ids are never reused while a higher one exists: this one is new, and comes last.
    httpx.post(api, json={"title": "Last"}, timeout=5)
    page.wait_for_selector("#notes li:has-text('Last')", timeout=5000)

    assert any("Gone soon" in str(message) for message in again)  # delivered once more
    assert page.locator("#notes li strong").all_inner_texts() == ["Last", "Stays"]


@pytest.fixture
def accounts_server(tmp_path: Path) -> Iterator[str]:
    """A project with user accounts, served by scripts/start."""
    project = render(tmp_path, auth="users")
    env = venv_env(build_venv([project]))
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
    with serving(project, env) as served:
        yield served.url


def signed_up(
    browser: Browser, server: str, email: str, console: list[str], timezone_id: str | None = None
) -> Page:
    """A new browser (its own cookies; British English, in its own time zone if given) with a
    new account, on the notes page once it is live."""
    page = browser.new_context(locale="en-GB", timezone_id=timezone_id).new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda message: console.append(console_line(message)))
    page.goto(server + "/")
    assert "/sign-in" in page.url  # nobody is signed in yet
    page.click("text=Sign up")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "correct horse battery staple")
    page.click("#sign-up button[type=submit]")
    # The same answer whether or not the address had an account: then one signs in.
    page.wait_for_selector("#sign-in")
    page.fill("#sign-in input[name=email]", email)
    page.fill("#sign-in input[name=password]", "correct horse battery staple")
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#status:text('Live')")
    return page


def test_a_users_note_appears_live_for_them_only(accounts_server: str, browser: Browser) -> None:
    console: list[str] = []
    alice = signed_up(browser, accounts_server, "alice@example.com", console)
    bob = signed_up(browser, accounts_server, "bob@example.com", console)
    alice_again = alice.context.new_page()  # a second tab, same cookies
    alice_again.goto(accounts_server + "/")
    alice_again.wait_for_selector("#status:text('Live')")

    alice.fill("input[name=title]", "Alice's own")
    alice.click("#new-note button[type=submit]")

    alice_again.wait_for_selector("#notes li:has-text(\"Alice's own\")", timeout=5000)
    bob.fill("input[name=title]", "Bob's own")  # a later event, on the same feed
    bob.click("#new-note button[type=submit]")
    bob.wait_for_selector("#notes li:has-text(\"Bob's own\")", timeout=5000)
    assert "Alice's own" not in bob.inner_text("#notes")
    bob.reload()
    bob.wait_for_selector("#status:text('Live')")
    assert "Alice's own" not in bob.inner_text("#notes")
    for page in (alice, bob):
        assert_no_policy_violation(page, console)

    alice.click("#sign-out button")
    alice.wait_for_url("**/sign-in")
    alice_again.wait_for_selector("#status:text('Reconnecting')", timeout=5000)


def test_a_new_token_is_shown_once_and_times_in_the_readers_zone(
    accounts_server: str, browser: Browser
) -> None:
    console: list[str] = []
    zone = "Asia/Tokyo"
    page = signed_up(browser, accounts_server, "tokyo@example.com", console, timezone_id=zone)
    page.goto(accounts_server + "/account")

    page.fill("#new-token-form input[name=name]", "laptop")
    page.click("#new-token-form button[type=submit]")

    page.wait_for_url("**/account/new-token")
    token = page.inner_text("#new-token")
    assert token.startswith("pat_") and token not in page.url
    created = page.locator("#tokens time")
    instant = created.get_attribute("datetime")
    assert instant is not None
    moment = datetime.strptime(instant, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(zone))
    shown = created.inner_text()  # e.g. "3 Dec 2026, 00:20 GMT+9"
    assert shown.startswith(f"{local.day} ") and f"{local.year}, {local:%H:%M} GMT+9" in shown
    assert created.get_attribute("title") == f"{moment.day} {moment:%b %Y, %H:%M} UTC"
    page.reload()  # asks for the page again, not the form: no other token, and this one is gone
    page.wait_for_url("**/account")
    assert page.locator("#new-token").count() == 0
    assert page.locator("#tokens li").count() == 1
    notes = httpx.get(
        accounts_server + "/api/notes", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert notes.status_code == 200
    assert_no_policy_violation(page, console)
