"""Tracking plans at ingestion, and the rows of the bad-event bucket — worked out without I/O.

:func:`judge` checks a request's events against the project's plan (outside the store's lock):
findings its policy ``allow``\\ s are dropped, ``flag``\\ ged ones are recorded and the events
stored, and one ``reject``\\ ed finding refuses the **whole request** with Amplitude's answer for
invalid events (400 ``Invalid field values on some events``, each broken field in
``events_with_invalid_fields`` — or ``events_with_missing_fields`` for a required property —
with the indexes of the events), as Amplitude refuses a whole batch for one invalid event.

:func:`refusal_rows` gives the rows of a request refused by Amplitude's own rules (invalid or
missing ids, bad field types, silenced devices, a body without events…).

The store keeps the newest ``LimitsConfig.bad_events_kept`` rows per project (10,000), and each
request once, whatever number of its rows (:meth:`ampkit.server.store.Store.record_bad`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from ampkit.models.ingest import ERR_INVALID_FIELDS, ERR_SILENCED
from ampkit.models.plan import PlanFinding, TrackingPlan, escape
from ampkit.models.rules import Violation, check_event
from ampkit.server.config import ProjectConfig, ServerConfig
from ampkit.server.ingest import Outcome, error
from ampkit.server.schema import BadEventRow, BadRequestRow

REQUEST_BODY_CAP = 256 * 1024
"""Bytes of a request body kept with its bad events (the rest is cut, ``truncated``)."""
EVENT_CAP = 64 * 1024
"""An event whose JSON is longer is kept as its ids and type only (``$ampkit_truncated``)."""
MAX_ROWS_PER_REQUEST = 2_000
"""Rows one request adds at most (2,000 events × 20 schema errors would be 40,000)."""


def plan_for(project: ProjectConfig, config: ServerConfig) -> TrackingPlan | None:
    """The plan ``project``'s events are checked against: its own, else the server's."""
    return project.plan if project.plan is not None else config.plan


@dataclass
class Judgement:
    """What a plan makes of a request's events: the findings to record, per event index, and
    the 400 answer when one of them is rejected."""

    findings: dict[int, list[PlanFinding]]
    refused: Outcome | None


def judge(plan: TrackingPlan, events: list[Any]) -> Judgement | None:
    """``events`` against ``plan`` (``None``: nothing to record or refuse)."""
    recorded: dict[int, list[PlanFinding]] = {}
    rejected: dict[int, list[PlanFinding]] = {}
    for i, event in enumerate(events):
        found = plan.check(event)
        if not found:
            continue
        by = plan.triage(found)
        kept = by["reject"] + by["flag"]
        if kept:
            recorded[i] = kept
        if by["reject"]:
            rejected[i] = by["reject"]
    if not recorded:
        return None
    return Judgement(recorded, _refusal(rejected) if rejected else None)


def _refusal(rejected: Mapping[int, list[PlanFinding]]) -> Outcome:
    invalid: dict[str, list[int]] = {}
    missing: dict[str, list[int]] = {}
    for index in sorted(rejected):
        for finding in rejected[index]:
            indexes = (missing if finding.missing else invalid).setdefault(
                finding.field or "event", [])
            if not indexes or indexes[-1] != index:
                indexes.append(index)
    return error(400, ERR_INVALID_FIELDS, events_with_invalid_fields=invalid,
                 events_with_missing_fields=missing)


def plan_rows(events: list[Any], judged: Judgement, disposition: str) -> list[BadEventRow]:
    """The bucket's rows of a judged request (``disposition``: what became of its events)."""
    rows = [row for i, found in sorted(judged.findings.items())
            for row in _rows(events[i], [(f.kind, f.rule, f.path) for f in found], disposition)]
    return rows[:MAX_ROWS_PER_REQUEST]


def _rows(event: Any, broken: Iterable[tuple[str, str, str]],
          disposition: str) -> list[BadEventRow]:
    """A row per (kind, rule, path) ``event`` broke; the event's JSON is written once."""
    etype = insert_id = text = None
    if isinstance(event, dict):
        etype, insert_id, text = event.get("event_type"), event.get("insert_id"), event_text(event)
    return [BadEventRow(kind, rule, path, disposition,
                        etype if isinstance(etype, str) else None,
                        insert_id if isinstance(insert_id, str) else None, text)
            for kind, rule, path in broken]


def oversized_rows(events: Sequence[Any], oversized: Iterable[tuple[int, str, int]],
                   limit: int) -> list[BadEventRow]:
    """Stored events whose property update was not applied: past ``limit`` bytes."""
    rows: list[BadEventRow] = []
    for i, field, size in oversized:
        rule = (f"{field} would weigh {size:,} bytes, over limits.max_user_properties_bytes "
                f"({limit:,}): this update was not applied, the event was stored")
        rows += _rows(events[i], [("properties_limit", rule, f"/{field}")], "stored")
    return rows


def event_text(event: dict[str, Any]) -> str | None:
    """The event as JSON, or its ids and type only when it is longer than :data:`EVENT_CAP`."""
    try:
        text = orjson.dumps(event)
    except (TypeError, orjson.JSONEncodeError):
        return None
    if len(text) > EVENT_CAP:
        text = orjson.dumps({**{k: event.get(k) for k in (
            "event_type", "insert_id", "user_id", "device_id", "time")},
            "$ampkit_truncated": len(text)})
    return text.decode()


# --- requests refused by Amplitude's own rules ---------------------------------------------
def refusal_rows(events: list[Any] | None, min_id_length: int,
                 outcome: Outcome) -> list[BadEventRow]:
    """The bucket's rows of a request refused with ``outcome``: a row per broken rule of each
    event named, or one row for the request (``events`` is ``None`` when the body never got as
    far as its events)."""
    body = outcome.body
    rule = getattr(body, "error", "") or f"HTTP {outcome.status}"
    if events and rule == ERR_INVALID_FIELDS:
        rows = [row for i, violations in _violations(events, min_id_length)
                for row in violation_rows(events[i], violations)]
        return rows[:MAX_ROWS_PER_REQUEST]
    if events and rule == ERR_SILENCED:
        silenced = getattr(body, "silenced_events", [])
        broke = [("rejected_request", f"{ERR_SILENCED}: the device_id is silenced", "/device_id")]
        return [row for i in silenced[:MAX_ROWS_PER_REQUEST]
                for row in _rows(events[i], broke, "rejected")]
    missing = getattr(body, "missing_field", None)
    named = [missing] if missing else list(getattr(body, "events_with_invalid_fields", {}))
    text = f"{rule}: {', '.join(named)}" if named else rule
    return [BadEventRow("rejected_request", text, field_pointer(named[0]) if named else "",
                        "rejected")]


def violation_rows(event: Any, violations: Iterable[Violation]) -> list[BadEventRow]:
    """A row per rule of Amplitude's that ``event`` (or an identification) breaks."""
    return _rows(event, [("rejected_request", f"{v.field} {v.rule}", field_pointer(v.field))
                         for v in violations], "rejected")


def _violations(events: list[Any], min_id_length: int) -> Iterable[tuple[int, list[Violation]]]:
    for i, event in enumerate(events):
        found = check_event(event, min_id_length=min_id_length, strip_short_ids=True)
        if found:
            yield i, found


_PART = re.compile(r"\[(\d+)\]")


def field_pointer(field: str) -> str:
    """``event_properties.items[2].sku`` → ``/event_properties/items/2/sku`` (``event``, the
    event itself: ``""``)."""
    if field == "event":
        return ""
    parts = _PART.sub(r".\1", field).split(".")
    return "".join(f"/{escape(p)}" for p in parts if p)


def request_row(path: str, body: bytes, api_key: str | None) -> BadRequestRow:
    """A request to keep: a new id, the body cut at :data:`REQUEST_BODY_CAP` with the API key
    replaced by ``***``."""
    if api_key and len(api_key) >= 4:
        body = _without_key(body.replace(api_key.encode("utf-8", "surrogatepass"), b"***"),
                            api_key)
    kept = body[:REQUEST_BODY_CAP]
    return BadRequestRow(secrets.token_hex(8), path, len(body), len(kept) < len(body),
                         kept.decode("utf-8", "replace"))


def _without_key(body: bytes, api_key: str) -> bytes:
    """``body`` with the key gone even where it was spelled otherwise — JSON escapes
    (``"\\u0061…"``) or percent-encoding (``api_key=%61…``), which a byte replace misses: the
    body is then written again from what it decodes to, the key as ``***``."""
    if api_key_of(body) == api_key:
        data = orjson.loads(body)
        data["api_key"] = "***"
        return orjson.dumps(data)
    try:
        form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return body
    if any(value == api_key for _, value in form):
        return urlencode([(k, "***" if v == api_key else v) for k, v in form]).encode()
    return body


def api_key_of(body: bytes) -> str | None:
    """The ``api_key`` a JSON body names, if any (only for a request already refused)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    key = data.get("api_key") if isinstance(data, dict) else None
    return key if isinstance(key, str) else None
