"""Issue 14 §7: what a user just sent to ``ampkit serve`` can be synced — ``export_delay_hours:
0`` reads up to now, the open hour included; the cursor never passes an hour that is not closed,
so the next run reads that hour again and upserts by ``uuid``; a range cut by the delay says so."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.replicate.conftest import (
    NOW,
    duckdb_rows,
    duckdb_state,
    ok,
    options,
    send,
    sync,
    upload_at,
)

from ampkit.replicate import plan_sync
from ampkit.server import RunningServer

OPEN = dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC)  # the hour NOW (12:30) falls in


def test_delay_zero_reads_the_open_hour_and_rereads_it_next_time(
    fresh: RunningServer, tmp_path: Path
) -> None:
    db = tmp_path / "now.duckdb"
    send(fresh, [{"event_type": "now", "user_id": "user-00001", "insert_id": "n-1"}])
    upload_at(fresh, ["n-1"], OPEN + dt.timedelta(minutes=10))
    first = ok(sync(fresh, str(db), streams=["events"], export_delay_hours=0)).streams[0]
    assert first.rows == 1
    assert first.cursor == "2024-03-10T11"  # the open hour 12 is not settled
    # more arrives later in that same hour; the next run reads the hour again
    send(fresh, [{"event_type": "now", "user_id": "user-00002", "insert_id": "n-2"}])
    upload_at(fresh, ["n-2"], OPEN + dt.timedelta(minutes=25))
    later = NOW + dt.timedelta(hours=1)  # 13:30: hour 12 has closed
    second = ok(sync(fresh, str(db), streams=["events"], export_delay_hours=0,
                     now=later)).streams[0]
    assert second.cursor == "2024-03-10T12"
    rows = duckdb_rows(db, "events")
    assert sorted(r["insert_id"] for r in rows) == ["n-1", "n-2"]  # n-1 read twice, kept once
    assert len({r["uuid"] for r in rows}) == len(rows) == 2
    assert duckdb_state(db, "events")["cursor"] == "2024-03-10T12"


def test_the_default_delay_leaves_the_open_hour_and_a_cut_range_says_so(
    fresh: RunningServer, tmp_path: Path
) -> None:
    db = tmp_path / "cut.duckdb"
    send(fresh, [{"event_type": "now", "user_id": "user-00001", "insert_id": "c-1"}])
    upload_at(fresh, ["c-1"], OPEN + dt.timedelta(minutes=5))
    window = "2024-03-10T04,2024-03-10T12"
    planned = plan_sync(options(str(db), streams=["events"], backfill=window)).plans[0]
    assert planned.end == "2024-03-10T09"
    assert planned.note is not None
    assert "2024-03-10T10..2024-03-10T12" in planned.note
    assert "export_delay_hours is 2" in planned.note and "export_delay_hours: 0" in planned.note
    result = ok(sync(fresh, str(db), streams=["events"], backfill=window)).streams[0]
    assert result.rows == 0 and result.note is not None and result.note in planned.note
    whole = ok(sync(fresh, str(db), streams=["events"], backfill=window,
                    export_delay_hours=0)).streams[0]
    assert whole.rows == 1 and whole.note is None
