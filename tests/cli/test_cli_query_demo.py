"""``ampkit query`` (tables, JSON, CSV, charts) and ``ampkit demo`` end to end."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
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


def test_each_query_is_a_command_with_its_options(seeded: RunningServer) -> None:
    """``ampkit query NAME --option value``: options from the query model, the same answer as
    the ``key=value`` spelling; repeated list options and one JSON list agree."""
    pairs = run(seeded, "query", "funnel", 'steps=["Sign Up","Activate","Purchase"]',
                "start=2024-03-03", "end=2024-03-07", "--json")
    repeated = run(seeded, "query", "funnel", "--steps", "Sign Up", "--steps", "Activate",
                   "--steps", "Purchase", "--start", "2024-03-03", "--end", "2024-03-07",
                   "--json")
    whole = run(seeded, "query", "funnel", "--steps", '["Sign Up","Activate","Purchase"]',
                "--start", "20240303", "--end", "2024-03-07", "--json")
    assert pairs.returncode == repeated.returncode == whole.returncode == 0, repeated.stderr
    assert json.loads(pairs.stdout) == json.loads(repeated.stdout) == json.loads(whole.stdout)
    seg = run(seeded, "query", "event_segmentation", "--event", "Purchase", "--metric",
              "totals", "--start", "2024-03-03", "--end", "2024-03-07", "--csv")
    purchases = sum(1 for e in generate(SPEC) if e["event_type"] == "Purchase"
                    and "2024-03-03" <= dt.datetime.fromtimestamp(
                        e["time"] / 1000, dt.UTC).date().isoformat() <= "2024-03-07")
    assert seg.returncode == 0, seg.stderr
    assert sum(float(r["value"]) for r in csv.DictReader(io.StringIO(seg.stdout))) == purchases


def test_query_help_lists_each_query_and_its_options(seeded: RunningServer) -> None:
    listing = run(seeded, "query", "--help")
    assert listing.returncode == 0
    for name in ("event_segmentation", "funnel", "retention", "user_search", "user_profile"):
        assert name in listing.stdout
    seg = words(run(seeded, "query", "event_segmentation", "--help").stdout)
    for option in ("--event", "--second-event", "--rolling-window", "--group-by", "--formula",
                   "--json", "--csv", "--png"):
        assert option in seg
    assert "Required." in seg and "One of: uniques, totals" in seg
    profile = words(run(seeded, "query", "user_profile", "--help").stdout)
    for option in ("--get-amp-props", "--get-cohort-ids", "--get-computations"):  # ModuleX's
        assert option in profile


def words(text: str) -> str:
    """Help text with its line wrapping and box drawing taken out."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())


def test_query_options_refuse_mistakes_in_one_line(seeded: RunningServer) -> None:
    missing = run(seeded, "query", "funnel", "--start", "2024-03-03", "--end", "2024-03-07")
    assert missing.returncode == 1 and "steps" in missing.stderr
    assert "Traceback" not in missing.stderr
    twice = run(seeded, "query", "active_users", "--start", "2024-03-03", "start=2024-03-04",
                "--end", "2024-03-07")
    assert twice.returncode == 1 and "start is given twice" in twice.stderr
    unknown = run(seeded, "query", "active_users", "--stat", "2024-03-03")
    assert unknown.returncode == 2 and "--stat" in unknown.stderr
    nonsense = run(seeded, "query", "active_users", "--start", "2024-03-03", "--end",
                   "2024-03-07", "--interval", "banana")
    assert nonsense.returncode == 1 and "interval" in nonsense.stderr
    not_a_query = run(seeded, "query", "track_event")
    assert not_a_query.returncode == 2 and "track_event" in not_a_query.stderr


def test_a_numeric_looking_text_stays_text(seeded: RunningServer) -> None:
    """``--user 123`` searches for the user "123" (a string field), not the number."""
    r = run(seeded, "query", "user_search", "--user", "123", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["success"] is True
