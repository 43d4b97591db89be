"""A careless user's commands: each mistake is one ``error:`` line and a non-zero exit, never a
traceback, and never a secret (found by a hostile review of the CLI)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from tests.invoke import Ran, invoke

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
