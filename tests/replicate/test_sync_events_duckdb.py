"""The events stream into DuckDB against a real server: exact rows, cursor by upload hour,
reruns and overlaps without duplicates, full refresh, empty hours, window splitting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from tests.replicate.conftest import (
    EXPORT_END,
    NOW,
    duckdb_rows,
    duckdb_state,
    expected,
    keyed,
    ok,
    options,
    send,
    source_events,
    sync,
    upload_at,
    upload_each,
)
from tests.stub_http import Reply, scripted, stub

from ampkit.replicate import plan_sync
from ampkit.replicate.readers.prefetch import GROW_AFTER
from ampkit.server import RunningServer


def test_incremental_lands_every_source_row_once(seeded: RunningServer, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    result = ok(sync(seeded, str(db), streams=["events"]))
    src = source_events(seeded)
    assert len(src) == 269  # SEED: 30 users over 5 days
    stream = result.streams[0]
    assert (stream.rows, stream.cursor, stream.status) == (len(src), EXPORT_END, "ok")
    assert stream.requests == 10  # 2024-03-01T00..2024-03-10T09 in 24-hour windows
    got = keyed(duckdb_rows(db, "events"), "events")
    assert got == expected(src, "events")
    first = src[0]
    row = got[(first["uuid"],)]  # checked by hand too, not only through the converters
    assert row["event_properties"] == first["event_properties"]
    assert row["insert_id"] == first["$insert_id"]
    assert row["server_upload_time"] == dt.datetime.fromisoformat(
        first["server_upload_time"]).replace(tzinfo=dt.UTC)
    assert duckdb_state(db, "events")["cursor"] == EXPORT_END

    again = ok(sync(seeded, str(db), streams=["events"])).streams[0]
    assert (again.status, again.requests, again.rows) == ("up-to-date", 0, 0)

    back = ok(sync(seeded, str(db), streams=["events"], backfill="2024-03-01,2024-03-09"))
    assert back.streams[0].rows == len(src) and back.streams[0].mode == "incremental (range)"
    assert keyed(duckdb_rows(db, "events"), "events") == expected(src, "events")  # no doubles
    assert duckdb_state(db, "events")["cursor"] == EXPORT_END  # a backfill keeps the cursor


def test_late_events_are_found_by_upload_hour_not_event_time(
    fresh: RunningServer, tmp_path: Path
) -> None:
    db = str(tmp_path / "late.duckdb")
    send(fresh, [{"event_type": "early", "user_id": "user-00001", "insert_id": "a",
                  "time": 1_709_942_400_000}])  # event time 2024-03-09T00
    upload_at(fresh, ["a"], dt.datetime(2024, 3, 9, 1, tzinfo=dt.UTC))
    assert ok(sync(fresh, db, streams=["events"])).streams[0].rows == 1
    # an event that happened on 2024-03-02 but reached Amplitude on 2024-03-10 at 11:20
    send(fresh, [{"event_type": "late", "user_id": "user-00002", "insert_id": "b",
                  "time": 1_709_337_600_000}])
    upload_at(fresh, ["b"], dt.datetime(2024, 3, 10, 11, 20, tzinfo=dt.UTC))
    later = NOW + dt.timedelta(hours=4)  # export now reaches 2024-03-10T13
    plan = plan_sync(options(db, streams=["events"], now=later)).plans[0]
    assert (plan.start, plan.end, plan.requests) == ("2024-03-10T10", "2024-03-10T13", 1)
    second = ok(sync(fresh, db, streams=["events"], now=later)).streams[0]
    assert (second.rows, second.cursor) == (1, "2024-03-10T13")
    rows = {r["event_type"]: r for r in duckdb_rows(Path(db), "events")}
    assert set(rows) == {"early", "late"}
    assert rows["late"]["event_time"] < rows["early"]["event_time"]


def test_empty_hours_move_the_cursor_and_full_refresh_replaces(
    fresh: RunningServer, tmp_path: Path
) -> None:
    db = tmp_path / "empty.duckdb"
    empty = ok(sync(fresh, str(db), streams=["events"], anchor_date=dt.date(2024, 3, 8))).streams[0]
    assert (empty.rows, empty.cursor, empty.requests, empty.windows) == (0, EXPORT_END, 3, 3)
    send(fresh, [{"event_type": "x", "user_id": "user-00003", "insert_id": "c"}])
    upload_at(fresh, ["c"], dt.datetime(2024, 3, 8, 5, tzinfo=dt.UTC))
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO events (uuid, event_type) VALUES ('not-in-the-source', 'stale')")
    con.close()
    full = ok(sync(fresh, str(db), streams=["events"], mode="full-refresh",
                   anchor_date=dt.date(2024, 3, 8))).streams[0]
    assert (full.mode, full.rows, full.cursor) == ("full-refresh", 1, EXPORT_END)
    assert [r["event_type"] for r in duckdb_rows(db, "events")] == ["x"]


def _padded(hour: int, n: int) -> list[dict[str, Any]]:
    return [{"event_type": "big", "user_id": "user-00004", "insert_id": f"h{hour}-{i}",
             "event_properties": {"pad": "x" * 2500}} for i in range(n)]


def test_oversized_window_is_split_and_the_split_remembered(
    fresh: RunningServer, tmp_path: Path
) -> None:
    db = tmp_path / "split.duckdb"
    day = dt.datetime(2024, 3, 9, tzinfo=dt.UTC)
    _one_per_hour(fresh, day, 24, 0, minutes=10)  # one padded event per hour of 2024-03-09
    sizes = [len(orjson.dumps(e)) + 1 for e in source_events(fresh)]
    fresh.store.config.export.max_bytes = sum(sorted(sizes)[-3:]) + 100  # 3 hours fit, 4 not
    now = dt.datetime(2024, 3, 10, 2, 30, tzinfo=dt.UTC)  # export end 2024-03-09T23
    first = ok(sync(fresh, str(db), streams=["events"], now=now,
                    anchor_date=day.date())).streams[0]
    # 24 → 12 → 6 → 3 hours: requests 1 + 2 + 4 + 8
    assert (first.rows, first.window_hours, first.splits, first.requests) == (24, 3, 1, 15)
    assert duckdb_state(db, "events")["window_hours"] == 3
    assert len(duckdb_rows(db, "events")) == 24

    _one_per_hour(fresh, day + dt.timedelta(days=1), 12, 100)
    later = now + dt.timedelta(hours=12)  # export end 2024-03-10T11
    plan = plan_sync(options(str(db), streams=["events"], now=later)).plans[0]
    assert plan.windows[:2] == ["2024-03-10T00..2024-03-10T02", "2024-03-10T03..2024-03-10T05"]
    second = ok(sync(fresh, str(db), streams=["events"], now=later)).streams[0]
    assert (second.rows, second.requests, second.splits) == (12, 4, 0)  # no 400 this time


def _one_per_hour(srv: RunningServer, start: dt.datetime, hours: int, tag: int,
                  minutes: int = 5) -> None:
    """One padded event uploaded in each hour from ``start``: sent in one request and moved in
    one UPDATE (the same rows, in the same order, as a request and an UPDATE per hour)."""
    send(srv, [e for hour in range(hours) for e in _padded(tag + hour, 1)])
    upload_each(srv, {f"h{tag + hour}-0": start + dt.timedelta(hours=hour, minutes=minutes)
                      for hour in range(hours)})


def _split_to_three_hours(srv: RunningServer, db: Path) -> dt.datetime:
    """A first run over 2024-03-09 whose 24 h window is split down to 3 h (as above)."""
    day = dt.datetime(2024, 3, 9, tzinfo=dt.UTC)
    _one_per_hour(srv, day, 24, 0)
    sizes = [len(orjson.dumps(e)) + 1 for e in source_events(srv)]
    srv.store.config.export.max_bytes = sum(sorted(sizes)[-3:]) + 100  # 3 hours fit, 4 not
    first = ok(sync(srv, str(db), streams=["events"], anchor_date=day.date(),
                    now=dt.datetime(2024, 3, 10, 2, 30, tzinfo=dt.UTC))).streams[0]
    assert (first.window_hours, first.splits) == (3, 1)
    return day + dt.timedelta(days=1)


def test_split_windows_grow_back_once_the_volume_is_down(
    fresh: RunningServer, tmp_path: Path
) -> None:
    db = tmp_path / "grow.duckdb"
    nxt = _split_to_three_hours(fresh, db)
    _one_per_hour(fresh, nxt, 48, 100)
    fresh.store.config.export.max_bytes = 10**12  # the spike is over: anything fits
    later = dt.datetime(2024, 3, 12, 2, 30, tzinfo=dt.UTC)  # export end 2024-03-11T23
    plan = plan_sync(options(str(db), streams=["events"], now=later)).plans[0]
    assert plan.note is not None and f"×2 after {GROW_AFTER} clean ones up to 24 h" in plan.note
    second = ok(sync(fresh, str(db), streams=["events"], now=later)).streams[0]
    # 4 × 3 h, then 4 × 6 h, then the last 12 hours in one 12 h window
    assert GROW_AFTER == 4
    assert (second.rows, second.requests, second.splits, second.window_hours) == (48, 9, 0, 12)
    assert duckdb_state(db, "events")["window_hours"] == 12
    assert len(duckdb_rows(db, "events")) == 24 + 48


def test_growing_into_a_still_high_volume_backs_off(
    fresh: RunningServer, tmp_path: Path
) -> None:
    db = tmp_path / "backoff.duckdb"
    nxt = _split_to_three_hours(fresh, db)
    _one_per_hour(fresh, nxt, 72, 100)  # the volume stays high: still 3 hours at most
    later = dt.datetime(2024, 3, 13, 2, 30, tzinfo=dt.UTC)  # export end 2024-03-12T23
    second = ok(sync(fresh, str(db), streams=["events"], now=later)).streams[0]
    # 4 × 3 h clean → a 6 h try (400, then 2 × 3 h: 3 requests) → now 8 clean ones needed:
    # 8 × 3 h → a 6 h try (3 requests) → 16 needed: the last 24 hours as 8 × 3 h.
    # Without the back-off it would try 6 h every 4 windows: 28 requests and 4 splits.
    assert (second.rows, second.requests, second.splits, second.window_hours) == (72, 26, 2, 3)
    assert duckdb_state(db, "events")["window_hours"] == 3
    assert len(duckdb_rows(db, "events")) == 24 + 72


def test_one_hour_too_large_names_the_hour_and_keeps_what_was_committed(
    fresh: RunningServer, tmp_path: Path
) -> None:
    db = tmp_path / "hour.duckdb"
    day = dt.datetime(2024, 3, 9, tzinfo=dt.UTC)
    send(fresh, _padded(1, 1) + _padded(7, 6))
    upload_at(fresh, ["h1-0"], day + dt.timedelta(hours=1))
    upload_at(fresh, [f"h7-{i}" for i in range(6)], day + dt.timedelta(hours=7))
    size = max(len(orjson.dumps(e)) + 1 for e in source_events(fresh))
    fresh.store.config.export.max_bytes = 2 * size
    result = sync(fresh, str(db), streams=["events"], anchor_date=day.date())
    stream = result.streams[0]
    assert stream.status == "failed" and not result.ok
    assert "hour 20240309T07" in (stream.error or "")
    assert f"more than {2 * size} bytes" in (stream.error or "")  # Amplitude's own words
    assert stream.cursor == "2024-03-09T06"  # hours before the refused one are committed
    assert [r["insert_id"] for r in duckdb_rows(db, "events")] == ["h1-0"]


@pytest.mark.parametrize("rates", [{"429": 0.05, "500": 0.05, "503": 0.04, "504": 0.03,
                                    "reset": 0.03}])
def test_twenty_percent_faults_change_nothing(
    seeded: RunningServer, tmp_path: Path, rates: dict[str, float]
) -> None:
    db = tmp_path / "faults.duckdb"
    seeded.app.faults.update(type(seeded.app.faults.config)(rates=rates, seed=3,
                                                             paths=["/api/2/export"]))
    before = seeded.store.counters["faults_injected"]
    try:
        result = ok(sync(seeded, str(db), streams=["events"]))
    finally:
        seeded.app.faults.update(type(seeded.app.faults.config)())
    assert seeded.store.counters["faults_injected"] - before >= 2
    src = source_events(seeded)
    assert result.streams[0].rows == len(src)
    assert keyed(duckdb_rows(db, "events"), "events") == expected(src, "events")


def test_new_columns_are_added_and_none_dropped(seeded: RunningServer, tmp_path: Path) -> None:
    db = tmp_path / "older.duckdb"
    con = duckdb.connect(str(db))  # a table from an older schema, with a column of the user's
    con.execute("CREATE TABLE events (uuid VARCHAR, event_type VARCHAR, my_note VARCHAR)")
    con.execute("INSERT INTO events VALUES ('kept-1', 'Old', 'hello')")
    con.close()
    ok(sync(seeded, str(db), streams=["events"]))
    rows = duckdb_rows(db, "events")
    assert len(rows) == len(source_events(seeded)) + 1
    kept = next(r for r in rows if r["uuid"] == "kept-1")
    assert kept["my_note"] == "hello" and kept["event_properties"] is None
    con = duckdb.connect(str(db), read_only=True)
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'events'").fetchall())
    con.close()
    assert types["my_note"] == "VARCHAR" and types["event_properties"] == "JSON"
    assert types["server_upload_time"] == "TIMESTAMP WITH TIME ZONE" and len(types) == 58


def test_export_lines_without_a_uuid_fail_the_window_and_keep_nothing(tmp_path: Path) -> None:
    """The events table's key is uuid: a line without one was stored with a NULL key (and a
    second such line in the window vanished). The window now fails naming it; nothing of it
    is kept and the cursor stays, so the rerun reads it again."""
    import gzip
    import io
    import zipfile

    lines = [orjson.dumps({"uuid": f"00000000-0000-0000-0000-00000000000{i}",
                           "event_type": "e", "$insert_id": f"k{i}",
                           "server_upload_time": "2024-03-09 01:00:00.000000"})
             for i in range(3)]
    lines[1] = orjson.dumps({"event_type": "e", "$insert_id": "no-uuid", "uuid": None})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("1/1_2024-03-09_1#0.json.gz", gzip.compress(b"\n".join(lines)))
    zipped = Reply(200, archive.getvalue(), {"Content-Type": "application/zip"})
    db = tmp_path / "nouuid.duckdb"
    with stub(scripted(then=zipped)) as server:
        result = sync(server, str(db), streams=["events"],  # type: ignore[arg-type]
                      anchor_date=dt.date(2024, 3, 9))
    (stream,) = result.streams
    assert stream.status == "failed" and "without a uuid" in (stream.error or "")
    assert stream.cursor is None
    con = duckdb.connect(str(db))
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_name = 'events'").fetchall()}
        kept = con.execute("SELECT count(*) FROM events").fetchone() if tables else (0,)
    finally:
        con.close()
    assert kept == (0,)
