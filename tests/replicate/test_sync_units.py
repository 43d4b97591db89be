"""Pure parts of sync: time arithmetic (windows always advance, so a sync terminates), the
request plan and its cost, schema conversion with drift, target URLs, replication files."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ampkit.core.spec import RawResponse
from ampkit.errors import ConfigError
from ampkit.replicate import STREAMS, describe_target, load_config, plan_sync, resolve, target_kind
from ampkit.replicate.config import StreamOptions
from ampkit.replicate.destinations.base import dedupe
from ampkit.replicate.plan import (
    DaySpan,
    HourSpan,
    day_span,
    day_windows,
    export_end,
    hour_span,
    hour_windows,
    parse_range,
    yesterday,
)
from ampkit.replicate.readers.series import ENDPOINTS
from ampkit.replicate.schema import records_to_table

UTC = dt.UTC
H = dt.timedelta(hours=1)
AIRBYTE = "fixtures/airbyte/responses"


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# --- time ----------------------------------------------------------------------------------


def test_availability_lines() -> None:
    assert export_end(at(2024, 3, 10, 12, 59), 2) == at(2024, 3, 10, 9)
    assert export_end(at(2024, 3, 10, 0, 5), 2) == at(2024, 3, 9, 21)
    assert yesterday(at(2024, 3, 10, 0, 30)) == dt.date(2024, 3, 9)
    assert yesterday(at(2024, 3, 10, 23, 30), "Asia/Tokyo") == dt.date(2024, 3, 10)


def test_ranges() -> None:
    r = parse_range("2024-01-01,2024-01-31")
    assert (r.start, r.end) == (at(2024, 1, 1, 0), at(2024, 1, 31, 23))
    r = parse_range("20240101T05, 2024-01-02T07")
    assert (r.start, r.end) == (at(2024, 1, 1, 5), at(2024, 1, 2, 7))
    for bad in ("2024-01-01", "x,y", "2024-02-01,2024-01-01", ","):
        with pytest.raises(ConfigError):
            parse_range(bad)


def test_spans_start_at_anchor_or_after_the_cursor() -> None:
    last = at(2024, 3, 10, 9)
    anchor = dt.date(2024, 3, 1)
    assert hour_span(anchor=anchor, cursor=None, last=last) == HourSpan(
        start=at(2024, 3, 1), end=last)
    assert hour_span(anchor=anchor, cursor=at(2024, 3, 5, 7), last=last).start == at(2024, 3, 5, 8)
    assert hour_span(anchor=anchor, cursor=at(2024, 2, 1), last=last).start == at(2024, 3, 1)
    assert hour_span(anchor=anchor, cursor=last, last=last) is None
    back = parse_range("2024-03-09,2024-03-12")
    assert hour_span(anchor=anchor, cursor=last, last=last, backfill=back) == HourSpan(
        start=at(2024, 3, 9), end=last)  # clamped to the availability line
    assert day_span(anchor=anchor, cursor=dt.date(2024, 3, 4), last=dt.date(2024, 3, 9),
                    lookback_days=2).start == dt.date(2024, 3, 3)


@settings(max_examples=200, deadline=None)
@given(hours=st.integers(1, 2000), sizes=st.lists(st.integers(1, 200), min_size=1))
def test_windows_strictly_advance_and_cover_the_span_exactly(
    hours: int, sizes: list[int]
) -> None:
    span = HourSpan(start=at(2024, 1, 1), end=at(2024, 1, 1) + H * (hours - 1))
    pick = iter(sizes * (hours // len(sizes) + 1))  # the size may change before any window
    windows = list(hour_windows(span, lambda: next(pick)))
    assert len(windows) <= hours  # every window holds ≥ 1 hour: the loop terminates
    assert windows[0].start == span.start and windows[-1].end == span.end
    for before, after in itertools.pairwise(windows):
        assert after.start == before.end + H
    assert sum(w.hours for w in windows) == hours


@given(days=st.integers(1, 1200), size=st.integers(1, 400))
def test_day_chunks_cover_exactly(days: int, size: int) -> None:
    span = DaySpan(start=dt.date(2023, 1, 1), end=dt.date(2023, 1, 1) + dt.timedelta(days - 1))
    chunks = list(day_windows(span, size))
    assert sum(c.days for c in chunks) == days and all(c.days <= size for c in chunks)
    assert len(chunks) == -(-days // size)


# --- the request plan ----------------------------------------------------------------------


def test_a_year_of_active_users_is_one_request_not_365(tmp_path: Path) -> None:
    now = at(2025, 1, 1, 6)
    options = resolve(streams=["active_users", "average_session_length", "new_users",
                               "session_length_distribution"],
                      backfill="2024-01-01,2024-12-30", target=str(tmp_path / "x.duckdb"),
                      now=now)
    plans = {p.stream: p for p in plan_sync(options).plans}
    assert not (tmp_path / "x.duckdb").exists()  # a dry run creates nothing
    users = plans["active_users"]
    assert (users.units, users.requests, users.cost) == (365, 1, 365)
    sessions = plans["average_session_length"]  # cost 4 a day: 250 days per request
    assert (sessions.requests, sessions.cost) == (2, 1460)
    assert sessions.windows == ["2024-01-01..2024-09-06", "2024-09-07..2024-12-30"]
    assert plans["session_length_distribution"].requests == 365


def test_group_by_costs_four_more_conditions(tmp_path: Path) -> None:
    cfg = tmp_path / "r.yaml"
    cfg.write_text("streams:\n  active_users:\n    group_by: country\n")
    options = resolve(load_config(cfg), backfill="2024-01-01,2024-12-30",
                      target=str(tmp_path / "x.duckdb"), now=at(2025, 1, 1))
    (plan,) = plan_sync(options).plans
    assert (plan.requests, plan.windows[0]) == (2, "2024-01-01..2024-07-18")  # 1000 // 5 days


# --- parsing answers (documented and real shapes) ------------------------------------------


def _raw(body: object) -> RawResponse:
    return RawResponse(200, {}, orjson.dumps(body))


def _opts(name: str) -> StreamOptions:
    return StreamOptions(name=name, mode="incremental", primary_key=STREAMS[name].primary_key,
                         anchor_date=dt.date(2024, 1, 1))


def test_real_users_and_session_bodies(data_dir: str) -> None:
    base = Path(data_dir) / AIRBYTE
    body = orjson.loads((base / "users__one_series.json").read_bytes())
    rows = ENDPOINTS["active_users"].rows(_raw(body), _opts("active_users"))
    assert rows == [{"date": "2021-01-01", "segment": "0", "value": 1},
                    {"date": "2021-01-02", "segment": "0", "value": 5}]
    empty = orjson.loads((base / "users__empty_series.json").read_bytes())
    assert ENDPOINTS["active_users"].rows(_raw(empty), _opts("active_users")) == []
    objects = {"data": {"xValues": ["2024-01-01"], "series": [[{"setId": "a", "value": 2.5}]],
                        "seriesMeta": [{"segmentIndex": 0}]}}
    rows = ENDPOINTS["average_session_length"].rows(_raw(objects), _opts("average_session_length"))
    assert rows == [{"date": "2024-01-01", "segment": "0", "value": 2.5}]


def test_revenue_ltv_documented_shape_becomes_tidy_rows() -> None:
    body = {"data": {"seriesLabels": [""], "series": [{
        "dates": ["2021-10-02", "2021-10-01"],
        "values": {"2021-10-01": {"r1d": 9.99, "r2d": 19.98, "r90d": 742.52, "count": 110,
                                  "paid": 37, "total_amount": 781.39}}}]}}
    rows = ENDPOINTS["revenue_ltv"].rows(_raw(body), _opts("revenue_ltv"))
    table = records_to_table(rows, STREAMS["revenue_ltv"].columns).to_pylist()
    got = {r["metric"]: r["value"] for r in table}
    assert got == {"arpu_r1d": 9.99, "arpu_r2d": 19.98, "arpu_r90d": 742.52, "count": 110.0,
                   "paid": 37.0, "total_amount": 781.39}
    assert {(r["date"], r["segment"]) for r in table} == {(dt.date(2021, 10, 1), "")}


# --- schema, drift, keys -------------------------------------------------------------------


def test_drift_lands_in_raw_extra_and_never_fails() -> None:
    columns = STREAMS["cohorts"].columns
    records = [
        {"id": "c1", "size": "12", "archived": "true", "lastMod": 1_679_437_294,
         "createdAt": 1_679_437_288_000, "owners": ["a@x"], "brand_new": {"k": 1}},
        {"id": "c2", "size": "many", "archived": 3, "lastMod": "2024-01-01 05:00:00",
         "definition": "not an object"},
    ]
    rows = records_to_table(records, columns).to_pylist()
    assert rows[0]["size"] == 12 and rows[0]["archived"] is True
    assert rows[0]["last_mod"] == at(2023, 3, 21, 22, 21, 34)
    assert rows[0]["created_at"] == at(2023, 3, 21, 22, 21, 28)  # milliseconds detected
    assert orjson.loads(rows[0]["_raw_extra"]) == {"brand_new": {"k": 1}}
    assert rows[1]["size"] is None and rows[1]["archived"] is None
    assert orjson.loads(rows[1]["_raw_extra"]) == {"size": "many", "archived": 3}
    assert rows[1]["last_mod"] == at(2024, 1, 1, 5)
    assert orjson.loads(rows[1]["definition"]) == "not an object"  # JSON column keeps it


def test_dedupe_keeps_the_last_row_per_key() -> None:
    table = pa.table({"k": ["a", "b", "a", "c", "b"], "v": [1, 2, 3, 4, 5]})
    assert dedupe(table, ["k"]).to_pylist() == [{"k": "a", "v": 3}, {"k": "c", "v": 4},
                                                {"k": "b", "v": 5}]
    two = pa.table({"d": [1, 1, 2], "s": ["x", "x", "x"], "v": [1, 2, 3]})
    assert dedupe(two, ["d", "s"]).column("v").to_pylist() == [2, 3]


# --- targets and replication files ---------------------------------------------------------


def test_targets(tmp_path: Path) -> None:
    assert target_kind(None) == "duckdb"
    assert target_kind("duckdb:///tmp/a.duckdb") == "duckdb"
    assert target_kind("data/amp.duckdb") == "duckdb"
    assert target_kind("postgresql://u:pw@h/db") == "postgres"
    assert target_kind("parquet:///tmp/out") == "parquet"
    assert target_kind(str(tmp_path)) == "parquet"
    assert target_kind("data/amp.db") == target_kind("duckdb://out.csv") == "duckdb"
    existing = tmp_path / "warehouse"
    existing.write_bytes(b"")
    with pytest.raises(ConfigError, match="no DuckDB database"):  # DuckDB cannot open it
        target_kind(str(existing))
    import duckdb

    duckdb.connect(str(tmp_path / "made")).close()
    assert target_kind(str(tmp_path / "made")) == "duckdb"  # a database, whatever its name
    for data in ("events.jsonl", "rows.csv", "t.parquet"):  # DuckDB read these as views:
        (tmp_path / data).write_text('{"a": 1}\n')  # the sync said ok and kept nothing
        with pytest.raises(ConfigError, match="no DuckDB database"):
            target_kind(str(tmp_path / data))
        (tmp_path / data).unlink()
    for wrong in ("out.csv", "data", "events.jsonl", "x.parquet"):
        with pytest.raises(ConfigError, match=r"ends in \.duckdb"):
            target_kind(str(tmp_path / wrong))
    assert target_kind("out/") == "parquet"
    with pytest.raises(ConfigError, match="unsupported target scheme"):
        target_kind("mysql://h/db")
    shown = describe_target("postgresql://me:hunter2secret@db.example:5433/x?schema=a")
    assert "hunter2secret" not in shown and "me:***@db.example:5433" in shown


def test_targets_read_as_a_shell_reads_them(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``~`` is the home folder (a folder named ``~`` was made here); a query on a file target
    is refused (it became part of the file's name); an empty ``?schema=`` is refused (it wrote
    into public)."""
    from ampkit.replicate.destinations import open_destination
    from ampkit.replicate.destinations.postgres import split_schema

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    dest = open_destination("~/amp.duckdb")
    try:
        dest.close()
    finally:
        assert (tmp_path / "amp.duckdb").exists() and not (tmp_path / "~").exists()
    with pytest.raises(ConfigError, match="takes no query"):
        open_destination(f"duckdb://{tmp_path}/a b.duckdb?x=1")
    with pytest.raises(ConfigError, match=r"\?schema= is empty"):
        split_schema("postgresql://me@localhost/db?schema=")
    assert split_schema("postgresql://me@localhost/db?schema=raw&sslmode=disable") == (
        "postgresql://me@localhost/db?sslmode=disable", "raw")


def test_replication_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASS_FOR_TEST", "s3cret")
    cfg = tmp_path / "replication.yaml"
    cfg.write_text(
        "target: postgresql://me:${PGPASS_FOR_TEST}@localhost/db\n"
        "defaults: {mode: full-refresh, anchor_date: 2024-02-01}\n"
        "streams:\n"
        "  events: {mode: incremental, window_hours: 6, range: '2024-02-03,2024-02-04'}\n"
        "  cohorts:\n"
        "  new_users: {primary_key: [date, segment], disabled: true}\n"
    )
    options = resolve(load_config(cfg), now=at(2024, 3, 1))
    assert options.target == "postgresql://me:s3cret@localhost/db"
    by = {s.name: s for s in options.streams}
    assert set(by) == {"events", "cohorts"}  # disabled streams are skipped
    assert (by["events"].mode, by["events"].window_hours) == ("incremental", 6)
    assert by["events"].backfill is not None and by["events"].anchor_date == dt.date(2024, 2, 1)
    assert by["cohorts"].mode == "full-refresh"
    flags = resolve(load_config(cfg), streams=["active_users"], mode="incremental",
                    now=at(2024, 3, 1))
    assert [s.name for s in flags.streams] == ["active_users"]
    assert flags.streams[0].mode == "incremental"
    assert resolve(now=at(2024, 3, 1)).streams[0].anchor_date == dt.date(2024, 1, 31)


@pytest.mark.parametrize(("text", "needle"), [
    ("source: {api_key: abc}\n", "credentials do not belong"),
    ("streams: {nope: {}}\n", "unknown stream 'nope'"),
    ("streams: {cohorts: {mode: incremental}}\n", "supports only full-refresh"),
    ("streams: {events: {primary_key: [id]}}\n", "primary key column 'id'"),
    ("streams: {events: {primary_key: [user_id]}}\n",
     r"must include the stream's own key \['uuid'\] \(without uuid"),
    ("streams: {active_users: {group_by: platform, primary_key: [date]}}\n",
     r"own key \['date', 'segment'\] \(without segment"),
    ("streams: {events: {window_hours: 0}}\n", "window_hours"),
    ("- a\n", "top level must be a mapping"),
    ("source: {timezone: Mars/Olympus}\n", "unknown time zone"),
])
def test_bad_replication_files(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        resolve(load_config(cfg), now=at(2024, 3, 1))


def test_libpq_parameters_keep_their_spaces() -> None:
    """``options=-c%20statement_timeout%3D1`` reached libpq as ``-c+statement_timeout=1``
    (urlencode's ``+`` for a space, which libpq does not read as one)."""
    from ampkit.replicate.destinations.postgres import split_schema

    url, schema = split_schema("postgresql://u@h:5432/test?schema=a&options="
                               "-c%20statement_timeout%3D1&sslmode=disable")
    assert schema == "a"
    assert url == "postgresql://u@h:5432/test?options=-c%20statement_timeout%3D1&sslmode=disable"
