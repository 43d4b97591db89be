"""``load_duckdb``: the Export archive straight into a DuckDB table, the same rows as the Python
converter gives (``reader="python"``), drift and errors included — every test through both fast
readers: ampkit's C decoder, and DuckDB's JSON reader (the path of an install without a
compiler, which ``AMPKIT_EXPORT_DECODER=python`` also selects)."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from test_export_decode import (
    DRIFT,
    LINES_FILE,
    SEGMENT_FILE,
    amplitude_line,
    build_archive,
    drifting_records,
    event_line,
    fixture_lines,
    reference_rows,
)

from ampkit.errors import ConfigError, ExportDecodeError
from ampkit.export import (
    EXPORT_COLUMNS,
    EXTRA_COLUMN,
    iter_arrow_batches,
    load_duckdb,
    load_duckdb_file,
)
from ampkit.export.arrow import has_native_decoder

pa = pytest.importorskip("pyarrow")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COLUMNS = [col for col, _, _ in EXPORT_COLUMNS] + [EXTRA_COLUMN]
JSON_COLUMNS = {col for col, _, kind in EXPORT_COLUMNS if kind in ("json", "ids")}


@pytest.fixture(scope="module")
def export_dir(data_dir: str) -> Path:
    return Path(data_dir) / "fixtures" / "export"


@pytest.fixture(params=["c", "duckdb"], autouse=True)
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The reader ``load_duckdb`` picks by itself ("auto") in this test."""
    if request.param == "duckdb":
        monkeypatch.setenv("AMPKIT_EXPORT_DECODER", "python")
    elif not has_native_decoder():
        pytest.skip("ampkit's C decoder is not built here")
    return str(request.param)


@pytest.fixture
def con() -> Any:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


def table_rows(con: Any, table: str = "events") -> list[dict[str, Any]]:
    """The table's rows as dicts, timestamps as aware UTC, in insertion order."""
    select = ", ".join(
        f'epoch_us("{col}") AS "{col}"' if kind == "timestamp" else f'"{col}"'
        for col, _, kind in EXPORT_COLUMNS
    )
    cursor = con.execute(f'SELECT {select}, "{EXTRA_COLUMN}" FROM {table}')
    rows = []
    for values in cursor.fetchall():
        row = dict(zip(COLUMNS, values, strict=True))
        for col, _, kind in EXPORT_COLUMNS:
            if kind == "timestamp" and row[col] is not None:
                row[col] = EPOCH + timedelta(microseconds=row[col])  # exact, far years too
        rows.append(row)
    return rows


def normalised(row: dict[str, Any]) -> dict[str, Any]:
    """JSON text parsed (the two paths may spell a number differently, never a value)."""
    out = dict(row)
    for col in (*JSON_COLUMNS, EXTRA_COLUMN):
        if out[col] is not None:
            out[col] = orjson.loads(out[col])
    return out


def arrow_rows(data: bytes) -> list[dict[str, Any]]:
    """The rows of the Python path alone."""
    batches = list(iter_arrow_batches(io.BytesIO(data), reader="python"))
    return [row for b in batches for row in b.to_pylist()]


def test_fixture_lines_load_like_the_python_converter(
    con: Any, export_dir: Path, reader: str
) -> None:
    lines = fixture_lines(export_dir, LINES_FILE)
    data = build_archive([("1/1_2025-07-01_17#0.json.gz", b"\n".join(lines))])
    report = load_duckdb(io.BytesIO(data), con)
    assert (report.rows, report.entries, report.exact_rows, report.native, report.reader) == (
        len(lines), 1, 0, True, reader)
    got = table_rows(con)
    assert [normalised(r) for r in got] == [normalised(r) for r in arrow_rows(data)]
    # object columns are compact JSON text of the same value
    assert orjson.loads(got[0]["data"]) == orjson.loads(lines[0])["data"]


def test_drift_unknown_keys_and_key_orders_match_the_converters(
    con: Any, export_dir: Path
) -> None:
    templates = [orjson.loads(line) for line in fixture_lines(export_dir, LINES_FILE)]
    templates.append(orjson.loads(fixture_lines(export_dir, SEGMENT_FILE)[0]))
    records = drifting_records(templates, 3_000)
    payload = b"\n".join(orjson.dumps(r) for r in records)
    data = build_archive([("1/1_2025-07-01_0#0.json.gz", payload)])
    report = load_duckdb(io.BytesIO(data), con)
    assert report.native and report.rows == 3_000
    want = reference_rows(records)
    drifted = sum(row[EXTRA_COLUMN] is not None for row in want)
    assert drifted > 30
    # the rows the SQL hands over: drift, new keys, other key orders — a few percent, not all
    assert drifted <= report.exact_rows < 300
    got = table_rows(con)
    assert len(got) == len(want)
    for number, (g, w) in enumerate(zip(got, want, strict=True)):
        g = normalised(g)
        w = dict(w)
        for col in JSON_COLUMNS:
            if w[col] is not None:
                w[col] = orjson.loads(w[col])  # type: ignore[arg-type]
        assert g == w, number


@pytest.mark.parametrize("kind", sorted(DRIFT))
def test_every_drift_value_of_each_kind(con: Any, kind: str) -> None:
    columns = [(col, key) for col, key, k in EXPORT_COLUMNS if k == kind]
    records: list[dict[str, object]] = []
    for i, value in enumerate(DRIFT[kind]):
        if isinstance(value, int) and not -(2**63) <= value < 2**64:
            continue  # no JSON line of an export holds it: orjson neither writes nor reads it
        for col, key in columns:
            records.append({"$insert_id": f"{col}-{i}", key: value})
    payload = b"\n".join(orjson.dumps(r) for r in records)
    data = build_archive([("1/a#0.json.gz", payload)])
    load_duckdb(io.BytesIO(data), con)
    got = [normalised(r) for r in table_rows(con)]
    assert got == [normalised(r) for r in arrow_rows(data)]


def test_plain_values_take_the_sql_path(con: Any) -> None:
    lines = [amplitude_line(str(i), event_time="2025-07-01 17:18:45.118000", amplitude_id=i,
                            location_lat=1.5, paying=True, plan={"a": [1, "é\n"]},
                            user_id='quote " and \\ backslash', amplitude_attribution_ids=["x"])
             for i in range(50)]
    data = build_archive([("1/a#0.json.gz", b"\n".join(lines))])
    report = load_duckdb(io.BytesIO(data), con)
    assert report.exact_rows == 0  # every key known, every value plain
    got = table_rows(con)
    assert got[7]["amplitude_id"] == 7
    assert got[7]["user_id"] == 'quote " and \\ backslash'
    assert got[7]["event_time"] == datetime(2025, 7, 1, 17, 18, 45, 118000, tzinfo=UTC)
    assert orjson.loads(got[7]["plan"]) == {"a": [1, "é\n"]}
    assert [normalised(r) for r in got] == [normalised(r) for r in arrow_rows(data)]


def test_lines_unlike_amplitudes_own_writing_are_still_read_exactly(
    con: Any, export_dir: Path, reader: str
) -> None:
    """DuckDB: only a line equal to its values written back in Amplitude's order (compact, keys
    sorted, every key) is converted in SQL; any other spelling goes to the Python converter (which
    keeps the last value of a repeated key, as orjson does).  The C decoder sends repeated and
    unknown keys there, and a number orjson would spell otherwise (1E2)."""
    line = fixture_lines(export_dir, LINES_FILE)[0]
    assert line.startswith(b'{"$insert_id":')
    variants = {
        "as written": line,
        "repeated key, other value": line[:-1] + b',"event_type":"again"}',
        "repeated key, same value": line[:-1] + b',"adid":null}',
        "unknown key": line[:-1] + b',"zz_new":1}',
        "key left out": line.replace(b'"adid":null,', b""),
        "identify flag null": line.replace(b'"event_type":', b'"followed_an_identify":null,'
                                           b'"event_type":', 1),
        "escaped text": line.replace(b'"Example City"', b'"Caf\\u00e9 \\/ city"'),
        "number spelled 1E2": line.replace(b'"event_properties":{}',
                                           b'"event_properties":{"n":1E2,"m":-0.0}'),
        "spaces": line.replace(b'":', b'": ').replace(b',"', b', "'),
        "leading blank": b"  " + line,
    }
    lines = [v.replace(b'"$insert_id":"', f'"$insert_id":"{name}-'.encode(), 1)
             for name, v in variants.items()]
    data = build_archive([("1/a#0.json.gz", b"\n".join(lines))])
    report = load_duckdb(io.BytesIO(data), con)
    got = [normalised(r) for r in table_rows(con)]
    want = [normalised(r) for r in arrow_rows(data)]
    assert got == want
    by_name = dict(zip(variants, got, strict=True))
    assert by_name["repeated key, other value"]["event_type"] == "again"
    assert by_name["unknown key"][EXTRA_COLUMN] == {"zz_new": 1}
    assert by_name["escaped text"]["city"] == "Café / city"
    # DuckDB: all but the line as written, and with blanks before it (its reader drops them);
    # C: the two repeated keys, the unknown key and the 1E2
    assert report.exact_rows == {"duckdb": len(variants) - 2, "c": 4}[reader]


def test_near_miss_timestamps_convert_like_the_python_converter(con: Any) -> None:
    """The SQL reads only Amplitude's exact timestamp shape; every near miss (a space for a
    digit, one-digit fields, signs, ``T``, ``Z``, 24:00, Feb 30…) is left to the converter."""
    rng = random.Random(7)
    base = "2025-06-30 03:37:52.846000"
    values = {base, "2025-02-30 03:37:52.846000", "2025-06-30 24:00:00.000000",
              "2025-06-30 23:59:60.000000", "2025-06-30T03:37:52.846000"}
    while len(values) < 1_500:
        chars = list(base)
        for _ in range(rng.randint(1, 3)):
            chars[rng.randrange(len(chars))] = rng.choice("0123456789 -:.+TZ")
        values.add("".join(chars))
    ordered_values = sorted(values)
    lines = [amplitude_line(str(i), event_time=v) for i, v in enumerate(ordered_values)]
    data = build_archive([("1/a#0.json.gz", b"\n".join(lines))])
    report = load_duckdb(io.BytesIO(data), con)
    got = [normalised(r) for r in table_rows(con)]
    assert got == [normalised(r) for r in arrow_rows(data)]
    converted = sum(r["event_time"] is not None for r in got)
    assert 0 < converted < len(values)  # both valid and drifting values were tried
    # the well-formed ones (and only a few others) stayed in SQL
    assert 0 < report.exact_rows < len(values)


def test_blank_lines_crlf_and_entries_in_hour_order(con: Any) -> None:
    entries = [
        ("p/p_2025-07-01_10#0.json.gz", event_line("late") + b"\r\n"),
        ("p/p_2025-07-01_9#0.json.gz", b"\n\n" + event_line("early") + b"\r\n  \n"
         + event_line("early2")),
        ("p/readme.txt", b"not an entry"),
    ]
    data = build_archive(entries)
    report = load_duckdb(io.BytesIO(data), con)
    assert (report.rows, report.entries) == (3, 2)
    assert [r["insert_id"] for r in table_rows(con)] == ["early", "early2", "late"]


def test_appends_to_an_existing_table_and_creates_a_missing_one(tmp_path: Path) -> None:
    data = build_archive([("1/a#0.json.gz", b"\n".join(event_line(str(i)) for i in range(3)))])
    path = tmp_path / "out.duckdb"
    with pytest.raises(ConfigError, match="Schema with name raw does not exist"):  # named
        load_duckdb_file(io.BytesIO(data), path, "raw.events")
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.close()
    assert load_duckdb_file(io.BytesIO(data), path, "raw.events").rows == 3
    assert load_duckdb_file(io.BytesIO(data), path, "raw.events").rows == 3
    con = duckdb.connect(str(path))
    assert con.execute("SELECT count(*) FROM raw.events").fetchone() == (6,)
    con.close()


def test_empty_archive_creates_an_empty_table(con: Any) -> None:
    report = load_duckdb(io.BytesIO(b""), con, "nothing")
    assert (report.rows, report.entries) == (0, 0)
    assert con.execute("SELECT count(*) FROM nothing").fetchone() == (0,)


@pytest.mark.parametrize(
    ("payload", "match", "line"),
    [
        (b"\n".join([event_line("a"), b"{not json"]), "not valid JSON", 2),
        (b"\n".join([event_line("a"), b"", b'"text"']), "expected a JSON object", 3),
        (b"\n".join([event_line("a"), b"[1, 2]"]), "expected a JSON object", 2),
    ],
)
def test_bad_lines_name_the_line_and_nothing_is_inserted(
    con: Any, payload: bytes, match: str, line: int
) -> None:
    good = build_archive([("1/a#0.json.gz", event_line("kept"))])
    load_duckdb(io.BytesIO(good), con)
    name = "1/b#0.json.gz"
    data = build_archive([("1/a#0.json.gz", event_line("x")), (name, payload)])
    with pytest.raises(ExportDecodeError, match=match) as info:
        load_duckdb(io.BytesIO(data), con)
    assert (info.value.entry, info.value.line) == (name, line)
    assert [r["insert_id"] for r in table_rows(con)] == ["kept"]
    assert not [f for f in con.execute("SELECT function_name FROM duckdb_functions()").fetchall()
                if f[0].startswith("ampkit_export")]


def test_oversized_line_and_corrupt_entry_are_typed_errors(con: Any) -> None:
    data = build_archive([("1/a#0.json.gz", event_line("a", pad="x" * 5000))])
    with pytest.raises(ExportDecodeError, match="max_line_bytes=1000"):
        load_duckdb(io.BytesIO(data), con, max_line_bytes=1000)
    broken = build_archive([("1/a#0.json.gz", b"not gzip at all")], gz=False)
    with pytest.raises(ExportDecodeError, match="corrupt entry") as info:
        load_duckdb(io.BytesIO(broken), con)
    assert info.value.entry == "1/a#0.json.gz"
    tables = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert ("events",) not in tables  # not even the table: nothing half-written


def test_archive_byte_cap(con: Any, reader: str) -> None:
    payload = b"\n".join(event_line(str(i)) for i in range(20))
    data = build_archive([("1/a#0.json.gz", payload)])
    with pytest.raises(ExportDecodeError, match="max_archive_bytes") as info:
        load_duckdb(io.BytesIO(data), con, max_archive_bytes=100)
    size = len(event_line("0")) + 1  # 36 bytes a line, newline included: line 3 passes 100
    assert (info.value.entry, info.value.line) == ("1/a#0.json.gz", 100 // size + 1)
    # within the cap (exactly at it, too) the fast reader loads it
    report = load_duckdb(io.BytesIO(data), con, max_archive_bytes=len(payload))
    assert (report.rows, report.reader) == (20, reader)
    with pytest.raises(ExportDecodeError, match="max_archive_bytes"):
        load_duckdb(io.BytesIO(data), con, max_archive_bytes=len(payload) - 1)
    assert con.execute("SELECT count(*) FROM events").fetchone() == (20,)


def test_a_transaction_the_caller_holds_does_not_get_in_the_way(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    data = build_archive([("1/a#0.json.gz", event_line("a"))])
    con.execute("CREATE TABLE mine (x INTEGER)")
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO mine VALUES (1)")
    assert load_duckdb(io.BytesIO(data), con).rows == 1
    con.execute("ROLLBACK")  # the caller's insert goes, the load stays
    assert con.execute("SELECT count(*) FROM mine").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM events").fetchone() == (1,)
    con.close()


def test_bad_table_names_are_config_errors(con: Any) -> None:
    for name in ("", "a..b", "a.b.c.d"):
        with pytest.raises(ConfigError, match="table"):
            load_duckdb(io.BytesIO(b""), con, name)


def test_a_memory_limit_holds_for_the_load_only(con: Any) -> None:
    data = build_archive([("1/a#0.json.gz", b"\n".join(event_line(str(i)) for i in range(5)))])

    def limit() -> str:
        return str(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])

    default = limit()
    assert load_duckdb(io.BytesIO(data), con, memory_limit="64MB").rows == 5
    assert limit() == default  # the default is back exactly
    con.execute("SET memory_limit = '1GB'")
    mine = limit()
    assert load_duckdb(io.BytesIO(data), con, memory_limit="64MB").rows == 5
    assert limit() == mine
    with pytest.raises(ConfigError, match="memory_limit 'lots'"):
        load_duckdb(io.BytesIO(data), con, memory_limit="lots")
    assert con.execute("SELECT count(*) FROM events").fetchone() == (10,)
    assert limit() == mine


def test_reader_c_without_the_decoder_is_a_config_error(
    con: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMPKIT_EXPORT_DECODER", "python")
    with pytest.raises(ConfigError, match="C decoder is not built"):
        load_duckdb(io.BytesIO(b""), con, reader="c")
    with pytest.raises(ConfigError, match="reader 'fast'"):
        load_duckdb(io.BytesIO(b""), con, reader="fast")  # type: ignore[arg-type]
    data = build_archive([("1/a#0.json.gz", b"\n".join(event_line(str(i)) for i in range(3)))])
    report = load_duckdb(io.BytesIO(data), con, reader="python")
    assert (report.rows, report.reader, report.exact_rows, report.native) == (3, "python", 3,
                                                                              False)
    assert [r["insert_id"] for r in table_rows(con)] == ["0", "1", "2"]
