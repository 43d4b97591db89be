"""The export archive as DuckDB writes it (``services/export.py``): every line against its
definition (``schema.export_dict`` through orjson, what the server wrote row by row before),
the real Amplitude lines' format, and the cutting of the lines into hour files."""

from __future__ import annotations

import datetime as dt
import gzip
import math
import zipfile
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from ampkit.server import ExportConfig
from ampkit.server.schema import DDL, EVENT_COLUMN_NAMES, EXPORT_SELECT, export_dict
from ampkit.server.services import export
from ampkit.server.services.export import ExportTooLarge, ExportWindow, build_archive

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "export"
PROJECT = 7
HOUR = dt.datetime(2024, 3, 1, 10)
WINDOW = ExportWindow(HOUR - dt.timedelta(hours=2), HOUR + dt.timedelta(hours=3))


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()  # how ingestion stores the JSON columns


# (stored row, whether DuckDB spells one value differently from orjson — same value)
EDGE_ROWS: list[tuple[dict[str, Any], bool]] = [
    ({}, False),  # every nullable column NULL
    ({"user_id": "é\u2028\"\\\x01\t\b\f\r/\x7f", "device_id": "😀 device", "event_type": "a'b",
      "insert_id": "ins-1", "amplitude_id": 2**62, "session_id": -1, "event_id": 0,
      "paying": True, "location_lat": 37.774929, "location_lng": -122.419416,
      "event_time": dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
      "event_properties": _json({"n": 1.5, "big": 1e20, "tiny": 1e-7, "s": "x\x01é",
                                 "deep": {"a": [1, None, True]}, "": 0}),
      "user_properties": _json({"plan": "pro"}), "groups": _json({"org": ["a", "b"]}),
      "group_properties": _json({}), "data": _json({"path": "/batch", "group_ids": {}}),
      "plan": _json({"branch": "main"})}, False),
    ({"paying": False, "location_lat": float("nan"), "location_lng": float("inf"),
      "groups": "null", "plan": "null"}, False),  # no JSON number: null; a null object: {}
    ({"location_lat": -0.0, "location_lng": 1e-7}, False),
    ({"location_lat": 1e20}, True),  # 100000000000000000000.0, orjson 1e+20
    # keys sent without a column: among the others, sorted; one of the same name replaces it
    ({"extra": _json({"user_agent": "ua", "uuid": "replaced", "app": 5, "$aaa": None,
                      "zzz": {"k": [1, 2], "s": "q\"é"}, "idfv": "idfv-1", "~": "last"}),
      "user_id": "u-extra"}, False),
    ({"extra": _json({"data_type": "identify"})}, False),
    ({"extra": "{}"}, False),
    ({"extra": ""}, False),
    ({"extra": _json({"ingestion_metadata": {"source_name": "x", "n": 1e300}})}, True),
]


def _insert(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]],
            uploaded: list[dt.datetime]) -> None:
    first = con.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
    assert first is not None
    for i, (row, at) in enumerate(zip(rows, uploaded, strict=True)):
        values = {"seq": first[0] + 1 + i, "project_id": PROJECT, "uuid": f"uuid-{i}",
                  "server_upload_time": at, **row}
        names = [n for n in EVENT_COLUMN_NAMES if n in values]
        con.execute(f"INSERT INTO events ({', '.join(names)}) "
                    f"VALUES ({', '.join('?' for _ in names)})", [values[n] for n in names])


@pytest.fixture
def db(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "events.duckdb"))
    for ddl in DDL:
        con.execute(ddl)
    return con


def _archive(con: duckdb.DuckDBPyConnection, config: ExportConfig | None = None,
             **kw: Any) -> list[tuple[str, list[bytes]]]:
    out = build_archive(con.cursor(), config or ExportConfig(), PROJECT, WINDOW, **kw)
    assert out is not None
    with out, zipfile.ZipFile(out) as zf:
        return [(name, gzip.decompress(zf.read(name)).splitlines(keepends=True))
                for name in zf.namelist()]


def _expected(con: duckdb.DuckDBPyConnection) -> list[bytes]:
    rows = con.execute(f"SELECT {EXPORT_SELECT} FROM events WHERE project_id = ? "
                       "ORDER BY server_upload_time, seq", [PROJECT]).fetchall()
    return [orjson.dumps(export_dict(r)) + b"\n" for r in rows]


def test_every_line_is_the_line_export_dict_defines(db: duckdb.DuckDBPyConnection) -> None:
    at = [HOUR + dt.timedelta(minutes=i, microseconds=i * 1001) for i in range(len(EDGE_ROWS))]
    _insert(db, [row for row, _ in EDGE_ROWS], at)
    [(name, lines)] = _archive(db)
    assert name == f"{PROJECT}/{PROJECT}_2024-03-01_10#0.json.gz"
    expected = _expected(db)
    assert len(lines) == len(expected) == len(EDGE_ROWS)
    for (row, respelled), got, want in zip(EDGE_ROWS, lines, expected, strict=True):
        if respelled:  # the same JSON value, a float written another way
            assert got != want
            assert orjson.loads(got) == orjson.loads(want), row
        else:
            assert got == want, row
    extra = orjson.loads(lines[5])
    assert (extra["uuid"], extra["app"], extra["$aaa"]) == ("replaced", 5, None)
    assert list(extra) == sorted(extra)
    assert next(iter(extra)) == "$aaa"
    assert orjson.loads(lines[2])["location_lat"] is None
    assert orjson.loads(lines[4])["location_lat"] == 1e20
    assert math.isclose(orjson.loads(lines[1])["event_properties"]["big"], 1e20)


def test_lines_have_the_real_amplitude_keys_in_its_order(db: duckdb.DuckDBPyConnection) -> None:
    real = orjson.loads((FIXTURES / "export_lines__project636686__2025-07-01.jsonl")
                        .read_bytes().splitlines()[0])
    _insert(db, [{"user_id": "u1", "event_type": "session_end", "session_id": -1,
                  "client_event_time": HOUR, "processed_time": HOUR}], [HOUR])
    [(_, [line])] = _archive(db)
    ours = orjson.loads(line)
    assert list(ours) == sorted(ours)
    assert sorted(ours) == sorted(real)  # the same 55 keys, sorted, as Amplitude writes them
    for key in ("client_event_time", "server_upload_time", "processed_time"):
        assert len(ours[key]) == len(real[key]) == len("2025-07-01 17:18:45.113000")


def _reference_names(hours: list[dt.datetime], sizes: list[int], per_entry: int,
                     max_bytes: int) -> list[tuple[str, int]]:
    """The cutting rule, line by line (the previous builder's loop): a new file at a new hour,
    after ``per_entry`` lines, or once a file holds ``max_bytes``."""
    names: list[tuple[str, int]] = []
    key: tuple[dt.datetime, int] | None = None
    lines = size = 0
    for hour, n in zip(hours, sizes, strict=True):
        if key is None or hour != key[0] or lines >= per_entry or size >= max_bytes:
            part = key[1] + 1 if key is not None and hour == key[0] else 0
            key, lines, size = (hour, part), 0, 0
            names.append((f"{PROJECT}/{PROJECT}_{hour:%Y-%m-%d}_{hour.hour}#{part}.json.gz", 0))
        lines, size = lines + 1, size + n
        names[-1] = (names[-1][0], names[-1][1] + 1)
    return names


@pytest.mark.parametrize(("batch", "per_entry", "lines_per_entry_bytes"),
                         [(3, 4, 100), (1, 100, 2.5), (7, 2, 1.5), (100, 100, 100)])
def test_hours_split_into_files_across_batches(
    db: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch, batch: int,
    per_entry: int, lines_per_entry_bytes: float,
) -> None:
    # 11 events in hour 9, 1 in hour 10, 6 in hour 12 (upload order != insertion order)
    at = ([HOUR - dt.timedelta(minutes=59 - i) for i in range(11)] + [HOUR]
          + [HOUR + dt.timedelta(hours=2, seconds=s) for s in (5, 4, 3, 2, 1, 0)])
    _insert(db, [{"user_id": f"user-{i:04d}"} for i in range(len(at))], at)
    expected = _expected(db)
    max_bytes = int(len(expected[0]) * lines_per_entry_bytes)
    monkeypatch.setattr(export, "BATCH_EVENTS", batch)
    entries = _archive(db, ExportConfig(partition_events=per_entry), entry_max_bytes=max_bytes)
    assert [line for _, lines in entries for line in lines] == expected  # all, in order
    hours = [dt.datetime.strptime(orjson.loads(x)["server_upload_time"][:13], "%Y-%m-%d %H")
             for x in expected]
    assert [(name, len(lines)) for name, lines in entries] == _reference_names(
        hours, [len(x) for x in expected], per_entry, max_bytes)


def test_size_cap_counts_the_lines_bytes(db: duckdb.DuckDBPyConnection) -> None:
    _insert(db, [{"user_id": f"user-{i}"} for i in range(5)], [HOUR] * 5)
    total = sum(len(x) for x in _expected(db))
    assert len(_archive(db, ExportConfig(max_bytes=total))[0][1]) == 5
    with pytest.raises(ExportTooLarge):
        build_archive(db.cursor(), ExportConfig(max_bytes=total - 1), PROJECT, WINDOW)


def test_other_projects_and_hours_outside_the_window_stay_out(
    db: duckdb.DuckDBPyConnection,
) -> None:
    _insert(db, [{"user_id": "in"}, {"user_id": "before"}, {"user_id": "after"}],
            [HOUR, WINDOW.start - dt.timedelta(microseconds=1), WINDOW.end])
    db.execute("UPDATE events SET project_id = 8 WHERE user_id = 'before'")
    [(_, [line])] = _archive(db)
    assert orjson.loads(line)["user_id"] == "in"
    empty = ExportWindow(HOUR + dt.timedelta(hours=1), HOUR + dt.timedelta(hours=2))
    assert build_archive(db.cursor(), ExportConfig(), PROJECT, empty) is None
