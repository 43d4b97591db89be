"""The shared validation rules and property operations (pure functions)."""

from __future__ import annotations

import pytest

from ampkit.models.rules import (
    apply_operations,
    check_event,
    check_group_identification,
    check_identification,
    index_violations,
)


def fields(event: object, **kw: object) -> list[tuple[str, str]]:
    return [(v.field, v.kind) for v in check_event(event, **kw)]  # type: ignore[arg-type]


def test_valid_minimal_event_has_no_violation() -> None:
    assert check_event({"event_type": "open", "user_id": "user-1"}) == []


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"user_id": "user-1"}, [("event_type", "missing")]),
        ({"event_type": "x"}, [("user_id", "missing")]),
        ({"event_type": "x", "user_id": "abc"}, [("user_id", "invalid")]),
        ({"event_type": "x", "user_id": "null"}, [("user_id", "invalid")]),
        ({"event_type": "x", "device_id": "NULL"}, [("device_id", "invalid")]),
        ({"event_type": "x", "user_id": "user-1", "time": "2020-01-01"}, [("time", "invalid")]),
        ({"event_type": "x", "user_id": "user-1", "time": 1_600_000_000}, [("time", "invalid")]),
        ({"event_type": "x", "user_id": "user-1", "time": True}, [("time", "invalid")]),
        ({"event_type": "[Amplitude] Revenue", "user_id": "user-1"}, [("event_type", "invalid")]),
        ({"event_type": "x", "user_id": "user-1", "currency": "usd"}, [("currency", "invalid")]),
        ({"event_type": "x", "user_id": "user-1", "productId": "p"}, [("revenue", "missing")]),
        ({"event_type": "x", "user_id": "user-1", "price": float("nan")}, [("price", "invalid")]),
        ({"event_type": "x", "user_id": "user-1", "plan": {"other": "1"}},
         [("plan.other", "invalid")]),
        ({"event_type": "x", "user_id": "user-1", "groups": {str(i): "a" for i in range(6)}},
         [("groups", "invalid")]),
    ],
)
def test_each_rule_names_its_field(event: dict[str, object], expected: list[object]) -> None:
    assert fields(event) == expected


def test_min_id_length_is_configurable_and_server_strips_short_ids() -> None:
    assert check_event({"event_type": "x", "user_id": "abc"}, min_id_length=3) == []
    # server: a too-short id is removed; the event stays valid if the other id is fine
    ev = {"event_type": "x", "user_id": "abc", "device_id": "device-1"}
    assert check_event(ev, strip_short_ids=True) == []
    assert fields({"event_type": "x", "user_id": "abc"}, strip_short_ids=True) == [
        ("user_id", "missing")
    ]


@pytest.mark.parametrize(
    ("props", "field"),
    [
        ({"$set": {"a": 1}, "plain": 2}, "user_properties.plain"),
        ({"$bogus": {"a": 1}}, "user_properties.$bogus"),
        ({"$set": {"a": 1}, "$add": {"a": 2}}, "user_properties.$add.a"),
        ({"$add": {"n": "one"}}, "user_properties.$add.n"),
        ({"$clearAll": "-", "$set": {"a": 1}}, "user_properties.$clearAll"),
        ({"$set": "notadict"}, "user_properties.$set"),
    ],
)
def test_operation_rules(props: dict[str, object], field: str) -> None:
    violations = check_event({"event_type": "$identify", "user_id": "user-1",
                              "user_properties": props})
    assert [v.field for v in violations] == [field]


def test_group_properties_allow_only_group_operations() -> None:
    ev = {"event_type": "$groupidentify", "user_id": "user-1", "groups": {"org": "1"},
          "group_properties": {"$remove": {"a": 1}}}
    assert [v.field for v in check_event(ev)] == ["group_properties.$remove"]


def test_identification_rules() -> None:
    assert check_identification({"user_id": "user-1", "user_properties": {"a": 1}}) == []
    assert [v.field for v in check_identification({"user_properties": {}})] == ["user_id"]
    assert [v.field for v in check_group_identification({"group_type": "org"})] == [
        "group_value", "group_properties"]


def test_index_violations_lists_every_failing_index() -> None:
    per_event = {
        3: check_event({"user_id": "user-1"}),
        4: check_event({"user_id": "user-1", "event_type": "x", "time": "bad"}),
        7: check_event({"user_id": "user-1"}),
    }
    invalid, missing = index_violations(per_event)
    assert missing == {"event_type": [3, 7]}
    assert invalid == {"time": [4]}


def test_apply_operations_semantics() -> None:
    start = {"n": 1, "tags": ["a", "b"], "plan": "free", "gone": 1}
    out = apply_operations(
        start,
        {
            "$set": {"plan": "pro"},
            "$setOnce": {"plan_first": "pro", "n0": 0},
            "$add": {"n": 2},
            "$append": {"tags": "c"},
            "$unset": {"gone": "-"},
        },
    )
    assert out == {"n": 3, "tags": ["a", "b", "c"], "plan": "pro", "plan_first": "pro", "n0": 0}
    assert start["n"] == 1  # not mutated
    assert apply_operations({"x": 1}, {"$setOnce": {"x": 2}}) == {"x": 1}
    assert apply_operations({"l": [1, 2]}, {"$prepend": {"l": [0]}}) == {"l": [0, 1, 2]}
    assert apply_operations({"l": [1, 2]}, {"$preInsert": {"l": [2, 0]}}) == {"l": [0, 1, 2]}
    assert apply_operations({"l": [1, 2]}, {"$postInsert": {"l": [2, 3]}}) == {"l": [1, 2, 3]}
    assert apply_operations({"l": [1, 2, 1]}, {"$remove": {"l": 1}}) == {"l": [2]}
    # "only if not already present" holds among the values given too; $remove of a property
    # the user lacks makes none (reference §2.3)
    assert apply_operations({}, {"$postInsert": {"l": ["x", "x"]}}) == {"l": ["x"]}
    assert apply_operations({"l": [1]}, {"$preInsert": {"l": [0, 0, 1]}}) == {"l": [0, 1]}
    assert apply_operations({"a": 1}, {"$remove": {"tags": "x"},
                                       "$set": {"b": 2}}) == {"a": 1, "b": 2}
    assert apply_operations({"a": 1, "b": 2}, {"$clearAll": "-"}) == {}
    assert apply_operations({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
