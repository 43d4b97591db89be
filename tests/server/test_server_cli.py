"""``ampkit serve`` as a user runs it: a subprocess, a port, a clean shutdown on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import httpx

from ampkit import Amplitude

URL = re.compile(r"http://127\.0\.0\.1:(\d+)")


@contextmanager
def serve(*args: str) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    proc = subprocess.Popen([sys.executable, "-m", "ampkit", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    assert proc.stdout is not None
    lines: list[str] = []
    url = ""
    for line in proc.stdout:
        lines.append(line)
        match = URL.search(line)
        if match:
            url = match.group(0)
        if "AMPLITUDE_BASE_URL" in line:
            break
    try:
        yield proc, url, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_stores_to_a_db_file_and_stops_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "events.duckdb"
    with serve("--db", str(db), "--api-key", "cli-api-key-1", "--secret-key",
               "cli-secret-key-1") as (proc, url, lines):
        assert url and "cli-secret-key-1" not in "".join(lines)
        assert "cli-api-key-1" not in "".join(lines)
        assert httpx.get(f"{url}/health").status_code == 200
        amp = Amplitude("cli-api-key-1", base_url=url)
        report = amp.send([{"event_type": "cli", "user_id": "user-00001"}] * 3)
        assert len(report.delivered) == 3
        amp.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (3,)


def test_serve_prints_the_demo_pair_only_for_demo_keys() -> None:
    with serve() as (proc, url, lines):
        text = "".join(lines)
        assert "ampkit-demo-api-key" in text and "ampkit-demo-secret-key" in text
        r = httpx.post(f"{url}/2/httpapi", json={"api_key": "ampkit-demo-api-key", "events": [
            {"event_type": "x", "device_id": "device-0001"}]})
        assert r.status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def test_serve_rejects_bad_flags_in_one_line() -> None:
    for args in (["--faults", "teapot=1"], ["--api-key", "only-key-1"],
                 ["--config", "/no/such/file.yaml"]):
        r = subprocess.run([sys.executable, "-m", "ampkit", "serve", *args],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert r.stderr.strip().startswith("error:") and r.stderr.strip().count("\n") <= 1


@contextmanager
def serve_env(env: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen([sys.executable, "-m", "ampkit", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200", **env})
    assert proc.stdout is not None
    url = ""
    for line in proc.stdout:
        match = URL.search(line)
        url = match.group(0) if match else url
        if "AMPLITUDE_BASE_URL" in line:
            break
    try:
        yield proc, url
    finally:
        proc.kill()
        proc.wait()


def test_serve_reads_its_keys_from_the_environment_and_writes_owner_only(tmp_path: Path) -> None:
    """No secret on the command line (``ps`` shows it to every local user)."""
    db = tmp_path / "events.duckdb"
    env = {"AMPKIT_SERVE_API_KEY": "env-api-key-1", "AMPKIT_SERVE_SECRET_KEY": "env-secret-1"}
    with serve_env(env, "--db", str(db), "--dashboard-limits", "off") as (proc, url):
        assert "env-api-key-1" not in " ".join(proc.args)  # type: ignore[arg-type]
        r = httpx.post(f"{url}/2/httpapi", json={"api_key": "env-api-key-1", "events": [
            {"event_type": "x", "device_id": "device-0001"}]})
        assert r.status_code == 200
        auth = ("env-api-key-1", "env-secret-1")
        # with --dashboard-limits off, more than Amplitude's 5-minute cost budget goes through
        for _ in range(40):
            q = httpx.get(f"{url}/api/2/events/segmentation", auth=auth, params={
                "e": '{"event_type": "x"}', "start": "20240101", "end": "20241230"})
            assert q.status_code == 200, q.text
        assert httpx.post(f"{url}/2/httpapi", json={"api_key": "ampkit-demo-api-key",
                                                    "events": []}).status_code == 400
        for path in (db, db.with_name(db.name + ".wal")):
            if path.exists():
                assert path.stat().st_mode & 0o077 == 0, path
