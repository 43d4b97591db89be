"""Client-side validation and conversion, including property-based tests."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import uuid
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ampkit import Amplitude, EventDefaults, InvalidEventError, NormalizeOptions
from ampkit.ingest.normalize import _fast_event, normalize_event, normalize_identification


class Color(enum.Enum):
    RED = "red"


def test_camel_case_keys_and_defaults() -> None:
    out = normalize_event(
        {"eventType": "Bought", "userId": "user-1", "productId": "sku", "revenueType": "sale",
         "price": 2.5, "eventProperties": {"a": 1}},
        EventDefaults(platform="Web", app_version="1.2.3", user_id="other-user"),
    )
    assert out["event_type"] == "Bought"
    assert out["user_id"] == "user-1"  # the event's own value wins over the default
    assert out["platform"] == "Web" and out["app_version"] == "1.2.3"
    assert out["productId"] == "sku" and out["revenueType"] == "sale"
    assert out["event_properties"] == {"a": 1}
    uuid.UUID(out["insert_id"])  # generated
    assert isinstance(out["time"], int) and out["time"] > 1_600_000_000_000


def test_insert_id_and_time_are_kept_when_given() -> None:
    out = normalize_event({"event_type": "x", "device_id": "device-1", "insert_id": "abc-1",
                           "time": dt.datetime(2024, 5, 1, tzinfo=dt.UTC)})
    assert out["insert_id"] == "abc-1"
    assert out["time"] == 1714521600000


def test_non_json_values_are_converted() -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    uid = uuid.uuid4()
    out = normalize_event({
        "event_type": "x", "user_id": "user-1",
        "event_properties": {"when": when, "day": dt.date(2024, 1, 2), "amount": Decimal("1.5"),
                             "id": uid, "color": Color.RED, "tags": ("a", "b"), "set": {2, 1}},
    })
    props = out["event_properties"]
    assert props == {"when": when.isoformat(), "day": "2024-01-02", "amount": 1.5,
                     "id": str(uid), "color": "red", "tags": ["a", "b"], "set": [1, 2]}
    orjson.dumps(out)  # really JSON


def test_unconvertible_value_is_reported_with_its_path() -> None:
    with pytest.raises(InvalidEventError) as err:
        normalize_event({"event_type": "x", "user_id": "user-1",
                         "event_properties": {"nested": {"obj": object()}}})
    assert err.value.field == "event_properties.nested.obj"
    assert "not JSON-serialisable" in err.value.rule


def test_errors_name_field_rule_and_index() -> None:
    with pytest.raises(InvalidEventError) as err:
        normalize_event({"event_type": "x", "user_id": "abc"}, index=3)
    assert err.value.field == "user_id"
    assert "at least 5" in err.value.rule
    assert str(err.value).startswith("event[3].user_id")
    assert isinstance(err.value, ValueError)


def test_min_id_length_option() -> None:
    out = normalize_event({"event_type": "x", "user_id": "abc"}, options=NormalizeOptions(
        min_id_length=3))
    assert out["user_id"] == "abc"


def test_long_strings_error_or_truncate() -> None:
    event = {"event_type": "x", "user_id": "user-1", "event_properties": {"s": "a" * 2000}}
    with pytest.raises(InvalidEventError) as err:
        normalize_event(event)
    assert err.value.field == "event_properties.s"
    out = normalize_event(event, options=NormalizeOptions(long_strings="truncate"))
    assert len(out["event_properties"]["s"]) == 1024


def test_identification_is_validated() -> None:
    assert normalize_identification({"user_id": "user-1", "user_properties": {"$set": {"a": 1}}})
    with pytest.raises(InvalidEventError) as err:
        normalize_identification({"group_type": "org"}, group=True)
    assert err.value.field == "group_value"


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                      st.datetimes(), st.dates(), st.decimals(), st.uuids(), st.binary(max_size=4))
anything = st.recursive(
    json_leaf,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4),
                               st.tuples(children, children)),
    max_leaves=12,
)
keys = st.sampled_from(["event_type", "user_id", "device_id", "time", "event_properties",
                        "user_properties", "groups", "group_properties", "price", "quantity",
                        "revenue", "productId", "session_id", "insert_id", "plan", "currency",
                        "ip", "eventType", "userId", "$skip_user_properties_sync", "location_lat"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, anything, max_size=8))
def test_any_input_gives_valid_event_or_typed_error(raw: dict[str, Any]) -> None:
    try:
        out = normalize_event(raw)
    except InvalidEventError as exc:
        assert exc.field and exc.rule
        return
    encoded = orjson.dumps(out)  # valid events are JSON
    assert orjson.loads(encoded)["event_type"]
    assert out.get("user_id") or out.get("device_id")


@settings(max_examples=200, deadline=None)
@given(anything)
def test_any_top_level_value_gives_event_or_typed_error(raw: Any) -> None:
    with contextlib.suppress(InvalidEventError):
        normalize_event(raw)


# A plain dict takes a one-pass fast path; any other mapping takes the full path.  The two must
# agree on every event: the same wire object (key order included) or the same error.
_KEYS = ["event_type", "eventType", "user_id", "userId", "device_id", "deviceId", "time",
         "session_id", "event_id", "insert_id", "platform", "os_name", "library", "price",
         "revenue", "quantity", "location_lat", "event_properties", "eventProperties",
         "user_properties", "groups", "productId", "currency", "unknown_key", "ip"]
_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([0, 1_700_000_000_000, 1_700_000_000, 2**63, -1, 253_402_300_800_000]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "ok", "user-1", "null", "0", "x" * 1025, "[Amplitude] Revenue", "USD",
                     "abc"]),
    st.text(max_size=8),
    st.dictionaries(st.sampled_from(["a", "b", "$set"]),
                    st.one_of(st.none(), st.integers(), st.text(max_size=3),
                              st.floats(allow_nan=True), st.lists(st.integers(), max_size=2)),
                    max_size=3),
    st.lists(st.integers(), max_size=2),
    st.just(dt.datetime(2024, 1, 2, tzinfo=dt.UTC)),
)
_DEFAULTS = st.sampled_from([
    None, EventDefaults(), EventDefaults(user_id="default-user", platform="iOS"),
    EventDefaults(device_id="dev", session_id=1_700_000_000_000), EventDefaults(library=None),
])
_OPTIONS = st.sampled_from([
    NormalizeOptions(), NormalizeOptions(min_id_length=1),
    NormalizeOptions(long_strings="truncate", allow_reserved_event_types=True),
])


def _outcome(event: Any, defaults: EventDefaults | None, options: NormalizeOptions) -> Any:
    try:
        # a clock's now (an event without ``time`` gets it): a time the rules accept, as the
        # real clock's is — the full path would refuse a default of 1 ms as "seconds"
        return list(normalize_event(event, defaults, options, index=3,
                                    now_ms=1_700_000_000_000).items())
    except InvalidEventError as exc:
        return ("error", exc.field, exc.rule, exc.index)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8), _DEFAULTS, _OPTIONS)
def test_fast_path_agrees_with_the_full_path(
    raw: dict[str, Any], defaults: EventDefaults | None, options: NormalizeOptions
) -> None:
    raw.setdefault("insert_id", "fixed-insert-id")  # else each call draws a new one
    assert _outcome(dict(raw), defaults, options) == _outcome(
        MappingProxyType(raw), defaults, options)


def test_fast_path_takes_a_plain_valid_event_and_refuses_nothing_the_full_path_takes() -> None:
    event = {"eventType": "Played", "userId": "user-1", "time": 1_700_000_000_000,
             "event_properties": {"n": 1, "ok": True, "s": "x", "f": 1.5, "none": None},
             "platform": "Web", "price": 3}
    defaults = EventDefaults(app_version="1.0")
    assert _fast_event(event, defaults, NormalizeOptions(), 5) is not None  # the fast path
    out = normalize_event(event, defaults, now_ms=5)
    assert list(out) == ["event_type", "user_id", "time", "event_properties", "platform",
                         "price", "app_version", "library", "insert_id"]
    assert out["event_properties"] is event["event_properties"]  # plain: shared, not copied
    for bad, field, rule in [
        ({"userId": "user-1"}, "event_type", "is required"),
        ({"event_type": "e", "user_id": "null"}, "user_id", "invalid id values"),
        ({"event_type": "e", "user_id": "user-1", "time": 1_700_000_000}, "time", "seconds"),
        ({"event_type": "e", "user_id": "user-1", "event_properties": {"x": float("nan")}},
         "event_properties.x", "finite"),
    ]:
        with pytest.raises(InvalidEventError, match=rule) as caught:
            normalize_event(bad)
        assert caught.value.field == field


@pytest.mark.parametrize(("value", "where", "rule"), [
    (Decimal("1e999"), "event[0].event_properties.x", "must be a finite number"),
    (2**70, "event[0].event_properties.x", "integer past 64 bits"),
    ([1, {"a": -(2**64)}], "event[0].event_properties.x[1].a", "integer past 64 bits"),
    ("a\ud800b", "event[0].event_properties.x", "lone surrogate"),
    ({"\udfff": 1}, "event[0].event_properties.x.\\udfff", "key holds a lone surrogate"),
])
def test_numbers_json_cannot_carry_are_refused_naming_the_path(value: Any, where: str,
                                                                rule: str) -> None:
    """Decimal('1e999') became null and 2**70 a raw TypeError; both are typed now, and the
    edges of what JSON carries still pass."""
    amp = Amplitude("key-0123456789", base_url="http://127.0.0.1:9")
    try:
        with pytest.raises(InvalidEventError) as caught:
            amp._encode({"event_type": "E", "user_id": "user-0001",
                         "event_properties": {"x": value}})
        assert str(caught.value).startswith(where) and rule in str(caught.value)
        with pytest.raises(InvalidEventError, match=r"event\[1\]\.user_properties\.\$set\.n"):
            amp._encode([{"event_type": "E", "user_id": "user-0001"},
                         {"event_type": "E", "user_id": "user-0002",
                          "user_properties": {"$set": {"n": 2**64}}}])
        edges = {"lo": -(2**63), "hi": 2**64 - 1, "d": Decimal("1.5e308")}
        (payload,) = amp._encode({"event_type": "E", "user_id": "user-0001",
                                  "event_properties": edges})
        assert orjson.loads(payload)["event_properties"] == {"lo": -(2**63), "hi": 2**64 - 1,
                                                             "d": 1.5e308}
    finally:
        amp.close()
