"""The spellings both export differential tests feed their readers (the C decoder's,
``test_export_decoder.py``, and DuckDB's, ``test_export_differential.py``): for each column kind,
texts JSON allows — escapes, whitespace, number spellings, near-miss timestamps, wrong types."""

from __future__ import annotations

import random

from hypothesis import strategies as st

from ampkit.export import EXPORT_COLUMNS

KEYS = [key for _, key, _ in EXPORT_COLUMNS]
KIND_OF = {key: kind for _, key, kind in EXPORT_COLUMNS}

STRING_TEXTS = [
    '"plain"', '""', '"Caf\\u00e9"', '"Café"', '"tab\\there"', '"quote \\" and \\\\ and \\/"',
    '"\\ud83d\\ude00 emoji"', '"😀"', '"\\u0000 nul"', '"line\\nbreak\\r\\b\\f"',
    '"\\u001f\\u007f\\u2028"', '"\u2028"', '"ascii \\u0041"', "12", "-3.5", "true", "null",
    "{}", "[1]", '"  spaced  "', "1E2", "1e20", "-0.0", "0.1",
]
INT_TEXTS = [
    "0", "-0", "7", "-7", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
    "-9223372036854775809", "18446744073709551615", "12345678901234567890123", "1.0", "1.5",
    "1e3", "1E+2", "-0.0",
    '"12"', '" 12 "', '"x"', "true", "null", "{}", "[]",
]
FLOAT_TEXTS = [
    "0", "-0", "1", "-1", "0.0", "-0.0", "1.5", "37.7749", "-122.4194", "0.1", "0.3",
    "123456789012345", "9007199254740992", "9007199254740993", "1.000000000000001",
    "0.1234567890123456789", "1e-7", "1E2", "2.5e+3", "0.00001", "3.141592653589793",
    "1.7976931348623157e308", "5e-324", '"2.5"', '"nan"', '"inf"', '"-Infinity"', "true",
    "false", "null", "[]", "100000000000000000000", "0.000000000000000000001",
    "18446744073709551615",
]
BOOL_TEXTS = ["true", "false", "null", "0", "1", "2", '"yes"', '"no"', '"TRUE"', '"maybe"', "[]",
              "1.0", '" No "']
TIMESTAMP_TEXTS = [
    '"2025-07-01 17:18:45.118000"', '"2025-07-01 17:18:45"', '"2025-07-01T17:18:45.118"',
    '"2025-07-01 17:18:45.1"', '"2025-07-01 17:18:45.1180001"', '"2024-02-29 00:00:00.000000"',
    '"2025-02-29 00:00:00.000000"', '"2025-13-01 00:00:00.000000"', '"2025-06-31 00:00:00"',
    '"2025-06-30 24:00:00.000000"', '"2025-06-30 23:59:60.000000"', '"0001-01-01 00:00:00"',
    '"0000-01-01 00:00:00.000000"', '"9999-12-31 23:59:59.999999"',
    '"1969-12-31 23:59:59.999999"', '"2025-07-01 17:18:45Z"', '"2025-07-01 17:18:45+02:00"',
    '" 2025-07-01 17:18:45.118000"', '"2025-07-01 17:18:45.118000 "', '"2025-07-01"',
    '"2025-07-01 17:18"', '"2025\\u002d07-01 17:18:45.118000"', '"2025-07-01 7:18:45.118000"',
    '"0000-01-01 00:00:00"', '" 2025-07-01 17:18:45"', '"2025\\u002d07-01 17:18:45"',
    "1719853125000", "1719853125", "1719853125.5", "-1", "null", "{}", "true",
]
JSON_TEXTS = [
    "{}", "[]", '{"a":1}', '{ "a" : 1 , "b" : [ 1 , 2 ] }', '{"a":1,"a":2}', '{"a":1,"\\u0061":2}',
    '{"n":1.50}', '{"n":1.5}', '{"n":1.0}', '{"n":100.0}', '{"n":1e2}', '{"n":-0}', '{"n":-0.0}',
    '{"n":0.00001}', '{"n":0.000001}', '{"n":123456789012345.6}', '{"n":1234567890123456.7}',
    '{"n":9223372036854775807}', '{"n":123456789012345678}', '{"n":18446744073709551615}',
    '{"s":"Caf\\u00e9 \\/ \\u0001 \\u001F \\"q\\" \\\\"}', '{"s":"\\ud83d\\ude00"}',
    '{"nested":{"deep":[{"x":[null,true,false]}]}}', '[1,"two",{"3":[4.25]}]',
    '{"k":"v"}', '"{\\"as\\":\\"text\\"}"', '"[1, 2]"', '"plain text"', "12", "true", "null",
    "1.5", "[" * 70 + "]" * 70, '{"a":' * 30 + "1" + "}" * 30,
]
TEXTS_BY_KIND = {
    "string": STRING_TEXTS,
    "int": INT_TEXTS,
    "float": FLOAT_TEXTS,
    "bool": BOOL_TEXTS,
    "timestamp": TIMESTAMP_TEXTS,
    "json": JSON_TEXTS,
    "ids": ['["a","b"]', "[]", '[ "x" ]', '"single"', '"[\\"a\\"]"', '""', '"  "', "null", "{}",
            "7", '"[bad"'],
}
WHITESPACE = ["", " ", "\t", "\r", "  ", "   "]


def plain_spelled_line(rng: random.Random, number: int) -> bytes:
    """A line of random keys, each value in a random spelling of its kind."""
    keys = rng.sample(KEYS, rng.randint(1, 12))
    if "$insert_id" not in keys:
        keys.append("$insert_id")
    parts = []
    for key in keys:
        value = f'"id-{number}"' if key == "$insert_id" else rng.choice(TEXTS_BY_KIND[KIND_OF[key]])
        ws = rng.choice(WHITESPACE) if rng.random() < 0.1 else ""
        parts.append(f'{ws}"{key}"{ws}:{ws}{value}{ws}')
    if rng.random() < 0.03:
        parts.append('"zz_unknown":{"x":1}')
    if rng.random() < 0.03:
        parts.append(f'"{rng.choice(keys)}":null')  # a repeated key
    return ("{" + ",".join(parts) + "}").encode()


# any JSON value (integers up to 2**64 - 1: past int64 too)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=12,
)
