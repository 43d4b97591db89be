"""Export archive decoding: real fixture lines, hand-built archives, Arrow batches, memory."""

from __future__ import annotations

import gc
import gzip
import io
import itertools
import random
import sys
import threading
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
    decode,
    export_arrow_schema,
    iter_arrow_batches,
    iter_entry_lines,
    iter_events,
    iter_lines,
    iter_records,
    parse_timestamp,
)
from ampkit.export import arrow as arrow_mod
from ampkit.export.convert import CONVERTERS, MISSING
from ampkit.export.decode import DRIFT_KEY, parse_line, parse_lines, to_event
from ampkit.models import ExportEvent

pa = pytest.importorskip("pyarrow")

LINES_FILE = "export_lines__project636686__2025-07-01.jsonl"
SEGMENT_FILE = "export_line__project409857__2023-01-01__segment.jsonl"
ARCHIVE_FILE = "synthesized_export_archive__project636686__20250701T17.zip"


@pytest.fixture(scope="module")
def export_dir(data_dir: str) -> Path:
    return Path(data_dir) / "fixtures" / "export"


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


def amplitude_line(insert_id: str, **values: object) -> bytes:
    """A line as Amplitude writes it: every key (followed_an_identify only when given), sorted,
    compact — the lines DuckDB's reader converts in SQL."""
    record: dict[str, object] = {
        key: None for _, key, _ in EXPORT_COLUMNS if key != "followed_an_identify"}
    record.update({"$insert_id": insert_id, "event_type": "e", **values})
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


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
    """The Python converter's memory (tracemalloc sees Python's allocations, not the C
    decoder's buffers, which are handed over with each batch; bench/export.py measures RSS)."""
    path, _ = big_archive
    tracemalloc.start()
    try:
        batches = arrow_mod.read_arrow_batches(path, batch_size=2_000, native=False)
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


# --- block decoding: lines across blocks, limits, blank lines -------------------------------


def reference_lines(payload: bytes) -> list[tuple[int, bytes]]:
    """(number, stripped line) as a plain split gives them: the decoder must agree."""
    return [
        (number, line.strip())
        for number, line in enumerate(payload.split(b"\n"), 1)
        if line.strip()
    ]


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
def test_lines_are_the_same_whatever_the_block_size(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(decode, "BLOCK_BYTES", block)
    payloads = [
        b"\n".join(event_line(str(i), pad="x" * (i * 7 % 50)) for i in range(40)),
        b"\r\n\n" + event_line("a") + b"\r\n \t\n" + event_line("b") + b"\n\n",
        event_line("only, no newline"),
        b"\n\n\n",
        b"",
    ]
    for payload in payloads:
        data = build_archive([("1/1_2025-07-01_0#0.json.gz", payload)])
        got = [(n, line) for _, n, line in iter_entry_lines(io.BytesIO(data))]
        assert got == reference_lines(payload)
        assert list(iter_lines(io.BytesIO(data))) == [line for _, line in got]
        records = list(iter_records(io.BytesIO(data)))
        assert records == [orjson.loads(line) for _, line in got]


@pytest.mark.parametrize("block", [3, 50, 1 << 20])
def test_limits_name_the_same_line_whatever_the_block_size(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(decode, "BLOCK_BYTES", block)
    name = "1/1_2025-07-01_4#0.json.gz"
    lines = [event_line(str(i)) for i in range(6)]
    lines[4] = event_line("long", pad="y" * 300)  # longer than a block, and than the cap
    payload = b"\n".join(lines)
    data = build_archive([(name, payload)])
    seen: list[bytes] = []
    with pytest.raises(ExportDecodeError) as info:
        seen.extend(line for _, _, line in iter_entry_lines(io.BytesIO(data), max_line_bytes=200))
    assert (info.value.entry, info.value.line) == (name, 5)
    assert seen == lines[:4]  # every line before the long one first
    # the archive cap: lines 1-3 take 3 * (len + 1) bytes; one byte less stops at line 3
    cap = 3 * (len(lines[0]) + 1) - 1
    seen = []
    capped = iter_entry_lines(io.BytesIO(data), max_archive_bytes=cap)
    with pytest.raises(ExportDecodeError, match="max_archive_bytes") as info:
        seen.extend(line for _, _, line in capped)
    assert info.value.line == 3
    assert seen == lines[:2]
    assert len(list(iter_lines(io.BytesIO(data), max_archive_bytes=len(payload)))) == 6
    with pytest.raises(ExportDecodeError, match="max_archive_bytes"):
        list(iter_lines(io.BytesIO(data), max_archive_bytes=len(payload) - 1))


def test_a_line_is_never_held_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "BLOCK_BYTES", 1000)
    name = "1/1_2025-07-01_5#0.json.gz"
    payload = event_line("a") + b"\n" + b"z" * 50_000  # no newline ever comes
    data = build_archive([(name, payload)])
    with pytest.raises(ExportDecodeError, match="max_line_bytes=4000") as info:
        list(iter_lines(io.BytesIO(data), max_line_bytes=4000))
    assert (info.value.entry, info.value.line) == (name, 2)


def test_parse_lines_matches_parse_line() -> None:
    lines = [event_line("a"), b"", b"  \r", event_line("b") + b"\r", b"\x0c" + event_line("c")]
    assert [r["$insert_id"] for r in parse_lines(lines)] == ["a", "b", "c"]
    with pytest.raises(ExportDecodeError, match="expected a JSON object") as info:
        parse_lines([event_line("a"), b"", b"[1]"], entry="e", first=10)
    assert (info.value.entry, info.value.line) == ("e", 12)


# --- Arrow: the fast paths agree with the per-value converters --------------------------------


def reference_rows(records: list[dict[str, object]]) -> list[dict[str, object]]:
    """Every value through its converter, one at a time (the semantics, without the speed)."""
    known = {key for _, key, _ in EXPORT_COLUMNS}
    rows = []
    for record in records:
        extra = {k: v for k, v in record.items() if k not in known}
        row: dict[str, object] = {}
        for column, key, kind in EXPORT_COLUMNS:
            value = record.get(key)
            converted = None if value is None else CONVERTERS[kind](value)
            if converted is MISSING:
                extra[key] = value
                converted = None
            row[column] = converted
        row[EXTRA_COLUMN] = extra or None
        rows.append(row)
    return rows


DRIFT: dict[str, list[object]] = {
    "string": [7, 1.5, True, {"a": 1}, [1], "plain", ""],
    "int": ["17", " 18 ", 2.0, 1.5, True, 2**64, -(2**63), "x", {"a": 1}, -1],
    "float": ["1.25", "nan", "inf", True, 2**60 + 1, 5, 0.5, "x", [1]],
    "bool": [1, 0, 2, "yes", " No ", "x", False, 1.0],
    "timestamp": [
        "2025-07-01T17:00:00Z",
        "2025-07-01 19:00:00.5+02:00",
        "yesterday",
        "2025-13-01 00:00:00",
        12345,
        " 2025-07-01 17:18:45.118000 ",
        "2025-07-01T17:18:45.1234567",
        "2025-07-01 17:18:45",
    ],
    "json": ['{"k": 1}', "[1, 2]", "text", "{bad", 5, True, 0.25, [], {"n": {"m": [None]}}],
    "ids": ["abc", '["x", "y"]', "", "  ", "[bad", {"a": 1}, 7, [], ["z"]],
}


def drifting_records(templates: list[dict[str, object]], count: int) -> list[dict[str, object]]:
    rng = random.Random(20250701)
    kinds = {key: kind for _, key, kind in EXPORT_COLUMNS}
    records = []
    for i in range(count):
        record = dict(templates[i % len(templates)])
        record["$insert_id"] = f"r{i}"
        if i % 97 == 3:  # a few drifted values in some rows
            for key in rng.sample(sorted(kinds), 4):
                record[key] = rng.choice(DRIFT[kinds[key]])
        if i % 211 == 5:
            record["brand_new_key"] = {"i": i}
        if i % 307 == 7:
            del record["event_properties"]
        if i % 401 == 9:  # another key order
            record = dict(reversed(list(record.items())))
        records.append(record)
    return records


JSON_COLUMNS = [col for col, _, kind in EXPORT_COLUMNS if kind in ("json", "ids")]


def assert_rows_match(got: list[dict[str, object]], want: list[dict[str, object]], *,
                      json_spelling: bool = False) -> None:
    """``json_spelling``: the JSON columns may spell a number otherwise (DuckDB's writing), so
    they are compared parsed."""
    assert len(got) == len(want)
    for number, (g, w) in enumerate(zip(got, want, strict=True)):
        extra = g.pop(EXTRA_COLUMN)
        assert (orjson.loads(extra) if extra is not None else None) == w.pop(EXTRA_COLUMN), number
        if json_spelling:
            g, w = dict(g), dict(w)
            for col in JSON_COLUMNS:
                g[col], w[col] = (None if v is None else orjson.loads(v)  # type: ignore[arg-type]
                                  for v in (g[col], w[col]))
        assert g == w, number


READERS = pytest.mark.parametrize("reader", ["auto", "duckdb", "python"])
"""The Arrow reader's tests run through each reader: the C decoder where it was built ("auto"),
DuckDB's JSON reader, the Python converter alone."""


@READERS
def test_arrow_rows_agree_with_the_converters(export_dir: Path, reader: str) -> None:
    templates = [orjson.loads(line) for line in fixture_lines(export_dir, LINES_FILE)]
    templates.append(orjson.loads(fixture_lines(export_dir, SEGMENT_FILE)[0]))
    records = drifting_records(templates, 3_000)
    payload = b"\n".join(orjson.dumps(r) for r in records)
    data = build_archive([("1/1_2025-07-01_0#0.json.gz", payload)])
    batches = list(iter_arrow_batches(io.BytesIO(data), batch_size=700, reader=reader))
    assert [b.num_rows for b in batches] == [700, 700, 700, 700, 200]
    assert all(b.schema.equals(export_arrow_schema()) for b in batches)
    got = pa.Table.from_batches(batches).to_pylist()
    assert_rows_match(got, reference_rows(records), json_spelling=reader == "duckdb")
    assert sum(row[EXTRA_COLUMN] is not None for row in reference_rows(records)) > 30
    # the same through records_to_batch, in one piece
    batch = arrow_mod.records_to_batch(records, export_arrow_schema())
    assert_rows_match(batch.to_pylist(), reference_rows(records))


@READERS
def test_arrow_drift_only_in_a_later_chunk_and_mixed_timestamps(reader: str) -> None:
    n = arrow_mod.CONVERT_ROWS * 2 + 5
    records: list[dict[str, object]] = [
        {"$insert_id": str(i), "event_time": "2025-07-01 17:18:45.118000", "plan": {}}
        for i in range(n)
    ]
    records[-1]["event_time"] = "2025-07-01T19:18:45.118+02:00"  # zoned: parsed one by one
    records[-2]["event_time"] = "not a time"
    records[-3]["plan"] = '{"tier": "x"}'
    records[-4]["amplitude_attribution_ids"] = "solo"
    payload = b"\n".join(orjson.dumps(r) for r in records)
    data = build_archive([("1/a#0.json.gz", payload)])
    rows = pa.Table.from_batches(
        list(iter_arrow_batches(io.BytesIO(data), reader=reader))).to_pylist()
    want = datetime(2025, 7, 1, 17, 18, 45, 118000, tzinfo=UTC)
    assert rows[0]["event_time"] == want
    assert rows[-1]["event_time"] == want
    assert rows[-2]["event_time"] is None
    assert orjson.loads(rows[-2][EXTRA_COLUMN]) == {"event_time": "not a time"}
    assert rows[-3]["plan"] == '{"tier":"x"}'
    assert rows[-4]["amplitude_attribution_ids"] == '["solo"]'
    assert rows[-5]["plan"] == "{}"
    assert sum(r[EXTRA_COLUMN] is not None for r in rows) == 1


@READERS
def test_arrow_deeply_nested_property_is_kept(reader: str) -> None:
    deep = b'{"d":' * 300 + b"1" + b"}" * 300  # deeper than orjson writes
    line = b'{"$insert_id": "a", "event_properties": ' + deep + b"}"
    data = build_archive([("1/a#0.json.gz", line)])
    (batch,) = iter_arrow_batches(io.BytesIO(data), reader=reader)
    assert batch.column("event_properties")[0].as_py() == deep.decode()


@READERS
def test_arrow_non_object_line_names_the_line(reader: str) -> None:
    name = "1/a#0.json.gz"
    data = build_archive([(name, b"\n".join([event_line("a"), b"", b'"text"']))])
    with pytest.raises(ExportDecodeError, match="expected a JSON object") as info:
        list(iter_arrow_batches(io.BytesIO(data), reader=reader))
    assert (info.value.entry, info.value.line) == (name, 3)


@READERS
def test_arrow_errors_come_after_the_good_batches(reader: str, tmp_path: Path) -> None:
    good = b"\n".join(event_line(str(i)) for i in range(10))
    data = _with_corrupt_second_entry(good)
    got: list[int] = []
    with pytest.raises(ExportDecodeError) as info:
        got.extend(batch.num_rows for batch in iter_arrow_batches(
            io.BytesIO(data), batch_size=4, reader=reader, temp_dir=tmp_path))
    assert got == [4, 4]  # the two full batches of the first entry; the rest is lost
    assert info.value.entry == "1/1_2025-07-01_1#0.json.gz"
    assert list(tmp_path.iterdir()) == []  # DuckDB's copies of the entries are gone
    assert export_threads() == []


def _with_corrupt_second_entry(good: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("1/1_2025-07-01_0#0.json.gz", gzip.compress(good))
        zf.writestr("1/1_2025-07-01_1#0.json.gz", b"not gzip at all")
    return buf.getvalue()


def export_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ampkit-export")]


def test_arrow_iteration_closed_early_stops_its_threads(big_archive: tuple[Path, int]) -> None:
    path, _ = big_archive
    batches = iter_arrow_batches(path, batch_size=1_000)
    first = next(batches)
    assert first.num_rows == 1_000
    assert export_threads()  # working ahead
    batches.close()
    assert export_threads() == []
    assert gc.isenabled()


def test_duckdbs_reader_closed_early_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"  # more lines than one batch; DuckDB reads its copy whole
    lines = b"\n".join(amplitude_line(f"id-{i}") for i in range(5_000))
    path.write_bytes(build_archive([("1/1_2025-07-01_17#0.json.gz", lines)]))
    spool = tmp_path / "spool"
    spool.mkdir()
    batches = iter_arrow_batches(path, batch_size=1_000, reader="duckdb", temp_dir=spool)
    first = next(batches)
    assert first.num_rows == 1_000
    assert len(list(spool.iterdir())) == 1  # DuckDB reads a copy of the entries
    batches.close()
    assert list(spool.iterdir()) == []


def test_arrow_leaves_the_gc_as_it_found_it(export_dir: Path) -> None:
    assert gc.isenabled()
    assert sum(b.num_rows for b in iter_arrow_batches(export_dir / ARCHIVE_FILE)) == 13
    assert gc.isenabled()
    gc.disable()
    try:
        assert sum(b.num_rows for b in iter_arrow_batches(export_dir / ARCHIVE_FILE)) == 13
        assert not gc.isenabled()
    finally:
        gc.enable()


@READERS
def test_arrow_bad_arguments(reader: str) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        next(iter_arrow_batches(io.BytesIO(b""), batch_size=0, reader=reader))
    with pytest.raises(ValueError, match="max_line_bytes"):
        next(iter_arrow_batches(io.BytesIO(build_archive([])), max_line_bytes=0, reader=reader))
    with pytest.raises(ConfigError, match="reader 'fast'"):
        iter_arrow_batches(io.BytesIO(b""), reader="fast")  # type: ignore[arg-type]
    assert list(iter_arrow_batches(io.BytesIO(b""), reader=reader)) == []
    assert list(iter_arrow_batches(io.BytesIO(build_archive([])), reader=reader)) == []
