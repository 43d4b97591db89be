"""Commands against a port with nothing listening fail fast with one clear line; commands that
meet a rate limit say what they wait for, then go on."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from tests.invoke import Ran, invoke
from tests.stub_http import Reply, dead_port, forward, scripted, stub

from ampkit.core.policy import RetryPolicy
from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread

KEY, SECRET = "cli-trust-key-01", "cli-trust-secret-01"
LIMIT = "query cost per 5 minutes"


def run(base_url: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    env.update(AMPLITUDE_API_KEY=KEY, AMPLITUDE_SECRET_KEY=SECRET, AMPLITUDE_BASE_URL=base_url,
               COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "ampkit", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def run_here(base_url: str, *args: str) -> Ran:
    """``ampkit *args`` in this process (typer's runner): what it prints and its exit status are
    the test, not the process around it."""
    return invoke(*args, env={"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_SECRET_KEY": SECRET,
                              "AMPLITUDE_BASE_URL": base_url}, clear_amplitude_env=True)


COMMANDS = {
    "track": (["track", "-e", "Clicked", "--user-id", "user-00001"], "/2/httpapi"),
    "export": (["export", "--start", "20240301T00", "--end", "20240301T01", "--out",
                "out.jsonl"], "/api/2/export"),
    "request": (["request", "GET", "/api/2/events/list"], "/api/2/events/list"),
    "sync": (["sync", "--target", "duckdb:///sync.duckdb"], "/api/2/export"),
    "query": (["query", "list_events"], "/api/2/events/list"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_nothing_listening_is_one_line_after_a_few_attempts(command: str, tmp_path: Path) -> None:
    args, path = COMMANDS[command]
    with dead_port() as port:
        url = f"http://127.0.0.1:{port}"
        r = run(url, *args, cwd=tmp_path)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    line = lines[0]
    assert line.startswith("error: could not reach " + url + path), line
    assert "connection refused" in line and "AMPLITUDE_BASE_URL" in line
    # fast by construction: the attempts are bounded (no wall clock in this test)
    assert f"; {RetryPolicy().connect_attempts} attempts)" in line
    assert KEY not in r.stdout + r.stderr and SECRET not in r.stdout + r.stderr
    assert not list(tmp_path.glob("out.jsonl*"))


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    srv = serve_in_thread(ServerConfig(port=0, throttle_enabled=False, projects=[
        ProjectConfig(project_id=9, api_key=KEY, secret_key=SECRET)]))
    yield srv
    srv.stop()


def limited(seconds: int) -> Reply:
    body = {"error": {"http_code": 429, "type": "rate_limit",
                      "message": f"Exceeded rate limit: {LIMIT}", "metadata": {"limit": LIMIT}}}
    return Reply(429, orjson.dumps(body), {"Retry-After": str(seconds),
                                           "Content-Type": "application/json"})


@pytest.mark.parametrize(("args", "path"), [
    (["request", "GET", "/api/2/events/list"], "/api/2/events/list"),
    (["query", "list_events", "--json"], "/api/2/events/list"),
])
def test_a_rate_limit_is_waited_out_and_shown(server: RunningServer, args: list[str],
                                              path: str) -> None:
    # Retry-After: 0 keeps the test from sleeping; the line is the same for 287 s
    with stub(scripted(limited(0), then=forward(server.url))) as amplitude:
        r = run_here(amplitude.url, *args)
    assert r.returncode == 0, r.stderr
    assert f"waiting 0 s: {LIMIT} (HTTP 429 at {path})" in r.stderr
    assert [s.path.split("?")[0] for s in amplitude.seen] == [path, path]
    assert orjson.loads(r.stdout)  # the answer came through


def throttled(seconds: int) -> Reply:
    """Ingestion's 429: every user of the request throttled, try again in ``seconds``."""
    body = {"code": 429, "error": "Too many requests for some devices and users",
            "eps_threshold": 1, "throttled_users": {"user-00001": 2},
            "throttled_events": [0]}
    return Reply(429, orjson.dumps(body), {"Retry-After": str(seconds),
                                           "Content-Type": "application/json"})


@pytest.mark.parametrize("args", [
    ["track", "-e", "Clicked", "--user-id", "user-00001", "--json"],
    ["identify", "--user-id", "user-00001", "--set", "plan=pro", "--json"],
])
def test_events_a_429_held_back_are_sent_again_not_reported_delivered(
    server: RunningServer, args: list[str],
) -> None:
    with stub(scripted(throttled(0), then=forward(server.url))) as amplitude:
        r = run_here(amplitude.url, *args)
    assert r.returncode == 0, r.stderr
    assert "a rate limit (HTTP 429) held 1 events back" in r.stderr
    assert orjson.loads(r.stdout)["delivered"] == 1
    bodies = [orjson.loads(s.body) for s in amplitude.seen]
    assert len(bodies) == 2  # the same event (same insert_id) sent again once
    assert bodies[0]["events"][0]["insert_id"] == bodies[1]["events"][0]["insert_id"]


def test_events_a_429_keeps_holding_back_fail_the_command(server: RunningServer) -> None:
    with stub(scripted(then=throttled(0))) as amplitude:  # a 429 every time
        r = run_here(amplitude.url, "track", "-e", "Clicked", "--user-id", "user-00001",
                     "--json")
    assert r.returncode == 1
    assert len(amplitude.seen) == 1 + RetryPolicy().max_attempts
    out = orjson.loads(r.stdout)
    assert out["delivered"] == 0 and out["failed"] == 1
    assert out["reasons"] == ["held back by a rate limit (HTTP 429) past the wait budget; "
                              "not delivered"]


@pytest.mark.parametrize(("last", "words"), [
    ("{oops", "stdin line 1501: not JSON"),
    ('{"event_type": "E", "user_id": "user-bad01", "time": 1700000000}', "event[1500].time"),
])
def test_bad_input_past_the_first_thousand_events_sends_none(
    server: RunningServer, last: str, words: str,
) -> None:
    lines = [orjson.dumps({"event_type": "E", "user_id": f"user-{i:05d}"}).decode()
             for i in range(1500)]
    before = server.store.counters["requests"]
    r = invoke("track", "--file", "-", stdin="\n".join([*lines, last]) + "\n",
               env={"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_BASE_URL": server.url},
               clear_amplitude_env=True)
    assert r.returncode == 1 and words in r.stderr, r.stderr
    assert server.store.counters["requests"] == before  # nothing was sent


def test_a_reader_that_has_left_is_not_an_error() -> None:
    """`ampkit actions --json | head -1`, the reader gone before the schemas are written:
    the command ends quietly (status 1, as click's own commands do), not with
    'error: Broken pipe'."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "ampkit", "actions", "--json"],
                              stdout=write_end, stderr=subprocess.PIPE, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 1
