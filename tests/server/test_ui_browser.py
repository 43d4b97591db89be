"""The event inspector (``/_ampkit/ui``) in a real browser: Debian's headless Chromium driven by
Playwright's Python API (``executable_path``: no browser is downloaded), against the real
server of the pytest plugin (``amplitude_project``) or one started here.

Each test sends events over HTTP, opens the page and waits on what it shows (Playwright's
``expect`` retries until the page agrees or its timeout passes: no sleeps).  One browser per
module; a screenshot of the main view is written to the test's temporary folder."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from tests.lazy import lazy_or_skip

from ampkit.server import FaultConfig, ProjectConfig, ServerConfig, serve_in_thread
from ampkit.testing import AmplitudeProject

if TYPE_CHECKING:
    from playwright.sync_api import Page

sync_api = lazy_or_skip(
    "playwright.sync_api",
    reason="playwright is not installed (pip install 'playwright>=1.45'; it drives the "
           "system's chromium, nothing is downloaded)")

CHROMIUM = os.environ.get("AMPKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run "
                    "installs it where it can; AMPKIT_CHROMIUM=path for another one)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


class Watched:
    """A page, and what went wrong in it: script errors, dialogs, console errors (as
    :attr:`problems`) and the answers that were not a success (as :attr:`failed`)."""

    def __init__(self, browser: Any, url: str, key: str, secret: str) -> None:
        self.context = browser.new_context(
            http_credentials={"username": key, "password": secret}, base_url=url,
            viewport={"width": 1400, "height": 900})
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.failed: list[tuple[int, str]] = []
        self.context.on("weberror", lambda err: self.problems.append(f"script: {err.error}"))
        self.context.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"),
                                             d.dismiss()))
        self.context.on("console", self._console)
        self.context.on("response", lambda r: self.failed.append(
            (r.status, urlsplit(r.url).path)) if r.status >= 400 else None)

    def _console(self, message: Any) -> None:
        # a failed request is also logged ("Failed to load resource"): it is in `failed`
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def failures_besides_the_bucket(self) -> list[tuple[int, str]]:
        """Failed answers, but the bad-event bucket's 404 on a server without it."""
        return [f for f in self.failed if f != (404, "/_ampkit/bad-events")]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser: Any, amplitude_project: AmplitudeProject) -> Iterator[Watched]:
    seen = Watched(browser, amplitude_project.url, amplitude_project.api_key,
                   amplitude_project.secret_key)
    yield seen
    seen.close()


def send(project: AmplitudeProject, events: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(project.server_url, json={"api_key": project.api_key, "events": events})


def ev(event_type: str, user: str, n: int, **extra: Any) -> dict[str, Any]:
    return {"event_type": event_type, "user_id": user, "device_id": f"device-{user}",
            "insert_id": f"ins-{user}-{n}", "time": 1_709_294_400_000 + n * 1000,
            "event_properties": {"n": n}, **extra}


def cells(page: Page, column: int) -> Any:
    return page.locator(f"#rows tr td:nth-child({column})")


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_filters_in_the_url_and_the_inputs_rows_json_panel_and_text_only(
        watched: Watched, amplitude_project: AmplitudeProject, tmp_path: Path) -> None:
    sent = [ev("Signed Up", "user-0001", 1), ev("Checkout", "user-0001", 2),
            ev("Checkout", "user-0002", 3), ev("Checkout", "user-0003", 4),
            ev(XSS, "user-0004", 5, event_properties={"html": XSS})]
    assert send(amplitude_project, sent).status_code == 200
    page = watched.page

    # a shared URL opens with its filter applied: the three Checkouts, newest first
    page.goto("/_ampkit/ui?event_type=Checkout&refresh=0.2")  # polls every 0.2 s
    sync_api.expect(page.get_by_test_id("filter-event_type")).to_have_value("Checkout")
    sync_api.expect(cells(page, 3)).to_have_text(["Checkout"] * 3)
    sync_api.expect(cells(page, 4)).to_have_text(["user-0003", "user-0002", "user-0001"])
    sync_api.expect(page.get_by_test_id("chart-total")).to_contain_text("3 in 60 minutes")

    # a filter typed into its input narrows the rows and is written into the URL
    page.get_by_test_id("filter-user_id").fill("user-0002")
    page.get_by_test_id("filter-user_id").press("Enter")
    sync_api.expect(cells(page, 6)).to_have_text(["ins-user-0002-3"])
    assert query_of(page) == {"event_type": ["Checkout"], "user_id": ["user-0002"],
                              "refresh": ["0.2"]}

    # a click on a row shows the whole stored event in the side panel, as the API has it
    cells(page, 3).first.click()
    sync_api.expect(page.locator("#rows tr.selected")).to_have_count(1)
    sync_api.expect(page.get_by_test_id("json")).to_contain_text('"$insert_id": "ins-user-0002-3"')
    stored = amplitude_project.events("Checkout", user_id="user-0002")
    assert json.loads(page.get_by_test_id("json").inner_text()) == stored[0]

    # clearing the filters shows everything; markup in the data stays text
    page.get_by_role("button", name="Clear").click()
    sync_api.expect(page.locator("#rows tr")).to_have_count(5)
    assert query_of(page) == {"refresh": ["0.2"]}
    hostile = page.locator("#rows tr", has_text="user-0004")
    sync_api.expect(hostile.locator("td").nth(2)).to_have_text(XSS)
    as_js_writes_it = json.dumps({"html": XSS}, separators=(",", ":"))
    sync_api.expect(hostile.locator("td").nth(6)).to_have_text(as_js_writes_it)
    assert page.locator("img").count() == 0
    hostile.locator("td").first.click()
    sync_api.expect(page.get_by_test_id("json")).to_contain_text(f'"event_type": "{XSS}"')

    # live: an event sent while the page is open shows up at the top (polled by its cursor)
    assert send(amplitude_project, [ev("Refunded", "user-0005", 6)]).status_code == 200
    sync_api.expect(page.locator("#rows tr")).to_have_count(6)
    sync_api.expect(cells(page, 3).first).to_have_text("Refunded")
    sync_api.expect(page.get_by_test_id("status")).to_contain_text("live · 6 events shown")
    sync_api.expect(page.get_by_test_id("chart-total")).to_contain_text("6 in 60 minutes")

    shot = tmp_path / "inspector.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
    assert watched.problems == []  # no script error, no alert, no CSP violation
    assert watched.failures_besides_the_bucket() == []


def test_a_bad_filter_is_shown_and_pausing_stops_the_stream(
        watched: Watched, amplitude_project: AmplitudeProject) -> None:
    assert send(amplitude_project, [ev("Opened", "user-0001", 1)]).status_code == 200
    page = watched.page
    page.goto("/_ampkit/ui?since=yesterday&refresh=0.2")
    sync_api.expect(page.get_by_test_id("error")).to_contain_text("since: must be an ISO-8601 time")
    page.get_by_test_id("filter-since").fill("1970-01-01T00:00:00Z")
    page.get_by_test_id("filter-since").press("Enter")
    sync_api.expect(page.get_by_test_id("error")).to_be_hidden()
    sync_api.expect(cells(page, 3)).to_have_text(["Opened"])

    page.get_by_test_id("live").click()
    sync_api.expect(page.get_by_test_id("live")).to_have_text("Resume")
    assert query_of(page)["live"] == ["0"]
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url)
            if urlsplit(r.url).path == "/_ampkit/events" else None)
    assert send(amplitude_project, [ev("Closed", "user-0001", 2)]).status_code == 200
    # paused: a fresh load of the same view (its URL: paused too) has the new event, while
    # this page has not asked for events since (many of its 0.2 s poll periods went by)
    other = watched.context.new_page()
    other.goto(page.url)
    sync_api.expect(other.locator("#rows tr")).to_have_count(2)
    sync_api.expect(other.get_by_test_id("live")).to_have_text("Resume")
    assert polls == []
    sync_api.expect(page.locator("#rows tr")).to_have_count(1)
    page.get_by_test_id("live").click()
    sync_api.expect(page.locator("#rows tr")).to_have_count(2)
    assert polls  # polling again
    assert watched.problems == []
    assert set(watched.failures_besides_the_bucket()) == {
        (400, "/_ampkit/events"), (400, "/_ampkit/events/counts")}  # the bad since, only


def test_side_panels_show_counters_throttles_silenced_devices_and_faults(browser: Any) -> None:
    project = ProjectConfig(project_id=7, api_key="ui-key-000007", secret_key="ui-secret-7",
                            silenced_devices=["muted-device-1"])
    with serve_in_thread(ServerConfig(host="127.0.0.1", port=0, projects=[project])) as srv:
        burst = [{"event_type": "Tick", "user_id": "busy-user-1", "insert_id": f"b{n}"}
                 for n in range(900)]  # 30 EPS over 30 s: the next one would be refused
        http = httpx.Client(base_url=srv.url, auth=("ui-key-000007", "ui-secret-7"))
        assert http.post("/2/httpapi", json={"api_key": "ui-key-000007", "events": burst},
                         auth=None).status_code == 200
        http.post("/_ampkit/faults", json=FaultConfig(rates={"503": 0.25}, seed=4)
                  .model_dump(mode="json")).raise_for_status()
        seen = Watched(browser, srv.url, "ui-key-000007", "ui-secret-7")
        try:
            page = seen.page
            page.goto("/_ampkit/ui")
            sync_api.expect(page.get_by_test_id("project")).to_have_text("project 7")
            stats = page.get_by_test_id("stats")
            sync_api.expect(stats.locator("dt", has_text="events")).to_have_count(1)
            sync_api.expect(stats.locator("dt:text-is('events') + dd")).to_have_text("900")
            sync_api.expect(page.get_by_test_id("silenced")).to_have_text("muted-device-1")
            busy = page.get_by_test_id("throttles").locator("tbody tr", has_text="busy-user-1")
            sync_api.expect(busy.locator("td")).to_have_text(
                ["httpapi", "user", "busy-user-1", "30", "900", "yes"])
            sync_api.expect(page.get_by_test_id("faults")).to_contain_text('"503": 0.25')
            sync_api.expect(page.get_by_test_id("chart").locator("rect.bar")).to_have_count(1)
            assert seen.problems == []
            assert seen.failures_besides_the_bucket() == []
        finally:
            seen.close()
            http.close()


def test_the_bad_event_bucket_panel(watched: Watched,
                                    amplitude_project: AmplitudeProject) -> None:
    refused = send(amplitude_project, [{"event_type": "Orphan", "insert_id": "orphan-1"}])
    assert refused.status_code == 400  # no user_id or device_id: Amplitude refuses it
    bucket = httpx.get(f"{amplitude_project.url}/_ampkit/bad-events",
                       auth=(amplitude_project.api_key, amplitude_project.secret_key))
    page = watched.page
    page.goto("/_ampkit/ui")
    if bucket.status_code == 404:
        sync_api.expect(page.get_by_test_id("bad-note")).to_contain_text("bucket is not available")
        pytest.skip("GET /_ampkit/bad-events is not served yet (issue 18 §2): the panel "
                    "says so; its rows are not checked")
    assert bucket.status_code == 200, bucket.text
    row = page.get_by_test_id("bad-events").locator("tbody tr", has_text="rejected_request")
    sync_api.expect(row).to_have_count(1)
    row.click()
    sync_api.expect(page.get_by_test_id("json")).to_contain_text('"kind": "rejected_request"')
