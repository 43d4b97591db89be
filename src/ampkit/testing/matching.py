"""Matching received events against what a test expects, and saying how they differ.

Pure functions over the events ``/_ampkit/events`` returns (the Export API's shape): no I/O,
no server, so the failure messages are tested on their own.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

Event = dict[str, Any]

ALIASES = {
    "insert_id": "$insert_id",
    "ip": "ip_address",
    "app_version": "version_name",
    "carrier": "device_carrier",
}
"""Names a client sends under, and the export field the server stores them in."""

NEAREST = 3
"""How many of the closest events a failure shows."""
_MISSING = object()


def expected_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with the names a client sends turned into the stored names."""
    return {ALIASES.get(name, name): value for name, value in fields.items()}


def differences(expected: Any, actual: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Where ``actual`` does not match ``expected``: ``(path, expected, actual)`` triples.

    A mapping matches partially (every expected key, recursively; more keys are fine); an
    expected ``None`` matches a null or an absent key (stored events leave nulls out); a bool
    matches only a bool (``True`` is not ``1``, as JSON and a plan's ``type`` tell them apart);
    any other value matches by ``expected == actual`` (so ``unittest.mock.ANY`` matches
    anything)."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [(path or "event", dict(expected), actual)]
        out: list[tuple[str, Any, Any]] = []
        for key, want in expected.items():
            where = f"{path}.{key}" if path else str(key)
            got = actual.get(key, _MISSING)
            if got is _MISSING:
                if want is not None:
                    out.append((where, want, _MISSING))
                continue
            out.extend(differences(want, got, where))
        return out
    return [] if _same(expected, actual) else [(path, expected, actual)]


def _same(expected: Any, actual: Any) -> bool:
    """``expected == actual`` (expected on the left: ANY and custom matchers decide), but a
    bool is never a number, inside lists too (``True == 1`` in Python, not in JSON)."""
    numbers = bool | int | float
    if isinstance(expected, numbers) and isinstance(actual, numbers):
        return (expected.__class__ is bool) == (actual.__class__ is bool) and expected == actual
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        return len(expected) == len(actual) and all(
            _same(e, a) for e, a in zip(expected, actual, strict=True))
    if expected.__class__ is dict and isinstance(actual, Mapping):
        return expected.keys() == actual.keys() and all(
            _same(v, actual[k]) for k, v in expected.items())
    return bool(expected == actual)


def matches(event: Event, event_type: str | None, fields: Mapping[str, Any]) -> bool:
    if event_type is not None and event.get("event_type") != event_type:
        return False
    return not differences(fields, event)


def show(value: Any, limit: int = 120) -> str:
    text = "(absent)" if value is _MISSING else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(event_type: str | None, fields: Mapping[str, Any]) -> str:
    """``'Signed Up' event with user_id='user-1', event_properties={'plan': 'pro'}``."""
    what = "an event" if event_type is None else f"a {event_type!r} event"
    if not fields:
        return what
    return what + " with " + ", ".join(f"{k}={show(v)}" for k, v in fields.items())


def summary(event: Event, position: int) -> str:
    """One line naming a received event: its place in arrival order, type and ids."""
    parts = [f"#{position}", repr(event.get("event_type"))]
    for key in ("user_id", "device_id"):
        if event.get(key) is not None:
            parts.append(f"{key}={event[key]!r}")
    if event.get("event_properties"):
        parts.append(f"event_properties={show(event['event_properties'], 80)}")
    return " ".join(parts)


def _types_line(events: Sequence[Event]) -> str:
    counts = Counter(str(e.get("event_type")) for e in events)
    return ", ".join(f"{t!r} ×{n}" for t, n in counts.most_common(10)) + (
        f" and {len(counts) - 10} more types" if len(counts) > 10 else "")


def nearest(events: Sequence[Event], event_type: str | None, fields: Mapping[str, Any],
            n: int = NEAREST) -> str:
    """Why no event matched: the ``n`` events of that type that differ least, with the fields
    that differ — or, when none has the type, which types did come."""
    if not events:
        return ("this project received no events at all (a client that sends in the background "
                "must be flushed first: project.flushed(client))")
    numbered = list(enumerate(events, 1))
    of_type = [(i, e) for i, e in numbered
               if event_type is None or e.get("event_type") == event_type]
    if not of_type:
        types = sorted({str(e.get("event_type")) for e in events})
        hint = difflib.get_close_matches(str(event_type), types, n=1)
        lines = [f"no {event_type!r} event was received; received: {_types_line(events)}"]
        if hint:
            lines.append(f"did you mean {hint[0]!r}?")
        return "\n".join(lines)
    ranked = sorted(of_type, key=lambda ie: len(differences(fields, ie[1])))
    kind = "events" if event_type is None else f"{event_type!r} events"
    lines = [f"received {len(of_type)} {kind}, none matching; the nearest:"]
    for i, event in ranked[:n]:
        lines.append("  " + summary(event, i))
        for where, want, got in differences(fields, event):
            lines.append(f"      {where}: expected {show(want)}, got {show(got)}")
    return "\n".join(lines)


def listing(events: Sequence[tuple[int, Event]], limit: int = 10) -> str:
    lines = ["  " + summary(e, i) for i, e in events[:limit]]
    if len(events) > limit:
        lines.append(f"  … and {len(events) - limit} more")
    return "\n".join(lines)


Step = str | tuple[str, Mapping[str, Any]]


def order_failure(events: Sequence[Event], steps: Sequence[Step]) -> str | None:
    """``None`` when ``steps`` happened in this order (other events may come between them);
    otherwise which step was not found after the previous one, and what came."""
    position = 0
    for number, step in enumerate(steps, 1):
        event_type, fields = (step, {}) if isinstance(step, str) else step
        wanted = expected_fields(fields)
        found = next((i for i in range(position, len(events))
                      if matches(events[i], event_type, wanted)), None)
        if found is None:
            where = "at all" if position == 0 else f"after step {number - 1} (event #{position})"
            anywhere = [i + 1 for i, e in enumerate(events) if matches(e, event_type, wanted)]
            seen = (f"; it was received as event {', '.join(f'#{i}' for i in anywhere[:5])}"
                    if anywhere else "")
            order = [f"#{i} {e.get('event_type')!r}" for i, e in enumerate(events, 1)]
            shown = ", ".join(order[:30]) + (" …" if len(order) > 30 else "")
            return (f"step {number}, {describe(event_type, wanted)}, was not received "
                    f"{where}{seen}\n  received, in order: {shown or '(nothing)'}")
        position = found + 1
    return None
