"""Export reader benchmark: a 1,000,000-event archive into a DuckDB table through ampkit's
reader (:func:`ampkit.export.load_duckdb`: ampkit's C decoder turns the lines into Arrow batches
that one INSERT pulls, with DuckDB's ``memory_limit`` at LIMIT for the load), against the floor
measured in the same run: unzip + gunzip + orjson parse of the same archive, nothing else.

Also measured, for comparison, in the same run: the same load without a memory limit (DuckDB
then keeps the table's pages, up to 80% of RAM); the library path — DuckDB's JSON reader, the
path of an install without a C compiler (``reader="duckdb"``) — at the memory limit it needs
(LIBRARY_LIMIT; under some 200 MB DuckDB refuses and the Python converter loads the archive) and
without one; the Python converter alone; and the Arrow batch reader alone (batches built and
dropped, no DuckDB) with each reader.  The C decoder stays while it is more than 1.5 times as fast
as the library path at the same peak RSS (issue 15 §3): the last lines print that ratio.

The archive is built from the real export lines in ``tests/fixtures/export/`` (new uuid,
insert id and times per line), laid out as Amplitude does (per-hour ``.json.gz`` entries).
Each reader runs in a fresh process so its peak RSS is its own.  Prints events/s for each, the
ratio to the floor, and the peak RSS.  Targets: >= 70% of the floor, peak RSS under 300 MB.

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

LIMIT = "150MB"
LIBRARY_LIMIT = "200MB"
TARGET = 0.7
RULE = 1.5

LOAD = PEAK + """
import sys, time
import duckdb
from ampkit.export import load_duckdb
path, db, reader, limit = sys.argv[1:5]
con = duckdb.connect(db)
t0 = time.perf_counter()
report = load_duckdb(path, con, "events", reader=reader,
                     memory_limit=None if limit == "none" else limit)
count = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
dt = time.perf_counter() - t0
assert count == report.rows, report
print(report.reader, report.exact_rows, count, dt, peak_rss_mb())
"""

READER = PEAK + """
import sys, time
from ampkit.export import iter_arrow_batches
path, reader = sys.argv[1:3]
t0 = time.perf_counter()
n = 0
for batch in iter_arrow_batches(path, batch_size=50_000, reader=reader):
    n += batch.num_rows
dt = time.perf_counter() - t0
print(reader, 0, n, dt, peak_rss_mb())
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


def run(code: str, *args: str) -> tuple[str, int, int, float, float]:
    """(reader that read the lines, rows through the Python converter, events, seconds, MB)."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                         capture_output=True, text=True, check=True)
    reader, exact, n, seconds, rss = out.stdout.split()[-5:]
    return reader, int(exact), int(n), float(seconds), float(rss)


def floor_run(archive: Path) -> tuple[str, int, int, float, float]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(FLOOR), str(archive)],
                         capture_output=True, text=True, check=True)
    n, seconds, rss = out.stdout.split()
    return "floor", 0, int(n), float(seconds), float(rss)


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
    db = str(work / "bench.duckdb")

    def load(reader: str, limit: str) -> tuple[str, int, int, float, float]:
        for leftover in (Path(db), Path(db + ".wal")):
            leftover.unlink(missing_ok=True)
        return run(LOAD, str(archive), db, reader, limit)

    runs = [
        ("floor (unzip + gunzip + orjson)", floor_run(archive)),
        (f"load_duckdb, C decoder, memory_limit {LIMIT}", load("c", LIMIT)),
        ("load_duckdb, C decoder, no memory_limit", load("c", "none")),
        (f"load_duckdb, DuckDB's JSON reader, memory_limit {LIBRARY_LIMIT}",
         load("duckdb", LIBRARY_LIMIT)),
        (f"load_duckdb, DuckDB's JSON reader, memory_limit {LIMIT}", load("duckdb", LIMIT)),
        ("load_duckdb, DuckDB's JSON reader, no memory_limit", load("duckdb", "none")),
        (f"load_duckdb, Python converter, memory_limit {LIMIT}", load("python", LIMIT)),
        ("Arrow reader alone, C decoder", run(READER, str(archive), "c")),
        ("Arrow reader alone, DuckDB's JSON reader", run(READER, str(archive), "duckdb")),
        ("Arrow reader alone, Python converter", run(READER, str(archive), "python")),
    ]
    counts = {n for _, (_, _, n, _, _) in runs}
    assert len(counts) == 1, runs
    _, _, floor_n, floor_s, _ = runs[0][1]
    floor_eps = floor_n / floor_s
    figures: dict[str, object] = {"events": floor_n, "floor_eps": round(floor_eps)}
    ratios: dict[str, tuple[float, float]] = {}
    for label, (reader, exact, n, seconds, rss) in runs:
        eps = n / seconds
        ratio = eps / floor_eps
        ratios[label] = (ratio, rss)
        note = "" if label.startswith("floor") else f"   read by {reader}"
        if exact:
            note += f", {exact:,} rows through Python"
        print(f"  {label:<58} {eps:>10,.0f} events/s   ratio {ratio:4.2f}   "
              f"peak RSS {rss:5.0f} MB{note}")
        figures[label] = {"eps": round(eps), "ratio": round(ratio, 3), "rss_mb": round(rss),
                          "reader": reader}
    ratio, rss = ratios[f"load_duckdb, C decoder, memory_limit {LIMIT}"]
    met = ratio >= TARGET and rss < 300
    print(f"  target (load_duckdb with the C decoder): ratio {ratio:.2f} (>= {TARGET:.2f}), peak "
          f"RSS {rss:.0f} MB (< 300 MB): {'met' if met else 'NOT met'}")
    library, library_rss = ratios[
        f"load_duckdb, DuckDB's JSON reader, memory_limit {LIBRARY_LIMIT}"]
    print(f"  rule (issue 15 §3): the C decoder is {ratio / library:.2f}x the library path "
          f"({rss:.0f} vs {library_rss:.0f} MB peak RSS); it stays while that is over {RULE}")
    c_alone, _ = ratios["Arrow reader alone, C decoder"]
    duck_alone, _ = ratios["Arrow reader alone, DuckDB's JSON reader"]
    print(f"  the Arrow reader alone: C {c_alone / duck_alone:.2f}x DuckDB's JSON reader")
    print(json.dumps(figures))
    if not args.keep:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
