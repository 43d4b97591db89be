"""ampkit's C export decoder against the Python converter it stands in for.

The decoder takes only lines it converts exactly as the Python converter does and hands every
other line to it, so reading an archive with the decoder and without it (``AMPKIT_EXPORT_DECODER
=python``) must give identical batches — same sizes, same values, the same JSON text byte for
byte — and the same error for a bad line.  The lines here are spelled on purpose in every way
JSON allows: escapes, whitespace, number spellings, repeated keys, near-miss timestamps, deep
nesting, values of the wrong type.
"""

from __future__ import annotations

import io
import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spellings import JSON_VALUES, KEYS, KIND_OF, TEXTS_BY_KIND, plain_spelled_line
from test_export_decode import LINES_FILE, build_archive, event_line

from ampkit.errors import ExportDecodeError
from ampkit.export import has_native_decoder
from ampkit.export.arrow import ReadStats, native_decoder, read_arrow_batches

pa = pytest.importorskip("pyarrow")
pytestmark = pytest.mark.skipif(not has_native_decoder(), reason="the C decoder is not built")



def read(data: bytes, *, native: bool, batch_size: int = 1000) -> tuple[list[Any], ReadStats]:
    stats = ReadStats()
    batches = list(read_arrow_batches(io.BytesIO(data), batch_size, stats=stats, native=native))
    return batches, stats


def outcome(data: bytes, *, native: bool, batch_size: int = 1000) -> Any:
    """The batches as Python rows, or the error (type, text, entry, line)."""
    try:
        batches, stats = read(data, native=native, batch_size=batch_size)
    except ExportDecodeError as exc:
        return ("error", str(exc), exc.entry, exc.line)
    assert stats.decoder is native
    return [batch.to_pylist() for batch in batches], [len(b) for b in batches]


def assert_same(lines: list[bytes], batch_size: int = 1000) -> ReadStats:
    """Both readers give the same batches (Arrow-equal, not only equal as Python values)."""
    data = build_archive([("1/1_2025-07-01_0#0.json.gz", b"\n".join(lines))])
    fast, stats = read(data, native=True, batch_size=batch_size)
    slow, _ = read(data, native=False, batch_size=batch_size)
    assert [len(b) for b in fast] == [len(b) for b in slow]
    for number, (f, s) in enumerate(zip(fast, slow, strict=True)):
        assert f.schema == s.schema
        for name in f.schema.names:
            if pa.types.is_floating(f.schema.field(name).type):  # equals() takes -0.0 for 0.0
                signs = [[None if v is None else math.copysign(1, v) for v in b.column(name)
                          .to_pylist()] for b in (f, s)]
                assert signs[0] == signs[1], (number, name)
            if not f.column(name).equals(s.column(name)):
                got, want = (
                    (c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c).to_pylist()
                    for c in (f.column(name), s.column(name))
                )
                bad = next(i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w
                           or (isinstance(g, float) and math.copysign(1, g) != math.copysign(1, w)))
                raise AssertionError(
                    f"batch {number} column {name} row {bad}: {got[bad]!r} != {want[bad]!r}"
                )
    return stats


# -- spellings ------------------------------------------------------------------------------------

def test_random_spellings_read_exactly_as_the_python_converter_reads_them() -> None:
    rng = random.Random(20261123)
    lines = [plain_spelled_line(rng, i) for i in range(6_000)]
    stats = assert_same(lines, batch_size=777)
    # both kinds of line were met: most through C, a good share handed to Python
    assert 0 < stats.python_rows < len(lines)


def test_every_spelling_of_every_kind_alone() -> None:
    lines = []
    for key in KEYS:
        for text in TEXTS_BY_KIND[KIND_OF[key]]:
            lines.append(f'{{"$insert_id":"{key}","{key}":{text}}}'.encode())
    assert_same(lines, batch_size=100)


def test_lines_amplitude_writes_are_all_decoded_in_c(data_dir: str) -> None:
    path = Path(data_dir) / "fixtures" / "export" / LINES_FILE
    lines = [line for line in path.read_bytes().splitlines() if line.strip()] * 50
    stats = assert_same(lines, batch_size=64)
    assert stats.python_rows == 0


def test_blank_lines_crlf_and_flagged_lines_keep_their_order() -> None:
    lines = [b"", event_line("a") + b"\r", b"  ", b"\t", event_line("b", zz_new=1),
             event_line("c"), b"\x0c", event_line("d", amplitude_id="12"), event_line("e")]
    assert_same(lines, batch_size=2)
    assert_same(lines, batch_size=1)


@pytest.mark.parametrize(
    "line",
    [
        b'{"$insert_id":"x","city":"\xff bad utf-8"}',
        b'{"$insert_id":"x","city":"\xed\xa0\x80 encoded surrogate"}',
        b'{"$insert_id":"x","city":"\\ud800 lone"}',
        b'{"$insert_id":"x","city":"\\udc00 lone low"}',
        b'{"$insert_id":"x","city":"raw \x01 control"}',
        b'{"$insert_id":"x","city":"bad \\x escape"}',
        b'{"$insert_id":"x","amplitude_id":01}',
        b'{"$insert_id":"x","amplitude_id":NaN}',
        b'{"$insert_id":"x","location_lat":1.}',
        b'{"$insert_id":"x","location_lat":-}',
        b'{"$insert_id":"x","plan":{"a":1,}}',
        b'{"$insert_id":"x","plan":{"a" 1}}',
        b'{"$insert_id":"x","plan":[1 2]}',
        b'{"$insert_id":"x","plan":{"\xc3":1}}',
        b'{"$insert_id":"x"} trailing',
        b'{"$insert_id":"x",}',
        b'{"$insert_id":"x"',
        b'{"$insert_id":"x","plan":' + b"[" * 2000 + b"]" * 2000 + b"}",
        b'[{"$insert_id":"x"}]',
        b'"text"',
        b"{'$insert_id':'x'}",
    ],
)
def test_a_bad_line_fails_the_same_way_with_and_without_the_decoder(line: bytes) -> None:
    data = build_archive([("1/1_2025-07-01_0#0.json.gz", event_line("ok") + b"\n" + line)])
    fast = outcome(data, native=True)
    assert fast == outcome(data, native=False)
    if fast[0] == "error":
        assert fast[2:] == ("1/1_2025-07-01_0#0.json.gz", 2)




def spellings(value: Any) -> Iterator[str]:
    """Texts of ``value`` as different writers spell it."""
    yield orjson.dumps(value).decode()
    yield json.dumps(value)
    yield json.dumps(value, ensure_ascii=False, separators=(" ,\t", " : "))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JSON_VALUES, min_size=1, max_size=6), st.sampled_from(["plan", "city",
       "session_id", "location_lat", "paying", "event_time", "amplitude_attribution_ids"]))
def test_any_json_value_in_any_column(values: list[Any], key: str) -> None:
    lines = [
        f'{{"$insert_id":"{i}-{j}","{key}":{text}}}'.encode()
        for i, value in enumerate(values) for j, text in enumerate(spellings(value))
    ]
    assert_same(lines, batch_size=5)


def test_the_decoder_api() -> None:
    decoder = native_decoder()
    assert decoder is not None
    lines = [event_line("a"), b"", event_line("b", zz=1), event_line("c")]
    assert decoder.feed(lines, 0, 10) == (2, 1)  # stopped in front of the line with zz
    assert decoder.rows == 1
    assert decoder.feed(lines, 3, 0) == (3, 2)  # no room
    assert decoder.feed(lines, 3, 10) == (4, 0)
    columns = decoder.take()
    assert decoder.rows == 0
    rows, nulls, valid, offsets, data = columns[0]  # $insert_id: a string column
    assert (rows, nulls, valid) == (2, 0, None)
    assert bytes(data) == b"ac" and bytes(offsets) == (0).to_bytes(4, "little") + (
        1).to_bytes(4, "little") + (2).to_bytes(4, "little")
    with pytest.raises(TypeError, match="list of bytes"):
        decoder.feed(["text"], 0, 1)
    with pytest.raises(ValueError, match="out of range"):
        decoder.feed(lines, 9, 1)
    kind = type(decoder)
    # a string column holds at most max_string_bytes (2**31 - 1, its offsets being int32): the
    # line that would pass it ends the rows so far, or, alone, goes to Python
    small = kind((b"$insert_id", b"city"), (0, 0), max_string_bytes=100)
    texts = [b'{"$insert_id":"%d","city":"%s"}' % (i, b"x" * 40) for i in range(5)]
    assert small.feed(texts, 0, 10) == (2, 2)
    assert [r[0] for r in small.take()] == [2, 2]
    assert small.feed(texts, 2, 10) == (4, 2)
    small.take()
    assert small.feed([b'{"city":"%s"}' % (b"y" * 101)], 0, 10) == (0, 1)
    with pytest.raises(ValueError, match="max_string_bytes"):
        kind((b"a",), (0,), max_string_bytes=2**31)
    with pytest.raises(ValueError, match="repeated key"):
        kind((b"a", b"a"), (0, 0))
    with pytest.raises(ValueError, match="escaping"):
        kind((b'a"',), (0,))
    with pytest.raises(ValueError, match="kinds"):
        kind((b"a",), (9,))


def test_without_the_extension_the_python_converter_reads_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AMPKIT_EXPORT_DECODER", "python")
    assert not has_native_decoder()
    data = build_archive([("1/a#0.json.gz", event_line("a"))])
    batches, stats = read(data, native=True)
    assert (stats.decoder, stats.python_rows, len(batches[0])) == (False, 1, 1)
