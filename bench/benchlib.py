"""What the benchmarks share: a free port, ``ampkit serve`` in a subprocess, and synthetic
events generated straight into the server's DuckDB file with SQL.

The scripts run as ``python bench/<name>.py``, so this module is imported as ``benchlib``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx

from ampkit.server.schema import DDL, EVENT_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
TIMESTAMP_ALIASES = ("client_event_time", "client_upload_time", "server_received_time",
                     "server_upload_time", "processed_time")


# Runs ``python ARGS...`` as its own child, reaps it with wait4 and reports what the kernel
# counted for it alone.  A process started from the benchmark itself would not do: Linux keeps
# a process's peak RSS across exec, so a child spawned from a 70 MB benchmark reports 70 MB
# before it does anything.  This launcher is small, and its child is a fresh fork of it.
_LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
_, status, ru = os.wait4(pid, 0)
print(json.dumps({"cpu": ru.ru_utime + ru.ru_stime, "user": ru.ru_utime, "sys": ru.ru_stime,
                  "maxrss_kb": ru.ru_maxrss, "status": os.waitstatus_to_exitcode(status)}),
      file=sys.stderr)
"""


@dataclass(frozen=True)
class ChildUsage:
    """One child process, whole: its stdout, user+sys CPU seconds (every thread, start-up and
    exit included) and peak RSS (``ru_maxrss``, MiB)."""

    stdout: str
    cpu: float
    user: float
    sys: float
    peak_mib: float


def run_child(args: Sequence[str], *, timeout: float = 1800) -> ChildUsage:
    """``python ARGS...`` in a fresh process (PYTHONPATH=src), measured by ``os.wait4``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *args], capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)
    lines = done.stderr.strip().splitlines()
    report = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    if report is None or report["status"] != 0:
        raise RuntimeError(f"child {list(args)[:1]} failed: {done.stderr[-2000:]}")
    return ChildUsage(done.stdout, report["cpu"], report["user"], report["sys"],
                      report["maxrss_kb"] / 1024)


def h(expr: str, n: int) -> str:
    """A deterministic pseudo-random integer in [0, n) from a row expression."""
    return f"(hash({expr}) % {n})::BIGINT"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def generate_events(db: Path, events: int, expressions: Mapping[str, str]) -> None:
    """``events`` rows into ``db``'s events table, one SQL expression of ``i`` per column
    (missing columns NULL; the timestamps besides ``event_time`` copy it).  A file already
    holding exactly ``events`` rows is reused."""
    columns = {name: f"({expressions['event_time']})" for name in TIMESTAMP_ALIASES}
    columns.update(expressions)
    con = duckdb.connect(str(db))
    try:
        for ddl in DDL:
            con.execute(ddl)
        have = con.execute("SELECT count(*) FROM events").fetchone()
        if have and have[0] == events:
            print(f"reusing {db} ({events:,} events)")
            return
        con.execute("DELETE FROM events")
        select = ", ".join(columns.get(name, "NULL") for name, _, _ in EVENT_COLUMNS)
        t0 = time.perf_counter()
        con.execute(f"INSERT INTO events SELECT {select} FROM range({events}) t(i)")
        con.execute("CHECKPOINT")
        print(f"generated {events:,} events into {db} in {time.perf_counter() - t0:.1f} s")
    finally:
        con.close()


@contextmanager
def serve(*args: str, startup_timeout: float = 120) -> Iterator[str]:
    """``ampkit serve --port P *args`` in a subprocess; yields its URL once ``/health``
    answers, and stops it afterwards."""
    with serve_process(*args, startup_timeout=startup_timeout) as (url, _):
        yield url


@contextmanager
def serve_process(*args: str, startup_timeout: float = 120) -> Iterator[tuple[str, int]]:
    """Like :func:`serve`, yielding the server process's pid beside its URL (to read its CPU
    time with :func:`cpu_seconds`)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ampkit", "serve", "--port", str(port), *args],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ampkit serve did not start on {url}")
            time.sleep(0.2)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (``/proc/PID/stat``, Linux)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
