"""One set of coercion rules: the export reader and the replication's tables agree on every value.

The same edge values go through both entry points — the export's Python path
(:func:`ampkit.export.arrow.records_to_batch`, what DuckDB's reader hands its drifting lines to)
and the replication's :func:`ampkit.replicate.schema.records_to_table` — and must come out the
same: the same column value, or the same drift into ``_raw_extra``.  Values a JSON line can hold
also go through DuckDB's reader.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from typing import Any

import orjson
import pytest
from test_export_decode import amplitude_line, build_archive

from ampkit.export import EXTRA_COLUMN, duckdb_loader, iter_arrow_batches
from ampkit.export.arrow import records_to_batch
from ampkit.export.convert import MISSING, convert, json_text, to_float, to_timestamp
from ampkit.replicate.schema import EXTRA, Column, records_to_table

pa = pytest.importorskip("pyarrow")

UTC = dt.UTC
EDGES: dict[str, tuple[str, list[Any]]] = {
    # kind: (an export column of that kind, edge values)
    "string": ("city", ["plain", "", 7, -1.5, True, False, {"a": 1}, [1], 2**70]),
    "int": ("amplitude_id", [7, -(2**63), 2**63 - 1, 2**63, -(2**63) - 1, 2**64, "17", " 18 ",
                             "1e3", 2.0, 1.5, -0.0, True, "x", [], float("inf"), float("nan")]),
    "float": ("location_lat", [1.5, -0.0, 5, 2**60 + 1, 2**1100, "1.25", " 2.5 ", "1e400",
                               "inf", "-Infinity", "nan", float("inf"), float("-inf"),
                               float("nan"), 1e308, True, "x", [1]]),
    "bool": ("paying", [True, False, 1, 0, 2, 1.0, "true", " No ", "YES", "1", "0", "maybe",
                        {}]),
    "timestamp": ("event_time", [
        "2025-07-01 17:18:45.118000", "2025-07-01T17:00:00Z", "2025-07-01 19:00:00.5+02:00",
        " 2025-07-01 17:18:45 ", "2025-02-30 00:00:00", "0001-01-01 00:30:00+01:00", "yesterday",
        "", 1719853125, 1719853125000, 1719853125.5, -1, 0, 10**20, float("inf"), float("nan"),
        True, [], dt.datetime(2025, 7, 1, 17), dt.datetime(2025, 7, 1, 19, tzinfo=dt.timezone(
            dt.timedelta(hours=2)))]),
    "json": ("event_properties", [{"k": 1}, [], {}, '{"k": 1}', " [1, 2] ", "text", "{bad",
                                  5, 0.25, True, {"n": None, "d": {"e": [1.5]}}, {1: "a"}]),
}
CASES = [(kind, column, value) for kind, (column, values) in EDGES.items() for value in values]


def _key(value: Any) -> str:
    return repr(value)


def export_outcome(column: str, value: Any) -> tuple[Any, Any]:
    (row,) = records_to_batch([{"$insert_id": "x", column: value}]).to_pylist()
    extra = None if row[EXTRA_COLUMN] is None else json.loads(row[EXTRA_COLUMN])
    return row[column], extra


def replicate_outcome(kind: str, column: str, value: Any) -> tuple[Any, Any]:
    columns = [Column(name=column, type=kind), EXTRA]  # type: ignore[arg-type]
    (row,) = records_to_table([{column: value}], columns).to_pylist()
    extra = None if row[EXTRA_COLUMN] is None else json.loads(row[EXTRA_COLUMN])
    return row[column], extra


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


@pytest.mark.parametrize(("kind", "column", "value"), CASES, ids=[
    f"{kind}-{_key(value)}" for kind, _, value in CASES])
def test_both_entry_points_convert_a_value_alike(kind: str, column: str, value: Any) -> None:
    got = export_outcome(column, value)
    want = replicate_outcome(kind, column, value)
    assert same(got[0], want[0]), (got, want)
    assert got[1] == want[1]
    fits = convert(kind, value)[1]  # type: ignore[arg-type]
    if fits:
        assert got[1] is None
    else:  # drift: null in the column, the value kept as it came
        assert got[0] is None
        assert got[1] == json.loads(json_text({column: value}))


def _in_a_line(value: Any) -> bool:
    """Whether an export line can hold ``value`` (orjson writes it)."""
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return not isinstance(value, float) or math.isfinite(value)


IN_A_LINE = [case for case in CASES if _in_a_line(case[2]) and case[2] != {1: "a"}]


def _line_key(kind: str, column: str, value: Any) -> tuple[str, str, str]:
    return kind, column, repr(value)  # repr: True and 1, 1.0 and 1 are different cases


@pytest.fixture(scope="module")
def duckdb_rows() -> dict[tuple[str, str, str], dict[str, Any]]:
    """Each case's line as Amplitude writes it, read by DuckDB's reader: all of them in one
    archive, in one read (a read's start-up costs some 80 ms; its lines, next to nothing).

    DuckDB's SQL converts each line on its own (an explicit column list, a value per line) and
    hands a line that does not fit to the Python converter alone, so a line reads the same next to
    others as alone — provided DuckDB's reader takes the archive: were one line to make it refuse
    it, every line would go through the Python converter.  So the read counts the hand-overs of
    the whole archive to the Python converter, and there must be none."""
    lines = [amplitude_line(f"case-{n:03d}", **{column: value})
             for n, (_, column, value) in enumerate(IN_A_LINE)]
    data = build_archive([("1/a#0.json.gz", b"\n".join(lines))])
    whole_archive_to_python: list[int] = []
    python_batches = duckdb_loader._python_batches

    def counted(*args: Any, **kwargs: Any) -> Any:
        whole_archive_to_python.append(kwargs.get("skip", -1))
        return python_batches(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(duckdb_loader, "_python_batches", counted)
        rows = [row for batch in iter_arrow_batches(io.BytesIO(data), reader="duckdb")
                for row in batch.to_pylist()]
    assert whole_archive_to_python == []
    assert [row["insert_id"] for row in rows] == [f"case-{n:03d}" for n in range(len(IN_A_LINE))]
    keyed = {_line_key(*case): row for case, row in zip(IN_A_LINE, rows, strict=True)}
    assert len(keyed) == len(IN_A_LINE)  # no two cases share a key
    return keyed


@pytest.mark.parametrize(("kind", "column", "value"), IN_A_LINE)
def test_duckdbs_reader_converts_a_json_value_alike(
        duckdb_rows: dict[tuple[str, str, str], dict[str, Any]], kind: str, column: str,
        value: Any) -> None:
    """The same values in an export line as Amplitude writes it, read by DuckDB's reader."""
    row = duckdb_rows[_line_key(kind, column, value)]
    extra = None if row[EXTRA_COLUMN] is None else json.loads(row[EXTRA_COLUMN])
    want = replicate_outcome(kind, column, value)
    if kind == "json" and row[column] is not None:  # DuckDB's JSON spelling
        assert orjson.loads(row[column]) == orjson.loads(want[0])
    else:
        assert same(row[column], want[0]), (row[column], want)
    assert extra == want[1]


def test_infinity_and_nan_never_fit_a_float_column() -> None:
    for value in (float("inf"), float("-inf"), float("nan"), "inf", "NaN", "-Infinity", "1e400",
                  2**1100):
        assert to_float(value) is MISSING, value
    assert to_float("1e308") == 1e308


def test_timestamps_are_aware_utc_from_text_numbers_and_datetimes() -> None:
    moment = dt.datetime(2024, 7, 1, 16, 58, 45, tzinfo=UTC)
    assert to_timestamp("2024-07-01 16:58:45") == moment
    assert to_timestamp("2024-07-01T18:58:45+02:00") == moment
    assert to_timestamp(1719853125) == moment  # seconds
    assert to_timestamp(1719853125000) == moment  # milliseconds
    assert to_timestamp(dt.datetime(2024, 7, 1, 16, 58, 45)) == moment  # naive = UTC
    assert to_timestamp("0001-01-01 00:30:00+01:00") is MISSING  # before year 1 in UTC
