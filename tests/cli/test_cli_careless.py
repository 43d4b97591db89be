"""A careless user's commands: each mistake is one ``error:`` line and a non-zero exit, never a
traceback, and never a secret (found by a hostile review of the CLI)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.invoke import Ran, invoke
from tests.server.conftest import KEY, SECRET, config

from ampkit.server import RunningServer, serve_in_thread

KEYS = {"AMPLITUDE_API_KEY": "careless-api-key", "AMPLITUDE_SECRET_KEY": "careless-secret"}


def one_error_line(ran: Ran, code: int, *words: str) -> str:
    assert ran.returncode == code, (ran.returncode, ran.stdout, ran.stderr)
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_folder_given_as_the_events_file(tmp_path: Path) -> None:
    one_error_line(invoke("track", "--file", str(tmp_path), env=KEYS), 1,
                   str(tmp_path), "Is a directory")


def test_set_and_unset_of_one_property_names_it() -> None:
    one_error_line(invoke("identify", "--user-id", "user-0001", "--set", "a=1", "--unset", "a",
                          env=KEYS), 1, "user_properties.$unset.a")


@pytest.mark.parametrize(("args", "words"), [
    (["--memory-limit", "lots"], ["memory_limit", "512MB", "'lots'"]),
    (["--log-level", "verbose"], ["log_level", "'debug'"]),
])
def test_serve_checks_its_options_before_listening(args: list[str], words: list[str]) -> None:
    one_error_line(invoke("serve", "--port", "0", *args), 2, *words)


def test_serve_words_a_broken_config_and_a_db_it_cannot_open(tmp_path: Path) -> None:
    broken = tmp_path / "bad.yaml"
    broken.write_text("a: [\n")
    one_error_line(invoke("serve", "--port", "0", "--config", str(broken)), 2,
                   str(broken), "not valid YAML")
    not_duckdb = tmp_path / "notes.txt"
    not_duckdb.write_text("hello")
    one_error_line(invoke("serve", "--port", "0", "--db", str(not_duckdb)), 2,
                   f"--db {not_duckdb}", "not a valid DuckDB")
    under_a_file = not_duckdb / "x.duckdb"
    line = one_error_line(invoke("serve", "--port", "0", "--db", str(under_a_file)), 2,
                          f"--db {under_a_file}")
    assert "listen" not in line


@pytest.mark.parametrize("command", [
    ["track", "-e", "X", "--user-id", "user-0001"],
    ["query", "active_users", "--start", "2024-03-01", "--end", "2024-03-02"],
])
def test_a_password_in_the_base_url_is_never_printed(command: list[str]) -> None:
    url = f"http://proxyuser:pass-W0rd-9@127.0.0.1:{free_port()}"
    ran = invoke(*command, env={**KEYS, "AMPLITUDE_BASE_URL": url})
    line = one_error_line(ran, 1, "proxyuser:***@127.0.0.1")
    assert "pass-W0rd-9" not in ran.stdout + ran.stderr + line


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    srv = serve_in_thread(config())
    yield srv
    srv.stop()


def test_an_export_hour_the_server_refuses_is_its_rule_not_the_size_cap(
    server: RunningServer, tmp_path: Path,
) -> None:
    ran = invoke("export", "--start", "1969-12-31", "--end", "1970-01-01", "--out",
                 str(tmp_path / "x.jsonl"), env={"AMPLITUDE_API_KEY": KEY,
                                                 "AMPLITUDE_SECRET_KEY": SECRET,
                                                 "AMPLITUDE_BASE_URL": server.url},
                 clear_amplitude_env=True)
    line = one_error_line(ran, 1, "start='19691231T00' must be between")
    assert "4 GB" not in line
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(("spec", "words"), [
    ("500=1.5", ["fault spec rates", "between 0 and 1"]),
    ("seed=inf", ["seed=inf", "finite"]),
])
def test_a_bad_fault_spec_is_one_line(spec: str, words: list[str]) -> None:
    one_error_line(invoke("serve", "--port", "0", "--faults", spec), 2, *words)


def test_a_date_that_does_not_exist_in_a_replication_file(tmp_path: Path) -> None:
    replication = tmp_path / "rep.yaml"
    replication.write_text(f"target: {tmp_path / 'x.duckdb'}\nstreams: [events]\n"
                           "anchor_date: 2024-02-30\n")
    one_error_line(invoke("sync", "--config", str(replication), "--dry-run", env=KEYS), 1,
                   "not valid YAML", "day is out of range")


def test_mcp_on_a_port_in_use_says_so_before_announcing_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        ran = invoke("mcp", "--http", str(port), env=KEYS)
    one_error_line(ran, 1, f"cannot listen on 127.0.0.1:{port}")
    assert "streamable HTTP" not in ran.stderr


def test_input_without_events_is_an_error_not_zero_delivered(tmp_path: Path) -> None:
    one_error_line(invoke("track", "--file", "-", stdin="\n\n", env=KEYS), 1,
                   "nothing to send: stdin held no events")
    empty = tmp_path / "events.json"
    empty.write_text("[]")
    one_error_line(invoke("track", "--file", str(empty), env=KEYS), 1, f"{empty} held no events")


@pytest.mark.parametrize("password", ["PG@PASS@s3cret-55", "%ZZs3cret-55", "PW s3cret-55",
                                      "PW#s3cret-55", "PW?s3cret-55", "PW/s3cret-55"])
def test_a_database_password_of_any_characters_is_never_printed(password: str) -> None:
    """psycopg and URL parsers quote pieces of a password they cannot read (``failed to resolve
    host 'PASS@…@127.0.0.1'``): every piece of the password the target URL carries is masked."""
    target = f"postgresql://postgres:{password}@127.0.0.1:{free_port()}/test"
    ran = invoke("sync", "--streams", "active_users", "--target", target,
                 env={**KEYS, "AMPLITUDE_BASE_URL": f"http://127.0.0.1:{free_port()}"})
    assert ran.returncode != 0
    shown = ran.stdout + ran.stderr
    assert "s3cret-55" not in shown and "error" in shown


def test_a_yaml_mistake_names_its_place_not_the_line_holding_a_key(tmp_path: Path) -> None:
    broken = tmp_path / "server.yaml"
    broken.write_text('projects:\n  - project_id: 1\n    api_key: CFGAPIKEY1234567890\n'
                      '    secret_key: "SECRETVALUE-9876543210\n')
    ran = invoke("serve", "--port", "0", "--config", str(broken))
    line = one_error_line(ran, 2, "not valid YAML", "line")
    assert "SECRETVALUE" not in ran.stdout + ran.stderr + line


def test_an_unknown_project_time_zone_is_refused_when_the_server_starts(tmp_path: Path) -> None:
    """It was accepted, then every Dashboard query and export answered 500."""
    config = tmp_path / "tz.yaml"
    config.write_text("projects:\n  - {project_id: 1, api_key: CFGAPIKEY1234567890, "
                      "secret_key: CFGSECRET1234567890, timezone: Not/AZone}\n")
    one_error_line(invoke("serve", "--port", "0", "--config", str(config)), 2,
                   "timezone", "unknown time zone 'Not/AZone'")
    config.write_text("export: {timezone: Mars/Olympus}\n")
    one_error_line(invoke("serve", "--port", "0", "--config", str(config)), 2,
                   "export.timezone", "unknown time zone 'Mars/Olympus'")


@pytest.mark.parametrize(("args", "words"), [
    (["track", "-e", "X", "--user-id", "user-0001", "--base-url", "http://u:pw-S3CR3T@[::1"],
     "base_url: is not a valid URL"),
    (["track", "-e", "X", "--user-id", "user-0001", "--base-url", "http://host:99999"],
     "base_url: is not a valid URL"),
    (["sync", "--streams", "active_users", "--target",
      "postgres://postgres:pw-S3CR3T@[::1:5432/test"], "not a valid URL"),
    (["request", "GET", "/api/2/events/list", "-H", "X-A: é"], "must be ASCII"),
])
def test_malformed_urls_and_headers_are_one_line_not_unexpected(args: list[str],
                                                                words: str) -> None:
    """These were 'unexpected ValueError/InvalidURL/UnicodeEncodeError', exit 70."""
    ran = invoke(*args, env={**KEYS, "AMPLITUDE_BASE_URL": f"http://127.0.0.1:{free_port()}"})
    line = one_error_line(ran, ran.returncode, words)
    assert ran.returncode in (1, 2) and "unexpected" not in line and "S3CR3T" not in line


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.org"])
def test_mcp_over_http_off_loopback_needs_allow_remote(host: str) -> None:
    """The MCP endpoint has no authentication and acts with the operator's keys: served on a
    public interface, anyone reaching it could send events or write files as them."""
    one_error_line(invoke("mcp", "--http", str(free_port()), "--host", host, env=KEYS), 2,
                   f"--host {host}", "--allow-remote")
