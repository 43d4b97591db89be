"""Export archive decoding: real fixture lines, hand-built archives, Arrow batches, memory."""

from __future__ import annotations

import gzip
import io
import itertools
import sys
import tracemalloc
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from ampkit.errors import ConfigError, ExportDecodeError
from ampkit.export import (
    EXPORT_COLUMNS,
    EXTRA_COLUMN,
    export_arrow_schema,
    iter_arrow_batches,
    iter_entry_lines,
    iter_events,
    iter_lines,
    iter_records,
    parse_timestamp,
)
from ampkit.export.decode import DRIFT_KEY, parse_line, to_event
from ampkit.models import ExportEvent

pa = pytest.importorskip("pyarrow")

LINES_FILE = "export_lines__project636686__2025-07-01.jsonl"
SEGMENT_FILE = "export_line__project409857__2023-01-01__segment.jsonl"
ARCHIVE_FILE = "synthesized_export_archive__project636686__20250701T17.zip"


@pytest.fixture(scope="module")
def export_dir(shared_dir: str) -> Path:
    return Path(shared_dir) / "fixtures" / "export"


def fixture_lines(export_dir: Path, name: str) -> list[bytes]:
    return [line for line in (export_dir / name).read_bytes().splitlines() if line.strip()]


def build_archive(
    entries: list[tuple[str, bytes]], *, gz: bool = True, method: int = zipfile.ZIP_DEFLATED
) -> bytes:
    """A zip in memory: each (name, payload) gzip-compressed unless ``gz`` is false."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, payload in entries:
            zf.writestr(name, gzip.compress(payload, mtime=0) if gz else payload)
    return buf.getvalue()


def event_line(insert_id: str, **extra: object) -> bytes:
    return orjson.dumps({"$insert_id": insert_id, "event_type": "e", **extra})


# --- real shapes -------------------------------------------------------------------------


@pytest.mark.parametrize("name", [LINES_FILE, SEGMENT_FILE])
def test_every_fixture_line_parses_strictly(export_dir: Path, name: str) -> None:
    lines = fixture_lines(export_dir, name)
    assert lines
    for number, line in enumerate(lines, 1):
        record = parse_line(line, number=number)
        event = to_event(record)
        assert event.model_extra == {}, f"line {number}: unknown or drifted keys"
        strict = ExportEvent.model_validate(record, strict=True)
        assert strict.insert_id == record["$insert_id"]
        assert strict.uuid == record["uuid"]


def test_fixture_shapes_are_kept(export_dir: Path) -> None:
    events = [to_event(parse_line(line)) for line in fixture_lines(export_dir, LINES_FILE)]
    ids = [e.amplitude_attribution_ids for e in events]
    assert sum(isinstance(v, list) for v in ids) == 7
    assert sum(v is None for v in ids) == 6
    assert any(e.session_id == -1 for e in events)
    (segment,) = [to_event(parse_line(line)) for line in fixture_lines(export_dir, SEGMENT_FILE)]
    assert segment.schema_version == 13
    assert segment.insert_key is not None
    assert segment.insert_key.endswith("#232")
    assert segment.global_user_properties == {}
    assert segment.is_attribution_event is False


def test_synthesized_archive_yields_the_13_events_in_entry_order(export_dir: Path) -> None:
    expected = [orjson.loads(line)["$insert_id"] for line in fixture_lines(export_dir, LINES_FILE)]
    events = list(iter_events(export_dir / ARCHIVE_FILE))
    assert len(events) == 13
    assert [e.insert_id for e in events] == expected
    assert all(e.server_upload_time and e.server_upload_time.startswith("2025-07-01 17:")
               for e in events)
    assert all(e.model_extra == {} for e in events)
    entries = [entry for entry, _, _ in iter_entry_lines(export_dir / ARCHIVE_FILE)]
    assert entries.count("636686/636686_2025-07-01_17#0.json.gz") == 7
    assert entries.count("636686/636686_2025-07-01_17#1.json.gz") == 6


def test_archive_can_be_a_seekable_file_object(export_dir: Path) -> None:
    data = (export_dir / ARCHIVE_FILE).read_bytes()
    assert len(list(iter_records(io.BytesIO(data)))) == 13
    with (export_dir / ARCHIVE_FILE).open("rb") as fh:
        assert len(list(iter_lines(fh))) == 13


# --- hand-built archives ------------------------------------------------------------------


def test_missing_trailing_newline_blank_lines_and_crlf() -> None:
    payload = b"\n" + event_line("a") + b"\r\n\n   \n" + event_line("b") + b"\n\n" + event_line("c")
    data = build_archive([("1/1_2025-07-01_0#0.json.gz", payload)])
    got = list(iter_entry_lines(io.BytesIO(data)))
    assert [orjson.loads(line)["$insert_id"] for _, _, line in got] == ["a", "b", "c"]
    assert [number for _, number, _ in got] == [2, 5, 7]  # physical line numbers
    assert all(not line.endswith((b"\n", b"\r")) for _, _, line in got)


def test_only_json_gz_entries_are_read_in_sorted_order() -> None:
    data = build_archive(
        [
            ("1/1_2025-07-01_9#1.json.gz", gzip.compress(event_line("d"))),
            ("1/1_2025-07-01_9#0.json.gz", gzip.compress(event_line("c"))),
            ("1/1_2025-07-01_10#0.json.gz", gzip.compress(event_line("a"))),
            ("1/complete", b"done"),
            ("1/README.txt", b"not an export"),
            ("1/1_2025-07-01_11#0.json", event_line("plain")),
            ("1/sub/", b""),
        ],
        gz=False,
    )
    ids = [r["$insert_id"] for r in iter_records(io.BytesIO(data))]
    assert ids == ["c", "d", "a"]  # hour 9 (partitions 0, 1) before hour 10


def test_entry_with_several_gzip_members() -> None:
    payload = gzip.compress(event_line("a") + b"\n", mtime=0) + gzip.compress(
        event_line("b"), mtime=0
    )
    data = build_archive([("1/1_2025-07-01_0#0.json.gz", payload)], gz=False,
                         method=zipfile.ZIP_STORED)
    assert [e.insert_id for e in iter_events(io.BytesIO(data))] == ["a", "b"]


def test_empty_archive_and_zero_byte_body_yield_nothing(tmp_path: Path) -> None:
    assert list(iter_records(io.BytesIO(build_archive([])))) == []
    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    assert list(iter_records(empty)) == []
    assert list(iter_records(io.BytesIO(b""))) == []


def test_corrupt_gzip_names_the_entry() -> None:
    name = "1/1_2025-07-01_3#0.json.gz"
    data = build_archive([(name, b"this is not gzip at all")], gz=False)
    with pytest.raises(ExportDecodeError) as info:
        list(iter_records(io.BytesIO(data)))
    assert info.value.entry == name
    assert name in str(info.value)
    assert "corrupt" in str(info.value)


def test_truncated_gzip_names_the_entry() -> None:
    name = "1/1_2025-07-01_3#0.json.gz"
    whole = gzip.compress(b"\n".join(event_line(str(i)) for i in range(200)))
    data = build_archive([(name, whole[: len(whole) // 2])], gz=False)
    with pytest.raises(ExportDecodeError) as info:
        list(iter_records(io.BytesIO(data)))
    assert info.value.entry == name


def test_bad_zip_crc_names_the_entry() -> None:
    name = "1/1_2025-07-01_3#0.json.gz"
    data = bytearray(build_archive([(name, event_line("a"))], method=zipfile.ZIP_STORED))
    offset = data.index(b"\x1f\x8b")  # the stored gzip member: flip a byte inside it
    data[offset + 12] ^= 0xFF
    with pytest.raises(ExportDecodeError) as info:
        list(iter_records(io.BytesIO(bytes(data))))
    assert info.value.entry == name


def test_not_a_zip_is_a_typed_error() -> None:
    with pytest.raises(ExportDecodeError, match="not a readable ZIP"):
        list(iter_records(io.BytesIO(b"<html>maintenance</html>")))


def test_unseekable_file_object_is_refused() -> None:
    class Pipe(io.RawIOBase):
        def seekable(self) -> bool:
            return False

    with pytest.raises(ExportDecodeError, match="seekable"):
        list(iter_records(Pipe()))  # type: ignore[arg-type]


def test_oversized_line_names_entry_and_line() -> None:
    name = "1/1_2025-07-01_4#0.json.gz"
    small = event_line("a")
    big = event_line("b", pad="x" * 500)
    data = build_archive([(name, small + b"\n" + big + b"\n" + small)])
    with pytest.raises(ExportDecodeError) as info:
        list(iter_records(io.BytesIO(data), max_line_bytes=200))
    assert (info.value.entry, info.value.line) == (name, 2)
    assert "max_line_bytes=200" in str(info.value)
    # exactly at the cap is fine, with or without the trailing newline
    exact = build_archive([(name, small + b"\n" + small)])
    assert len(list(iter_records(io.BytesIO(exact), max_line_bytes=len(small)))) == 2


def test_archive_byte_cap() -> None:
    data = build_archive([("1/a#0.json.gz", b"\n".join(event_line(str(i)) for i in range(50)))])
    assert len(list(iter_records(io.BytesIO(data), max_archive_bytes=10_000))) == 50
    with pytest.raises(ExportDecodeError, match="max_archive_bytes") as info:
        list(iter_records(io.BytesIO(data), max_archive_bytes=500))
    assert info.value.entry == "1/a#0.json.gz"


def test_bad_json_and_non_object_lines_are_typed_errors() -> None:
    name = "1/a#0.json.gz"
    data = build_archive([(name, event_line("a") + b"\n{broken\n")])
    with pytest.raises(ExportDecodeError, match="not valid JSON") as info:
        list(iter_records(io.BytesIO(data)))
    assert (info.value.entry, info.value.line) == (name, 2)
    data = build_archive([(name, b"[1, 2]\n")])
    with pytest.raises(ExportDecodeError, match="expected a JSON object"):
        list(iter_events(io.BytesIO(data)))


def test_event_drift_never_fails() -> None:
    line = event_line(
        "a",
        data="not an object",
        amplitude_attribution_ids="abc",
        event_id=1.5,
        session_id="17",
        global_user_properties=None,
        plan={},
        brand_new_key=[1],
    )
    data = build_archive([("1/a#0.json.gz", line)])
    (event,) = iter_events(io.BytesIO(data))
    assert event.data is None
    assert event.event_id is None
    assert event.session_id == 17  # lax: a numeric string is still an int
    assert event.amplitude_attribution_ids == "abc"
    assert event.global_user_properties is None
    assert event.plan == {}
    assert event.model_extra == {
        "brand_new_key": [1],
        DRIFT_KEY: {"data": "not an object", "event_id": 1.5},
    }


# --- Arrow ---------------------------------------------------------------------------------


def test_arrow_schema_is_declared() -> None:
    schema = export_arrow_schema()
    assert schema.names == [c for c, _, _ in EXPORT_COLUMNS] + [EXTRA_COLUMN]
    assert len(EXPORT_COLUMNS) == 56  # 55 keys in the real samples + followed_an_identify
    assert schema.field("server_upload_time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("amplitude_id").type == pa.int64()
    assert schema.field("location_lat").type == pa.float64()
    assert schema.field("paying").type == pa.bool_()
    assert schema.field("event_properties").type == pa.large_string()
    assert schema.field(EXTRA_COLUMN).type == pa.large_string()


def test_arrow_batches_from_the_synthesized_archive(export_dir: Path) -> None:
    batches = list(iter_arrow_batches(export_dir / ARCHIVE_FILE, batch_size=5))
    assert [b.num_rows for b in batches] == [5, 5, 3]
    assert all(b.schema.equals(export_arrow_schema()) for b in batches)
    table = pa.Table.from_batches(batches)
    records = [orjson.loads(line) for line in fixture_lines(export_dir, LINES_FILE)]
    assert table.column("insert_id").to_pylist() == [r["$insert_id"] for r in records]
    assert table.column("uuid").to_pylist() == [r["uuid"] for r in records]
    assert table.column("amplitude_id").to_pylist() == [r["amplitude_id"] for r in records]
    assert table.column(EXTRA_COLUMN).null_count == 13
    ids = table.column("amplitude_attribution_ids").to_pylist()
    assert [orjson.loads(v) if v else None for v in ids] == [
        r["amplitude_attribution_ids"] for r in records
    ]
    uploads = table.column("server_upload_time").to_pylist()
    assert all(t.tzinfo is not None for t in uploads)
    assert uploads[0] == datetime(2025, 7, 1, 17, 18, 45, 118000, tzinfo=UTC)
    assert [orjson.loads(v) if v else None for v in table.column("data").to_pylist()] == [
        r["data"] for r in records
    ]


def test_arrow_drift_lands_in_raw_extra() -> None:
    lines = [
        event_line(
            "a",
            server_upload_time="2025-07-01T17:00:00Z",
            event_time="2025-07-01T19:00:00.5+02:00",
            client_event_time="2025-07-01 17:18:45.118000",
            amplitude_attribution_ids="abc",
            amplitude_id="42",
            session_id=1.5,
            location_lat="1.25",
            paying="true",
            is_attribution_event=1,
            user_properties=None,
            plan={},
            event_properties='{"k": 1}',
            city=7,
            country={"nested": True},
            mystery="?",
        ),
        event_line(
            "b",
            server_upload_time="yesterday",
            amplitude_attribution_ids='["x","y"]',
            amplitude_id=2**64 - 1,
            user_properties={"a": [1]},
            plan=None,
        ),
        event_line("c", amplitude_attribution_ids=["z"]),
    ]
    data = build_archive([("1/a#0.json.gz", b"\n".join(lines))])
    (batch,) = iter_arrow_batches(io.BytesIO(data))
    rows = batch.to_pylist()
    a, b, c = rows
    assert a["server_upload_time"] == datetime(2025, 7, 1, 17, tzinfo=UTC)
    assert a["event_time"] == datetime(2025, 7, 1, 17, 0, 0, 500000, tzinfo=UTC)
    assert a["client_event_time"] == datetime(2025, 7, 1, 17, 18, 45, 118000, tzinfo=UTC)
    assert a["amplitude_attribution_ids"] == '["abc"]'
    assert b["amplitude_attribution_ids"] == '["x","y"]'
    assert c["amplitude_attribution_ids"] == '["z"]'
    assert a["amplitude_id"] == 42
    assert a["session_id"] is None
    assert a["location_lat"] == 1.25
    assert a["paying"] is True
    assert a["is_attribution_event"] is True
    assert a["user_properties"] is None
    assert a["plan"] == "{}"
    assert b["plan"] is None
    assert orjson.loads(a["event_properties"]) == {"k": 1}
    assert orjson.loads(b["user_properties"]) == {"a": [1]}
    assert a["city"] == "7"
    assert a["country"] is None
    assert orjson.loads(a[EXTRA_COLUMN]) == {
        "mystery": "?",
        "session_id": 1.5,
        "country": {"nested": True},
    }
    assert b["server_upload_time"] is None
    assert b["amplitude_id"] is None
    assert orjson.loads(b[EXTRA_COLUMN]) == {
        "server_upload_time": "yesterday",
        "amplitude_id": 2**64 - 1,
    }
    assert c[EXTRA_COLUMN] is None
    assert c["followed_an_identify"] is None


def test_parse_timestamp_is_lenient() -> None:
    want = datetime(2025, 7, 1, 17, 18, 45, 118000, tzinfo=UTC)
    for text in (
        "2025-07-01 17:18:45.118000",
        "2025-07-01T17:18:45.118",
        "2025-07-01T17:18:45.118Z",
        "2025-07-01 19:18:45.118+02:00",
    ):
        assert parse_timestamp(text) == want, text
    assert parse_timestamp("not a time") is None


def test_missing_pyarrow_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ConfigError, match=r"pip install 'ampkit\[arrow\]'"):
        export_arrow_schema()


# --- memory ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A 200,000-line archive (over 50 MB of JSON once uncompressed), built as a stream."""
    path = tmp_path_factory.mktemp("export") / "big.zip"
    template = {
        "event_type": "page_view",
        "user_id": "user-0001",
        "event_properties": {"path": "/pricing", "referrer": "https://example.com/"},
        "server_upload_time": "2025-07-01 17:18:45.118000",
        "session_id": 1751254640623,
        "amplitude_id": 1238554004088,
    }
    count = 200_000
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf,
        zf.open("1/1_2025-07-01_17#0.json.gz", "w") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz,
    ):
        for i in range(count):
            gz.write(orjson.dumps({"$insert_id": f"id-{i}", **template}) + b"\n")
    uncompressed = count * (len(orjson.dumps({"$insert_id": "id-000000", **template})) + 1)
    assert uncompressed > 50_000_000
    return path, count


def test_decoding_a_large_archive_keeps_memory_flat(big_archive: tuple[Path, int]) -> None:
    path, count = big_archive
    tracemalloc.start()
    try:
        seen = 0
        last = None
        for record in iter_records(path):
            seen += 1
            last = record
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    assert last is not None
    assert last["$insert_id"] == f"id-{count - 1}"
    assert peak < 30_000_000, f"peak {peak / 1e6:.1f} MB"


def test_arrow_batches_keep_memory_bounded_by_batch_size(big_archive: tuple[Path, int]) -> None:
    path, _ = big_archive
    tracemalloc.start()
    try:
        batches = iter_arrow_batches(path, batch_size=2_000)
        rows = sum(b.num_rows for b in itertools.islice(batches, 25))
        _, peak = tracemalloc.get_traced_memory()
        batches.close()
    finally:
        tracemalloc.stop()
    assert rows == 50_000
    assert peak < 30_000_000, f"peak {peak / 1e6:.1f} MB"


def test_entries_are_read_in_hour_order_not_name_order(tmp_path: Path) -> None:
    import gzip
    import zipfile

    from ampkit.export.decode import iter_lines

    path = tmp_path / "hours.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for hour, part in ((10, 0), (9, 1), (9, 0), (2, 0)):
            name = f"1/1_2024-01-01_{hour}#{part}.json.gz"
            zf.writestr(name, gzip.compress(f'{{"h": {hour}, "p": {part}}}\n'.encode()))
    assert list(iter_lines(path)) == [b'{"h": 2, "p": 0}', b'{"h": 9, "p": 0}',
                                      b'{"h": 9, "p": 1}', b'{"h": 10, "p": 0}']
