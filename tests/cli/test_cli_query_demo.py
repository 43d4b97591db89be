"""``ampkit query`` (tables, JSON, CSV, charts) and ``ampkit demo`` end to end."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from tests.cli.test_cli_commands import KEY, SECRET, run

from ampkit.seed import SeedSpec, generate
from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread

SPEC = SeedSpec(users=60, days=5, end=dt.date(2024, 3, 7), seed=5)


@pytest.fixture(scope="module")
def seeded() -> Iterator[RunningServer]:
    srv = serve_in_thread(ServerConfig(port=0, throttle_enabled=False, projects=[
        ProjectConfig(project_id=5, api_key=KEY, secret_key=SECRET)]))
    done = run(srv, "seed", "--users", "60", "--days", "5", "--end", "2024-03-07",
               "--seed", "5")
    assert done.returncode == 0, done.stderr
    yield srv
    srv.stop()


def signups_per_day() -> dict[str, int]:
    out: dict[str, set[str]] = {}
    for e in generate(SPEC):
        day = dt.datetime.fromtimestamp(e["time"] / 1000, dt.UTC).date().isoformat()
        out.setdefault(day, set()).add(e["user_id"])
    return {k: len(v) for k, v in sorted(out.items())}


def test_query_csv_matches_the_seed(seeded: RunningServer) -> None:
    r = run(seeded, "query", "active_users", "start=2024-03-03", "end=2024-03-07", "--csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {row["x"]: int(float(row["value"])) for row in rows} == signups_per_day()


def test_query_json_table_chart_and_png(seeded: RunningServer, tmp_path: Path) -> None:
    args = ("query", "funnel", 'steps=["Sign Up","Activate","Purchase"]', "start=2024-03-03",
            "end=2024-03-07")
    out = json.loads(run(seeded, *args, "--json").stdout)
    signed = {e["user_id"] for e in generate(SPEC) if e["event_type"] == "Sign Up"}
    assert out["success"] and out["result"]["groups"][0]["cumulative_raw"][0] == len(signed)
    table = run(seeded, *args).stdout
    assert "Sign Up" in table and "of previous" in table
    png = tmp_path / "dau.png"
    r = run(seeded, "query", "active_users", "start=2024-03-03", "end=2024-03-07", "--chart",
            "--png", str(png))
    assert r.returncode == 0, r.stderr
    assert "█" in r.stdout and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run(seeded, *args, "--chart").stderr.startswith("error:")  # not a time series
    bad = run(seeded, "query", "active_users", "start=2024-03-09", "end=2024-03-01")
    assert bad.returncode != 0 and bad.stderr.startswith("error:")
    assert "Traceback" not in bad.stderr


def test_demo_runs_offline_and_fills_duckdb(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    done = subprocess.run([sys.executable, "-m", "ampkit", "demo", "--users", "80", "--days",
                           "5", "--png-dir", "charts"], cwd=tmp_path, env={**env,
                           "COLUMNS": "160"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "demo complete" in done.stdout
    expected = sum(1 for _ in generate(SeedSpec(users=80, days=5))) + 3  # + 3 live events
    with duckdb.connect(str(tmp_path / "amplitude.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (expected,)
        assert con.execute("SELECT count(*) FROM active_users").fetchone()[0] >= 5
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == [
        "active_users.png", "event_segmentation.png"]
