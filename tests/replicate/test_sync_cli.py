"""``ampkit sync`` and ``ampkit streams`` as a user runs them (the command's own entry point,
in-process through ``tests.invoke``; a real server).  A real ``python -m ampkit sync`` process is
started (and killed) by ``test_sync_crash.py``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.invoke import Ran, invoke
from tests.replicate.conftest import KEY, SECRET, duckdb_rows, source_events

from ampkit.replicate import STREAMS
from ampkit.server import RunningServer

pytestmark = pytest.mark.usefixtures("wide_cli")


def run(srv: RunningServer | None, *args: str, secret: str = SECRET,
        cwd: Path | None = None) -> Ran:
    """``ampkit *args`` without this process's ``AMPLITUDE_*`` variables (with the server's
    when ``srv`` is given), in ``cwd`` (the test's working folder is put back afterwards)."""
    env: dict[str, str] = {}
    if srv is not None:
        env.update(AMPLITUDE_API_KEY=KEY, AMPLITUDE_SECRET_KEY=secret, AMPLITUDE_BASE_URL=srv.url)
    here = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return invoke(*args, env=env, clear_amplitude_env=True)
    finally:
        os.chdir(here)


def test_streams_lists_modes_keys_grain_and_schema() -> None:
    r = run(None, "streams")
    assert r.returncode == 0, r.stderr
    for name in STREAMS:
        assert name in r.stdout
    assert "server_upload_time" in r.stdout and "incremental" in r.stdout
    one = json.loads(run(None, "streams", "events", "--json").stdout)
    assert one[0]["primary_key"] == ["uuid"] and one[0]["grain"] == "hour"
    assert {"name": "insert_id", "type": "string", "source": "$insert_id"} in one[0]["columns"]
    bad = run(None, "streams", "nope")
    assert bad.returncode == 1 and "unknown stream 'nope'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_dry_run_prints_the_plan_and_writes_nothing(seeded: RunningServer, tmp_path: Path) -> None:
    r = run(seeded, "sync", "--dry-run", "--streams", "events,active_users,cohorts",
            "--range", "2024-01-01,2024-12-30", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    plans = {p["stream"]: p for p in json.loads(r.stdout)["plans"]}
    assert plans["active_users"]["requests"] == 1 and plans["active_users"]["cost"] == 365
    assert plans["events"]["requests"] == 365 and plans["events"]["unit"] == "hour"
    assert plans["cohorts"]["requests"] == 1
    table = run(seeded, "sync", "--dry-run", "--streams", "average_session_length",
                "--range", "2024-01-01,2024-12-30", cwd=tmp_path)
    assert "2024-01-01..2024-09-06" in table.stdout and "1460" in table.stdout
    assert not list(tmp_path.iterdir())  # no amplitude.duckdb was created


def test_sync_prints_a_summary_and_lands_rows(seeded: RunningServer, tmp_path: Path) -> None:
    r = run(seeded, "sync", "--streams", "events,active_users,cohorts",
            "--range", "2024-03-01,2024-03-09", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for word in ("stream", "rows", "requests", "cost", "time", "events", "active_users"):
        assert word in r.stdout
    assert f"{len(source_events(seeded)):,}" in r.stdout
    rows = duckdb_rows(tmp_path / "amplitude.duckdb", "events")
    assert len(rows) == len(source_events(seeded))
    assert KEY not in r.stdout + r.stderr and SECRET not in r.stdout + r.stderr


def test_a_refused_key_pair_says_what_to_check(seeded: RunningServer, tmp_path: Path) -> None:
    wrong = "definitely-wrong-secret-123"
    r = run(seeded, "sync", "--streams", "events,active_users", "--target",
            str(tmp_path / "x.duckdb"), secret=wrong)
    assert r.returncode == 1
    assert "key pair and the region" in r.stderr
    assert wrong not in r.stdout + r.stderr
    assert "failed" in r.stdout  # the summary still shows both streams


@pytest.mark.parametrize(("args", "needle"), [
    (["--range", "2024-13-01,2024-01-02"], "not a date or hour"),
    (["--streams", "events,bogus"], "unknown stream 'bogus'"),
    (["--mode", "sometimes"], "--mode must be one of"),
    (["--target", "mysql://h/db"], "unsupported target scheme"),
    (["--config", "/nonexistent/replication.yaml"], "replication file not found"),
])
def test_mistakes_are_one_line(seeded: RunningServer, tmp_path: Path, args: list[str],
                               needle: str) -> None:
    r = run(seeded, "sync", *args, cwd=tmp_path)
    assert r.returncode == 1 and needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_missing_credentials(tmp_path: Path) -> None:
    r = run(None, "sync", "--streams", "cohorts", cwd=tmp_path)
    assert r.returncode == 1 and "AMPLITUDE_API_KEY" in r.stderr
