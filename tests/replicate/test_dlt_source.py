"""ampkit's streams as a dlt source, against a real ``ampkit serve``: into dlt's DuckDB
destination and its filesystem destination (a local folder of Parquet files); rows equal the
server's, the cursor lives in dlt's state, a second run is incremental and never doubles a row."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.lazy import Lazy, lazy_or_skip

dlt = lazy_or_skip("dlt")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from tests.replicate.conftest import (  # noqa: E402
    ANCHOR,
    EXPORT_END,
    NOW,
    expected,
    keyed,
    send,
    settings,
    source_events,
    upload_at,
)

from ampkit.core.policy import RetryPolicy  # noqa: E402
from ampkit.errors import ConfigError  # noqa: E402
from ampkit.replicate.report import StreamResult  # noqa: E402
from ampkit.server import RunningServer  # noqa: E402

dlt_source = Lazy("ampkit.replicate.dlt_source")


def pipeline(tmp_path: Path, destination: Any, name: str | None = None) -> Any:
    return dlt.pipeline(pipeline_name=name or f"t_{uuid.uuid4().hex[:8]}",
                        destination=destination, dataset_name="amplitude",
                        pipelines_dir=str(tmp_path / "pipelines"))


def source(srv: RunningServer, streams: list[str], **kw: Any) -> Any:
    kw.setdefault("now", NOW)
    kw.setdefault("anchor_date", ANCHOR)
    return dlt_source.amplitude_source(streams, settings=settings(srv),
                                       retry=RetryPolicy.no_wait(), **kw)


def ddb_rows(db: Path, table: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows: list[dict[str, Any]] = con.sql(
            f'SELECT * FROM amplitude."{table}"').to_arrow_table().to_pylist()
        return rows
    finally:
        con.close()


def resource_state(pipe: Any, table: str) -> dict[str, Any]:
    resources = pipe.state["sources"]["ampkit"]["resources"]
    state: dict[str, Any] = resources[table][dlt_source.STATE_KEY]
    return state


def test_into_duckdb_rows_state_and_reruns(seeded: RunningServer, tmp_path: Path) -> None:
    db = tmp_path / "dlt.duckdb"
    pipe = pipeline(tmp_path, dlt.destinations.duckdb(str(db)), "amp_duck")
    results: dict[str, StreamResult] = {}
    pipe.run(source(seeded, ["events", "active_users", "events_list"], results=results))
    src = source_events(seeded)
    rows = ddb_rows(db, "events")
    assert keyed(rows, "events") == expected(src, "events")
    assert {r["event_date"] for r in rows} == {r["event_time"].date() for r in rows}
    assert resource_state(pipe, "events")["cursor"] == EXPORT_END
    assert resource_state(pipe, "active_users")["cursor"] == "2024-03-09"
    assert results["events"].rows == len(src) and results["events"].status == "ok"
    assert results["events"].requests == 10  # 24-hour windows 2024-03-01T00..03-10T09
    assert ddb_rows(db, "active_users") and ddb_rows(db, "events_list")

    # a new pipeline object of the same name: the state comes back, nothing is read again
    again = pipeline(tmp_path, dlt.destinations.duckdb(str(db)), "amp_duck")
    results.clear()
    again.run(source(seeded, ["events"], results=results))
    assert (results["events"].status, results["events"].requests) == ("up-to-date", 0)

    # a backfill re-reads every window: merged on uuid, never doubled; the cursor stays
    results.clear()
    again.run(source(seeded, ["events"], backfill="2024-03-01,2024-03-09", results=results))
    assert results["events"].rows == len(src)
    rows = ddb_rows(db, "events")
    assert len(rows) == len({r["uuid"] for r in rows}) == len(src)
    assert keyed(rows, "events") == expected(src, "events")
    assert resource_state(again, "events")["cursor"] == EXPORT_END


def parquet_rows(root: Path, table: str) -> list[dict[str, Any]]:
    files = sorted((root / "amplitude" / table).rglob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files],
                            promote_options="default").to_pylist() if files else []


def test_into_filesystem_incremental_without_duplicates(
    fresh: RunningServer, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    dest = dlt.destinations.filesystem(bucket_url=lake.as_uri())
    at = 1_709_942_400_000
    first = [{"event_type": "a", "user_id": "user-00001", "insert_id": "i1", "time": at,
              "event_properties": {"n": 1}, "drifted": {"x": 1}},
             {"event_type": "b", "user_id": "user-00002", "insert_id": "i2", "time": at,
              "event_properties": {"n": 2}}]
    send(fresh, first)
    upload_at(fresh, ["i1", "i2"], dt.datetime(2024, 3, 9, 1, tzinfo=dt.UTC))
    pipe = pipeline(tmp_path, dest, "amp_fs")
    pipe.run(source(fresh, ["events"]), loader_file_format="parquet")
    rows = parquet_rows(lake, "events")
    assert keyed(rows, "events") == expected(source_events(fresh), "events")
    drifted = next(r for r in rows if r["insert_id"] == "i1")
    assert drifted["_raw_extra"] is not None and json.loads(drifted["_raw_extra"]) == {
        "drifted": {"x": 1}}  # a key the schema does not know is kept, as JSON

    send(fresh, [{"event_type": "c", "user_id": "user-00003", "insert_id": "i3",
                  "time": 1_709_942_400_000}])
    upload_at(fresh, ["i3"], dt.datetime(2024, 3, 10, 11, 20, tzinfo=dt.UTC))
    results: dict[str, StreamResult] = {}
    later = NOW + dt.timedelta(hours=4)
    pipeline(tmp_path, dest, "amp_fs").run(source(fresh, ["events"], now=later,
                                                  results=results),
                                           loader_file_format="parquet")
    assert (results["events"].rows, results["events"].cursor) == (1, "2024-03-10T13")
    rows = parquet_rows(lake, "events")
    assert sorted(r["insert_id"] for r in rows) == ["i1", "i2", "i3"]
    assert keyed(rows, "events") == expected(source_events(fresh), "events")


def test_export_delay_and_window_splits_come_from_ampkit(
    fresh: RunningServer, tmp_path: Path
) -> None:
    send(fresh, [{"event_type": "x", "user_id": f"user-0000{i}", "insert_id": f"k{i}",
                  "time": 1_709_942_400_000} for i in range(3)])
    upload_at(fresh, ["k0", "k1", "k2"], dt.datetime(2024, 3, 10, 11, 5, tzinfo=dt.UTC))
    db = tmp_path / "delay.duckdb"
    results: dict[str, StreamResult] = {}
    pipe = pipeline(tmp_path, dlt.destinations.duckdb(str(db)))
    pipe.run(source(fresh, ["events"], results=results))  # 2 h delay: 11h is not exportable
    assert results["events"].cursor == EXPORT_END and results["events"].rows == 0

    results.clear()
    pipe.run(source(fresh, ["events"], export_delay_hours=0, results=results))
    assert results["events"].rows == 3
    # the hour now open (12h) was read but the cursor stays before it: the next run re-reads
    assert resource_state(pipe, "events")["cursor"] == "2024-03-10T11"
    results.clear()
    pipe.run(source(fresh, ["events"], export_delay_hours=0, results=results))
    assert len(ddb_rows(db, "events")) == 3


def test_a_failing_stream_fails_the_load_and_keeps_the_state(
    fresh: RunningServer, tmp_path: Path
) -> None:
    db = tmp_path / "fail.duckdb"
    pipe = pipeline(tmp_path, dlt.destinations.duckdb(str(db)))
    wrong = dlt_source.amplitude_source(["events"], anchor_date=ANCHOR, now=NOW,
                             api_key="wrong-key-0001", secret_key="wrong-secret-0001",
                             base_url=fresh.url, retry=RetryPolicy.no_wait())
    with pytest.raises(Exception, match="Invalid API key") as caught:
        pipe.run(wrong)
    assert "wrong-secret-0001" not in str(caught.value)
    assert "sources" not in pipe.state or "events" not in pipe.state["sources"].get(
        "ampkit", {}).get("resources", {})


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ConfigError, match="table_format"):
        dlt_source.amplitude_source(["events"], table_format="csv", api_key="k", secret_key="s")
    with pytest.raises(ConfigError, match="unknown stream 'nope'"):
        dlt_source.amplitude_source(["nope"], api_key="k", secret_key="s")


def test_one_source_object_runs_again_and_reads_on(fresh: RunningServer, tmp_path: Path) -> None:
    """A scheduler builds the source once and runs it at every tick: each run reads on."""
    first = [{"event_type": "a", "user_id": "user-00001", "insert_id": "r1",
              "time": 1_709_942_400_000}]
    send(fresh, first)
    upload_at(fresh, ["r1"], dt.datetime(2024, 3, 10, 11, 10, tzinfo=dt.UTC))
    db = tmp_path / "reuse.duckdb"
    pipe = pipeline(tmp_path, dlt.destinations.duckdb(str(db)))
    results: dict[str, StreamResult] = {}
    once = source(fresh, ["events"], export_delay_hours=0, results=results)
    pipe.run(once)
    assert results["events"].rows == 1
    send(fresh, [{"event_type": "b", "user_id": "user-00002", "insert_id": "r2",
                  "time": 1_709_942_400_000}])
    upload_at(fresh, ["r2"], dt.datetime(2024, 3, 10, 12, 20, tzinfo=dt.UTC))  # the open hour
    pipe.run(once)  # the same object
    assert results["events"].rows == 1  # the open hour (12h) again: r2 (r1 is before it)
    assert sorted(r["insert_id"] for r in ddb_rows(db, "events")) == ["r1", "r2"]
