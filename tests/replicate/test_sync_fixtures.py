"""Every real export line in tests/fixtures/export/ loads through the events stream's
archive loader, typed, into each destination kind (no line lost, none doubled)."""

from __future__ import annotations

import datetime as dt
import gzip
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.replicate.conftest import duckdb_rows, expected, keyed, parquet_rows

from ampkit.replicate.config import Limits
from ampkit.replicate.destinations import open_destination
from ampkit.replicate.destinations.base import Destination, TableSpec
from ampkit.replicate.readers.events import load_archive
from ampkit.replicate.state import StreamState
from ampkit.replicate.streams import STREAMS

EVENTS = STREAMS["events"]
SPEC = TableSpec(name="events", columns=EVENTS.columns, primary_key=EVENTS.primary_key,
                 partition_by=EVENTS.partition_by)


def _lines(shared: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((shared / "fixtures/export").glob("*.jsonl")):
        out += [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return out


def _archive(tmp_path: Path, lines: list[dict[str, Any]]) -> Path:
    """The documented layout: {project}/{project}_{yyyy-MM-dd}_{H}#{n}.json.gz, no final \\n."""
    path = tmp_path / "lines.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for n, line in enumerate(lines):
            when = dt.datetime.fromisoformat(line["server_upload_time"])
            body = orjson.dumps(line)
            zf.writestr(f"{line['app']}/{line['app']}_{when:%Y-%m-%d}_{when.hour}#{n}.json.gz",
                        gzip.compress(body, mtime=0))
    return path


def _load(dest: Destination, archives: list[Path]) -> int:
    dest.prepare(SPEC)
    rows = 0
    for archive in archives:
        with dest.transaction(SPEC) as tx:
            rows += load_archive(tx, archive, Limits())
            tx.save_state(StreamState(cursor="2025-07-01T17"))
    return rows


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_every_fixture_line_lands_typed(data_dir: str, tmp_path: Path, kind: str) -> None:
    shared = Path(data_dir)
    lines = _lines(shared)
    assert len(lines) == 14  # 13 + 1 real lines
    zipped = shared / "fixtures/export/synthesized_export_archive__project636686__20250701T17.zip"
    target = str(tmp_path / "out.duckdb") if kind == "duckdb" else f"parquet://{tmp_path}/out"
    with open_destination(target) as dest:
        # the 13 lines twice (loose and in the synthesized archive): upserted, not doubled
        loaded = _load(dest, [_archive(tmp_path, lines), zipped])
    assert loaded == 14 + 13
    rows = (duckdb_rows(Path(target), "events") if kind == "duckdb"
            else parquet_rows(tmp_path / "out", "events"))
    got = keyed(rows, "events")
    want = expected(lines, "events")
    assert got == want
    attributed = [r for r in got.values() if r["amplitude_attribution_ids"]]
    assert len(attributed) == 7 and all(isinstance(r["amplitude_attribution_ids"], list)
                                        for r in attributed)
    segment = next(r for r in got.values() if r["library"] == "segment")
    assert segment["schema_version"] == 13 and segment["insert_key"].endswith("#232")
    assert segment["processed_time"] == dt.datetime(2023, 1, 1, 19, 2, 56, 944373, tzinfo=dt.UTC)
    assert segment["session_id"] == -1 and segment["global_user_properties"] == {}
