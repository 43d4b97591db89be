"""Property-based: whatever JSON an ingestion request holds, the server answers 200 or a 4xx —
never a 5xx, never an exception — and what it acknowledges is exactly what it stores."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.server.conftest import KEY, config

from ampkit.server import Store
from ampkit.server.ingest import Outcome
from ampkit.server.services.ingestion import identify, ingest_events

EDGE_INTS = [0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), 10**12,
             1_700_000_000_000, 253_402_300_799_999, 253_402_300_800_000]
EDGE_STRINGS = ["", " ", "null", "0", "-1", "\x00", "a\x00b", "\ud7ff", "é" * 300, "x" * 1025,
                "device-00001", "user-00001", "[Amplitude] Revenue", "USD", "usd", "$set",
                "\U0001f600" * 3, "'; DROP TABLE events; --"]
json_scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(EDGE_INTS), st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(EDGE_STRINGS),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.one_of(st.sampled_from(["$set", "$add", "$unset", "$append", "plan", "n"]),
                  st.text(max_size=8)), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["event_type", "user_id", "device_id", "time", "session_id", "event_id", "insert_id",
          "price", "quantity", "revenue", "productId", "revenueType", "currency",
          "location_lat", "location_lng", "event_properties", "user_properties", "groups",
          "group_properties", "plan", "platform", "app_version", "ip", "library",
          "$skip_user_properties_sync", "extra_field"]
base_event = st.fixed_dictionaries({
    "event_type": st.sampled_from(["e1", "e2", "revenue_amount"]),
    "user_id": st.sampled_from(["user-00001", "user-00002", "user-00003"]),
    "insert_id": st.text(min_size=1, max_size=6).map(lambda s: f"ins-{s}"),
})
events = st.lists(
    st.builds(lambda base, extra: {**base, **extra}, base_event,
              st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4)),
    min_size=1, max_size=6,
)

STORE = Store(config(throttle_enabled=False, dashboard_limits={"enabled": False}))


def _count() -> int:
    row = STORE.cursor().execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(events, st.sampled_from(["httpapi", "batch"]))
def test_any_events_get_an_answer_and_acks_equal_stores(batch: list[dict[str, Any]],
                                                        api: Any) -> None:
    try:
        body = orjson.dumps({"api_key": KEY, "events": batch})
    except orjson.JSONEncodeError:  # not expressible as JSON (an int past 64 bits): skip
        return
    before = _count()
    outcome = ingest_events(STORE, api, body)
    assert isinstance(outcome, Outcome)
    assert outcome.status in (200, 400, 413), outcome.body
    stored = _count() - before
    if outcome.status == 200:
        assert stored == len(batch) - outcome.duplicates
        # every stored row reads back as an export line
        assert len(STORE.events_page(1, 100_000, 0)) == _count()
    else:
        assert stored == 0


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.dictionaries(st.sampled_from(
    ["user_id", "device_id", "user_properties", "groups", "platform", "paying", "country"]),
    json_values, max_size=4), min_size=1, max_size=3), st.booleans())
def test_any_identification_gets_an_answer(items: list[dict[str, Any]], group: bool) -> None:
    try:
        ident = orjson.dumps(items).decode()
    except orjson.JSONEncodeError:
        return
    answer = identify(STORE, {"api_key": KEY, "identification": ident}, group)
    assert answer.status in (200, 400)
