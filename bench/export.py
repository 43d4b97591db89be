"""Export reader benchmark: a 1,000,000-event archive into a DuckDB table through ampkit's
reader (:func:`ampkit.export.load_duckdb`: entries copied out of the zip, decoded and converted
by DuckDB's JSON reader, drift handed to the Python converter), against the floor measured in
the same run: unzip + gunzip + orjson parse of the same archive, nothing else.  The Arrow batch
reader (zip → gzip → lines → typed Arrow batches) is measured too, into DuckDB and alone.

The archive is built from the real export lines in ``../shared/fixtures/export/`` (new uuid,
insert id and times per line), laid out as Amplitude does (per-hour ``.json.gz`` entries).
Each reader runs in a fresh process so its peak RSS is its own.  Prints events/s for both, the
ratio, and ampkit's peak RSS.  Targets: >= 50% of the floor, peak RSS under 300 MB.

ampkit's reader also runs alone (batches built and dropped, no DuckDB): the process that fills the
DuckDB table holds DuckDB's buffer pool too, which keeps the table's pages (memory_limit defaults
to 80% of RAM) and so grows with the archive — measured at ~450 MB for 1M events fed from
pre-built batches — so its peak RSS is not the reader's.  The reader's own RSS is the alone run's.

    .venv/bin/python bench/export.py [--events 1000000] [--keep] [--archive export.zip]
"""

from __future__ import annotations

import argparse
import gzip
import json
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
FIXTURE = (ROOT.parent / "shared" / "fixtures" / "export"
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

AMPKIT = PEAK + """
import sys, time
import duckdb
from ampkit.export import load_duckdb
path, db = sys.argv[1], sys.argv[2]
con = duckdb.connect(db)
t0 = time.perf_counter()
report = load_duckdb(path, con, "events")
count = con.execute("SELECT count(*) FROM events").fetchone()[0]
dt = time.perf_counter() - t0
assert count == report.rows and report.native and report.exact_rows == 0, report
print(count, dt, peak_rss_mb())
"""

BATCHES = PEAK + """
import sys, time
import duckdb
from ampkit.export import iter_arrow_batches
path, db = sys.argv[1], sys.argv[2]
con = duckdb.connect(db)
t0 = time.perf_counter()
n = 0
created = False
for batch in iter_arrow_batches(path, batch_size=50_000):
    if not created:
        con.execute("CREATE TABLE events AS SELECT * FROM batch")
        created = True
    else:
        con.execute("INSERT INTO events SELECT * FROM batch")
    n += batch.num_rows
count = con.execute("SELECT count(*) FROM events").fetchone()[0]
dt = time.perf_counter() - t0
assert count == n, (count, n)
print(n, dt, peak_rss_mb())
"""

READER = PEAK + """
import sys, time
from ampkit.export import iter_arrow_batches
path = sys.argv[1]
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


def run(code: str, *args: str) -> tuple[int, float, float]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                         capture_output=True, text=True, check=True)
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
    floor_n, floor_s, floor_rss = run(FLOOR, str(archive))
    amp_n, amp_s, amp_rss = run(AMPKIT, str(archive), str(work / "events.duckdb"))
    bat_n, bat_s, bat_rss = run(BATCHES, str(archive), str(work / "batches.duckdb"))
    alone_n, alone_s, alone_rss = run(READER, str(archive))
    assert floor_n == amp_n == bat_n == alone_n, (floor_n, amp_n, bat_n, alone_n)
    floor_eps, amp_eps = floor_n / floor_s, amp_n / amp_s
    bat_eps, alone_eps = bat_n / bat_s, alone_n / alone_s
    print(f"  floor (unzip + gunzip + orjson)        {floor_eps:>10,.0f} events/s   "
          f"peak RSS {floor_rss:6.0f} MB")
    print(f"  ampkit load_duckdb → DuckDB table      {amp_eps:>10,.0f} events/s   "
          f"peak RSS {amp_rss:6.0f} MB   ratio {amp_eps / floor_eps:.2f}")
    print(f"  ampkit Arrow batches → DuckDB table    {bat_eps:>10,.0f} events/s   "
          f"peak RSS {bat_rss:6.0f} MB   ratio {bat_eps / floor_eps:.2f} "
          "(with DuckDB's buffer pool)")
    print(f"  ampkit Arrow reader alone (no DuckDB)  {alone_eps:>10,.0f} events/s   "
          f"peak RSS {alone_rss:6.0f} MB   ratio {alone_eps / floor_eps:.2f}")
    print(f"  ratio ampkit/floor: {amp_eps / floor_eps:.2f} (target >= 0.50); peak RSS "
          f"{amp_rss:.0f} MB loading, {alone_rss:.0f} MB for the Arrow reader (target < 300 MB)")
    print(json.dumps({"events": floor_n, "floor_eps": floor_eps, "ampkit_eps": amp_eps,
                      "ratio": amp_eps / floor_eps, "ampkit_rss_mb": amp_rss,
                      "batches_eps": bat_eps, "batches_ratio": bat_eps / floor_eps,
                      "batches_rss_mb": bat_rss, "reader_eps": alone_eps,
                      "reader_ratio": alone_eps / floor_eps, "reader_rss_mb": alone_rss}))
    if not args.keep:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
