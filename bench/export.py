"""Export reader benchmark: a 1,000,000-event archive into a DuckDB table through ampkit's
reader (:func:`ampkit.export.load_duckdb`: ampkit's C decoder turns the lines into Arrow batches
that one INSERT pulls, with DuckDB's ``memory_limit`` at LIMIT for the load), against the floor
measured in the same run: unzip + gunzip + orjson parse of the same archive, nothing else.

Also measured, for comparison: the same load without a memory limit (DuckDB then keeps the
table's pages, up to 80% of RAM); the path of an install without a C compiler (DuckDB's JSON
reader, ``reader="duckdb"``); and the Arrow batch reader alone (batches built and dropped, no
DuckDB), with the C decoder and with the Python converter only.

The archive is built from the real export lines in ``tests/fixtures/export/`` (new uuid,
insert id and times per line), laid out as Amplitude does (per-hour ``.json.gz`` entries).
Each reader runs in a fresh process so its peak RSS is its own.  Prints events/s for each, the
ratio to the floor, and the peak RSS.  Targets: >= 50% of the floor, peak RSS under 300 MB.

    .venv/bin/python bench/export.py [--events 1000000] [--keep] [--archive export.zip]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
import zipfile
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = (ROOT / "tests" / "fixtures" / "export"
           / "export_lines__project636686__2025-07-01.jsonl")
PER_HOUR = 100_000

PEAK = """
def peak_rss_mb():
    # VmHWM is this process's own high-water mark (ru_maxrss survives exec on Linux and
    # would report the parent's peak)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
"""

FLOOR = PEAK + """
import gzip, sys, time, zipfile
import orjson
path = sys.argv[1]
t0 = time.perf_counter()
n = 0
with zipfile.ZipFile(path) as zf:
    for name in sorted(zf.namelist()):
        if not name.endswith(".json.gz"):
            continue
        with zf.open(name) as raw, gzip.open(raw) as fh:
            for line in fh:
                if line.strip():
                    orjson.loads(line)
                    n += 1
dt = time.perf_counter() - t0
print(n, dt, peak_rss_mb())
"""

LIMIT = "100MB"

LOAD = PEAK + """
import sys, time
import duckdb
from ampkit.export import load_duckdb
path, db, reader, limit = sys.argv[1:5]
con = duckdb.connect(db)
t0 = time.perf_counter()
report = load_duckdb(path, con, "events", reader=reader,
                     memory_limit=None if limit == "none" else limit)
count = con.execute("SELECT count(*) FROM events").fetchone()[0]
dt = time.perf_counter() - t0
assert count == report.rows and report.reader == reader and report.exact_rows == 0, report
print(count, dt, peak_rss_mb())
"""

READER = PEAK + """
import sys, time
from ampkit.export import iter_arrow_batches, has_native_decoder
path, decoder = sys.argv[1:3]
assert has_native_decoder() == (decoder == "c")
t0 = time.perf_counter()
n = 0
for batch in iter_arrow_batches(path, batch_size=50_000):
    n += batch.num_rows
dt = time.perf_counter() - t0
print(n, dt, peak_rss_mb())
"""


def build_archive(path: Path, events: int) -> None:
    templates = [orjson.loads(line) for line in FIXTURE.read_bytes().splitlines() if line.strip()]
    base = 1_751_389_200_000  # 2025-07-01 17:00 UTC
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        hour = 0
        done = 0
        while done < events:
            count = min(PER_HOUR, events - done)
            start = base + hour * 3_600_000
            stamp = time.strftime("%Y-%m-%d", time.gmtime(start / 1000))
            h = time.gmtime(start / 1000).tm_hour
            name = f"636686/636686_{stamp}_{h}#0.json.gz"
            with zf.open(name, "w", force_zip64=True) as raw, gzip.GzipFile(
                fileobj=raw, mode="wb", mtime=0, compresslevel=6
            ) as gz:
                lines: list[bytes] = []
                for i in range(count):
                    if len(lines) >= 10_000:
                        gz.write(b"\n".join(lines) + b"\n")
                        lines = []
                    line = dict(templates[(done + i) % len(templates)])
                    ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(
                        (start + i * 30) / 1000)) + f".{(i * 30) % 1000:03d}000"
                    line["uuid"] = str(uuid.UUID(int=done + i + 1))
                    line["$insert_id"] = f"bench-{done + i}"
                    line["server_upload_time"] = ts
                    line["event_time"] = ts
                    lines.append(orjson.dumps(line))
                if lines:
                    gz.write(b"\n".join(lines) + b"\n")
            done += count
            hour += 1


def run(code: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, float, float]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                         capture_output=True, text=True, check=True,
                         env=None if env is None else {**os.environ, **env})
    n, seconds, rss = out.stdout.split()
    return int(n), float(seconds), float(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the archive and database")
    parser.add_argument("--archive", type=Path, help="reuse an archive a --keep run left")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ampkit-bench-export-"))
    if args.archive is not None:
        archive = args.archive
        print(f"archive: {archive} ({archive.stat().st_size / 1e6:.1f} MB zipped)")
    else:
        archive = work / "export.zip"
        t0 = time.perf_counter()
        build_archive(archive, args.events)
        print(f"archive: {args.events:,} events, {archive.stat().st_size / 1e6:.1f} MB zipped, "
              f"built in {time.perf_counter() - t0:.1f} s")
    python_only = {"AMPKIT_EXPORT_DECODER": "python"}
    runs = [
        ("floor (unzip + gunzip + orjson)", run(FLOOR, str(archive))),
        (f"load_duckdb, C decoder, memory_limit {LIMIT}",
         run(LOAD, str(archive), str(work / "a.duckdb"), "c", LIMIT)),
        ("load_duckdb, C decoder, no memory_limit",
         run(LOAD, str(archive), str(work / "b.duckdb"), "c", "none")),
        ("load_duckdb, DuckDB's JSON reader (no compiler)",
         run(LOAD, str(archive), str(work / "c.duckdb"), "duckdb", "none")),
        ("Arrow reader alone, C decoder", run(READER, str(archive), "c")),
        ("Arrow reader alone, Python converter",
         run(READER, str(archive), "python", env=python_only)),
    ]
    counts = {n for _, (n, _, _) in runs}
    assert len(counts) == 1, runs
    floor_n, floor_s, _ = runs[0][1]
    floor_eps = floor_n / floor_s
    figures: dict[str, object] = {"events": floor_n, "floor_eps": floor_eps}
    for label, (n, seconds, rss) in runs:
        eps = n / seconds
        ratio = eps / floor_eps
        print(f"  {label:<48} {eps:>10,.0f} events/s   ratio {ratio:4.2f}   "
              f"peak RSS {rss:5.0f} MB")
        figures[label] = {"eps": round(eps), "ratio": round(ratio, 3), "rss_mb": round(rss)}
    _, (n, seconds, rss) = runs[1]
    ratio = n / seconds / floor_eps
    met = ratio >= 0.5 and rss < 300
    print(f"  target (load_duckdb with the C decoder): ratio {ratio:.2f} (>= 0.50), peak RSS "
          f"{rss:.0f} MB (< 300 MB): {'met' if met else 'NOT met'}")
    print(json.dumps(figures))
    if not args.keep:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
