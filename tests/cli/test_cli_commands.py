"""The people-facing commands, run as a user runs them (in-process, typer's runner) against
ampkit serve."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.invoke import Ran, invoke

from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread

KEY, SECRET = "cli-key-00001", "cli-secret-00001"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    srv = serve_in_thread(ServerConfig(port=0, throttle_enabled=False, projects=[
        ProjectConfig(project_id=5, api_key=KEY, secret_key=SECRET)]))
    yield srv
    srv.stop()


def run(server: RunningServer, *args: str, stdin: str | None = None,
        env: dict[str, str] | None = None) -> Ran:
    """``ampkit *args`` in-process, with the project's keys and the server's URL."""
    return invoke(*args, stdin=stdin, env={
        "AMPLITUDE_API_KEY": KEY, "AMPLITUDE_SECRET_KEY": SECRET,
        "AMPLITUDE_BASE_URL": server.url, **(env or {})})


def stored(server: RunningServer) -> list[dict[str, object]]:
    return server.store.events_page(5, 100_000, 0)


def test_track_from_flags_file_and_stdin(server: RunningServer, tmp_path: Path) -> None:
    server.store.reset(5)
    r = run(server, "track", "-e", "Clicked", "--user-id", "user-t0001", "-p", "n=3",
            "-p", "tags=[\"a\"]", "--user-prop", "plan=pro", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["delivered"] == 1
    file = tmp_path / "events.json"
    file.write_text(json.dumps([{"event_type": "F", "user_id": f"user-f{i:04d}"}
                                for i in range(3)]))
    assert run(server, "track", "--file", str(file)).stdout.startswith("delivered 3 events")
    lines = "\n".join(json.dumps({"event_type": "S", "device_id": f"device-{i:04d}"})
                      for i in range(5))
    assert run(server, "track", "--file", "-", "--batch", stdin=lines).returncode == 0
    events = stored(server)
    first = events[0]
    assert first["event_properties"] == {"n": 3, "tags": ["a"]}
    assert first["user_properties"] == {"plan": "pro"}
    assert sorted(str(e["event_type"]) for e in events) == ["Clicked"] + ["F"] * 3 + ["S"] * 5


def test_track_errors_are_one_line(server: RunningServer) -> None:
    for args in (["track", "-e", "X", "--user-id", "abc"], ["track", "-e", "X"],
                 ["track", "-e", "X", "--user-id", "user-00001", "-p", "novalue"]):
        r = run(server, *args, stdin="")
        assert r.returncode != 0 and "Traceback" not in r.stderr, args
        assert r.stderr.strip().startswith("error:"), r.stderr
    bad_key = run(server, "track", "-e", "X", "--user-id", "user-00001",
                  env={"AMPLITUDE_API_KEY": "wrong-key-123"})
    assert bad_key.returncode != 0 and "wrong-key-123" not in bad_key.stderr + bad_key.stdout


def test_identify_and_group_identify(server: RunningServer) -> None:
    server.store.reset(5)
    r = run(server, "identify", "--user-id", "user-i0001", "--set", "plan=pro",
            "--add", "logins=2", "--append", "tags=x")
    assert r.returncode == 0, r.stderr
    r = run(server, "identify", "--user-id", "user-i0001", "--add", "logins=1", "--api")
    assert r.returncode == 0, r.stderr
    user = server.store.user_snapshot(5, "user-i0001")
    assert user is not None and user["user_properties"] == {"plan": "pro", "logins": 3,
                                                            "tags": ["x"]}
    r = run(server, "group-identify", "--group-type", "org", "--group-value", "org-1",
            "--set", "seats=5")
    assert r.returncode == 0, r.stderr
    group = server.store.group_snapshot(5, "org", "org-1")
    assert group is not None and group["group_properties"] == {"seats": 5}
    assert run(server, "identify", "--user-id", "user-i0001").returncode != 0


def test_export_to_jsonl_and_parquet(server: RunningServer, tmp_path: Path) -> None:
    server.store.reset(5)
    run(server, "track", "--file", "-", stdin="\n".join(
        json.dumps({"event_type": "E", "user_id": "user-00001", "insert_id": f"x-{i}"})
        for i in range(4)))
    import datetime as dt

    hour = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H")
    out = tmp_path / "events.jsonl"
    r = run(server, "export", "--start", hour, "--end", hour, "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(row["$insert_id"] for row in rows) == [f"x-{i}" for i in range(4)]
    assert out.stat().st_mode & 0o077 == 0  # event data: the owner's alone (umask 077)
    pq = pytest.importorskip("pyarrow.parquet")
    parquet = tmp_path / "events.parquet"
    assert run(server, "export", "--start", hour, "--end", hour, "--out",
               str(parquet)).returncode == 0
    assert pq.read_table(parquet).num_rows == 4
    empty = run(server, "export", "--start", "20200101T00", "--end", "20200101T01",
                "--out", str(tmp_path / "none.jsonl"))
    assert empty.returncode == 0 and not (tmp_path / "none.jsonl").exists()
    assert run(server, "export", "--start", "x", "--end", hour, "--out",
               str(out)).stderr.startswith("error:")


def test_export_into_a_duckdb_file_new_then_upserted(server: RunningServer,
                                                     tmp_path: Path) -> None:
    import datetime as dt

    import duckdb

    server.store.reset(5)
    run(server, "track", "--file", "-", stdin="\n".join(
        json.dumps({"event_type": "D", "user_id": "user-00001", "insert_id": f"d-{i}",
                    "event_properties": {"i": i}})
        for i in range(5)))
    hour = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H")
    db = tmp_path / "events.duckdb"
    r = run(server, "export", "--start", hour, "--end", hour, "--out", str(db))
    assert r.returncode == 0, r.stderr
    assert "wrote 5 events" in r.stdout
    # the bar: hours of the range, and the archive's bytes (it showed hours as bytes)
    bar = re.search(r"1/1 hours ([\d.]+) (?:bytes|kB) downloaded", r.stdout)
    assert bar is not None and float(bar[1]) > 0, r.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["events.duckdb"]  # no partial left
    con = duckdb.connect(str(db))
    rows = con.execute("SELECT insert_id, event_properties FROM events ORDER BY insert_id")
    assert [(i, json.loads(p)) for i, p in rows.fetchall()] == [
        (f"d-{i}", {"i": i}) for i in range(5)]
    con.execute("CREATE TABLE mine AS SELECT 42 AS answer")
    con.close()
    # the same hours again, and one event more: an existing file is upserted by uuid (one row
    # per event), other tables untouched, no staging table left behind; a memory limit for the
    # load leaves the file's own setting as it was
    run(server, "track", "--file", "-", stdin=json.dumps(
        {"event_type": "D", "user_id": "user-00001", "insert_id": "d-5"}))
    r = run(server, "export", "--start", hour, "--end", hour, "--out", str(db), "--table",
            "events", "--memory-limit", "64MB")
    assert r.returncode == 0, r.stderr
    assert "wrote 6 events" in r.stdout
    con = duckdb.connect(str(db))
    assert con.execute("SELECT count(*), count(DISTINCT uuid) FROM events").fetchone() == (6, 6)
    assert con.execute("SELECT answer FROM mine").fetchone() == (42,)
    tables = sorted(t for (t,) in con.execute(
        "SELECT table_name FROM information_schema.tables").fetchall())
    assert tables == ["events", "mine"]
    con.close()
    bad = run(server, "export", "--start", hour, "--end", hour, "--out", str(db), "--table",
              "a..b")
    assert bad.returncode != 0 and bad.stderr.startswith("error: --table")
    bad = run(server, "export", "--start", hour, "--end", hour, "--out", str(db),
              "--memory-limit", "lots")
    assert bad.returncode != 0 and "memory_limit 'lots'" in bad.stderr
    bad = run(server, "export", "--start", hour, "--end", hour, "--out",
              str(tmp_path / "x.jsonl"), "--memory-limit", "64MB")
    assert bad.returncode != 0 and bad.stderr.startswith("error: --memory-limit")


@pytest.mark.parametrize("name", ["events.csv", "events", "events.json", "events.db"])
def test_export_refuses_an_unknown_suffix_and_writes_nothing(
        server: RunningServer, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    r = run(server, "export", "--start", "20240301T00", "--end", "20240301T01", "--out",
            str(out))
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --out {out}: ")
    assert ".jsonl, .parquet, .duckdb" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_request_any_path(server: RunningServer) -> None:
    r = run(server, "request", "POST", "/api/3/annotations", "--body",
            json.dumps({"label": "Launch", "start": "2024-03-02T07:00:00+00:00"}))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["label"] == "Launch"
    listed = json.loads(run(server, "request", "GET", "/api/3/annotations").stdout)
    assert [a["label"] for a in listed["data"]] == ["Launch"]
    missing = run(server, "request", "GET", "/api/3/annotations/999999")
    assert missing.returncode != 0 and missing.stderr.startswith("error:")


def test_request_writes_a_binary_answer_byte_for_byte(server: RunningServer,
                                                      tmp_path: Path) -> None:
    """``ampkit request GET /api/2/export … > r.zip`` made a file with replacement characters
    (decoded as text); now the bytes as they came: a ZIP that opens, holding the events."""
    import subprocess
    import sys
    import zipfile

    run(server, "track", "-e", "Zipped", "--user-id", "user-00001")
    now = dt.datetime.now(dt.UTC)  # the hour before too: the track may fall before a new hour
    hour, before = now.strftime("%Y%m%dT%H"), (now - dt.timedelta(hours=1)).strftime("%Y%m%dT%H")
    target = tmp_path / "r.zip"
    with target.open("wb") as out:
        done = subprocess.run(
            [sys.executable, "-m", "ampkit", "request", "GET", "/api/2/export", "-p",
             f"start={before}", "-p", f"end={hour}"], stdout=out, stderr=subprocess.PIPE,
            text=False, timeout=120, stdin=subprocess.DEVNULL,
            env={**os.environ, "AMPLITUDE_API_KEY": KEY, "AMPLITUDE_SECRET_KEY": SECRET,
                 "AMPLITUDE_BASE_URL": server.url})
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(target) as archive:
        assert archive.namelist()
