"""Export archive benchmark (not in CI): the local server building the ZIP of a 1,000,000-event
window (``services.export.build_archive``, in process, on the server's DuckDB file), in
events/s, against what DuckDB alone takes to write the same lines gzipped — ``COPY (SELECT
<the same line expression> …) TO 'x.gz' (…, COMPRESSION GZIP)``, one file, no ZIP — and zlib
alone gzipping the same bytes (level 5, one thread: the floor of the Python part), all in the
same run; also, when git has it, the row-by-row builder of ``--before`` (the previous release
of the module), run the same way.  Medians of ``--runs``, runs interleaved.

The events are the ones ``bench/sync.py`` generates, straight into a DuckDB file with SQL;
``--extra-every N`` gives every Nth event keys sent without a column of their own (the slower
path, which merges them in among the others).

    .venv/bin/python bench/server_export.py [--events 1000000] [--runs 3] [--before d2888b0]
                                            [--extra-every 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import duckdb
from benchlib import ROOT, generate_events
from sync import DAYS, EXPRESSIONS, FIRST, PROJECT

from ampkit.server.config import ExportConfig
from ampkit.server.services import export
from ampkit.server.services.export import ExportWindow, build_archive, export_line_sql

MODULE = "src/ampkit/server/services/export.py"
EXTRA = ("CASE WHEN i % {every} = 0 THEN '{{\"idfv\":\"idfv-' || i::VARCHAR || "
         "'\",\"user_agent\":\"bench/1.0\"}}' END")
CSV = "FORMAT CSV, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x01'"


def before_module(rev: str) -> ModuleType | None:
    """The export service as it was at ``rev`` (``git show``), or ``None`` without git."""
    try:
        source = subprocess.run(["git", "show", f"{rev}:{MODULE}"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader(f"export_at_{rev}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{rev}:{MODULE}", "exec"), module.__dict__)  # our own history
    return module


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def archive(builder: Callable[..., IO[bytes] | None], con: duckdb.DuckDBPyConnection,
            window: ExportWindow) -> Callable[[], None]:
    def run() -> None:
        cur = con.cursor()
        try:
            out = builder(cur, ExportConfig(), PROJECT, window)
            assert out is not None
            out.close()
        finally:
            cur.close()
    return run


def duckdb_gzip(con: duckdb.DuckDBPyConnection, target: Path) -> Callable[[], None]:
    sql = (f"COPY (SELECT {export_line_sql()} FROM (SELECT * FROM events WHERE project_id = "
           f"{PROJECT} ORDER BY server_upload_time, seq)) TO '{target}' ({CSV}, "
           "COMPRESSION GZIP)")

    def run() -> None:
        con.execute(sql)
    return run


def zlib_alone(plain: Path) -> Callable[[], None]:
    def run() -> None:
        gz = zlib.compressobj(export._GZIP_LEVEL, zlib.DEFLATED, 31)
        with plain.open("rb") as f:
            while chunk := f.read(16 << 20):
                gz.compress(chunk)
        gz.flush()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", default="d2888b0",
                        help="git revision of the row-by-row builder ('' to skip it)")
    parser.add_argument("--extra-every", type=int, default=0,
                        help="every Nth event carries keys without a column (0: none)")
    args = parser.parse_args()
    args.db = Path(tempfile.gettempdir()) / f"ampkit-bench-export-{args.extra_every}.duckdb"
    extra = {"extra": EXTRA.format(every=args.extra_every)} if args.extra_every > 0 else {}
    generate_events(args.db, args.events, {**EXPRESSIONS, **extra})
    work = Path(tempfile.mkdtemp(prefix="ampkit-bench-export-"))
    con = duckdb.connect(str(args.db), read_only=True)
    window = ExportWindow(FIRST.replace(tzinfo=None),
                          FIRST.replace(tzinfo=None) + dt.timedelta(days=DAYS))
    plain = work / "lines.jsonl"
    con.execute(f"COPY (SELECT {export_line_sql()} FROM events) TO '{plain}' ({CSV})")
    mb = plain.stat().st_size / 1e6
    old = before_module(args.before) if args.before else None
    contenders: dict[str, Callable[[], None]] = {
        "ampkit serve: build_archive (this tree)": archive(build_archive, con, window),
        "DuckDB COPY … COMPRESSION GZIP, same lines": duckdb_gzip(con, work / "copy.gz"),
        f"zlib level {export._GZIP_LEVEL} alone, same bytes": zlib_alone(plain),
    }
    if old is not None:
        contenders[f"before: row-by-row builder ({args.before})"] = archive(
            old.build_archive, con, window)
    else:
        print(f"(no git revision {args.before!r}: the previous builder is skipped)")
    every = f"1 in {args.extra_every}" if args.extra_every > 0 else "none"
    print(f"{args.events:,} events ({mb:,.0f} MB of JSON lines; with keys without a column: "
          f"{every}), {DAYS} days of upload hours, median of {args.runs}; load average "
          f"{os.getloadavg()[0]:.2f} at start")
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.runs):
        for name, fn in contenders.items():
            seconds[name].append(timed(fn))
    medians = {name: statistics.median(runs) for name, runs in seconds.items()}
    floor = medians["DuckDB COPY … COMPRESSION GZIP, same lines"]
    for name, median in medians.items():
        print(f"{name:<48} {median:6.1f} s = {args.events / median:>9,.0f} events/s"
              f"  ({floor / median:.2f}× DuckDB COPY GZIP's speed)")
    if old is not None:
        ours = medians["ampkit serve: build_archive (this tree)"]
        before = medians[f"before: row-by-row builder ({args.before})"]
        print(f"this tree builds the archive {before / ours:.2f}× as fast as {args.before}")
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    con.close()
    for path in work.iterdir():
        path.unlink()
    work.rmdir()


if __name__ == "__main__":
    sys.exit(main())
