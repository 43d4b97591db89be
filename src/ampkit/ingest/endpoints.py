"""The four ingestion endpoints as data: request specs and answer parsers (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.errors import AmplitudeError, error_for
from ampkit.models import IngestErrorBody, SuccessSummary

HTTPAPI = "/2/httpapi"
BATCH = "/batch"
IDENTIFY = "/identify"
GROUPIDENTIFY = "/groupidentify"

HTTPAPI_MAX_BYTES = 1_000_000
BATCH_MAX_BYTES = 20_000_000
MAX_EVENTS_PER_REQUEST = 2000
# statuses the ingestion flow reads itself (partial 400, 413 halving, per-user 429)
FLOW_STATUSES = frozenset({400, 413, 429})


def events_body(payloads: Sequence[bytes], min_id_length: int | None = None) -> bytes:
    """``{"events":[...],"options":{...}}`` from already-encoded events (api_key added later)."""
    body = b'{"events":[' + b",".join(payloads) + b"]"
    if min_id_length is not None:
        body += b',"options":' + orjson.dumps({"min_id_length": min_id_length})
    return body + b"}"


def events_spec(
    payloads: Sequence[bytes], *, use_batch: bool = False, min_id_length: int | None = None
) -> RequestSpec:
    """``POST /2/httpapi`` (or ``/batch``) with encoded events."""
    path = BATCH if use_batch else HTTPAPI
    return RequestSpec(
        method="POST",
        path=path,
        family="ingest",
        content=events_body(payloads, min_id_length),
        headers=(("Content-Type", "application/json"),),
        auth="json_body_key",
        limit_class="ingest",
        handled_statuses=FLOW_STATUSES,
        expect="ingest_summary",
    )


ADDING_OPERATIONS = frozenset({"$add", "$append", "$prepend"})
"""Property operations that change a value again each time they are applied (the Identify
API has no ``insert_id`` to drop a resent one); the others leave it as the first did."""


def adds_again(identifications: Sequence[dict[str, Any]], *, group: bool = False) -> bool:
    """Whether applying ``identifications`` twice would differ from applying them once."""
    field = "group_properties" if group else "user_properties"
    for ident in identifications:
        ops = ident.get(field)
        if isinstance(ops, dict) and not ADDING_OPERATIONS.isdisjoint(ops):
            return True
    return False


def identify_spec(identifications: Sequence[dict[str, Any]], *, group: bool = False) -> RequestSpec:
    """``POST /identify`` or ``/groupidentify``: a form whose ``identification`` is JSON text.
    One that ``$add``s, ``$append``s or ``$prepend``s is not sent again after an attempt whose
    effect is unknown (``resend_when_unsure``): a resend would apply it twice."""
    path = GROUPIDENTIFY if group else IDENTIFY
    ident = orjson.dumps(list(identifications)).decode()
    return RequestSpec(
        method="POST",
        path=path,
        family="ingest",
        form=(("identification", ident),),
        auth="form_key",
        limit_class="ingest",
        expect="identify_success",
        resend_when_unsure=not adds_again(identifications, group=group),
    )


def parse_success(raw: RawResponse) -> SuccessSummary | None:
    """The 200 body of httpapi/batch (``None`` when a proxy answered without one)."""
    try:
        return SuccessSummary.model_validate_json(raw.content)
    except ValueError:
        return None


def parse_error_body(raw: RawResponse) -> IngestErrorBody:
    """Any error body of the family; a non-JSON body becomes ``error`` text."""
    try:
        data = orjson.loads(raw.content) if raw.content else {}
    except orjson.JSONDecodeError:
        data = {"error": raw.text[:500]}
    if not isinstance(data, dict):
        data = {"error": str(data)}
    data.setdefault("code", raw.status)
    try:
        return IngestErrorBody.model_validate(data)
    except ValueError:
        return IngestErrorBody(code=raw.status, error=str(data.get("error", ""))[:500])


def check_identify(raw: RawResponse, endpoint: str, secrets: Sequence[str]) -> None:
    """Identify answers 200 ``success`` (the transport retries any other 2xx, see
    ``identify_spec``'s ``expect``); an error status becomes our exception."""
    if raw.status >= 300:
        raise error_for(raw.status, raw.content, endpoint=endpoint, secrets=secrets)


__all__ = [
    "ADDING_OPERATIONS",
    "AmplitudeError",
    "adds_again",
    "events_body",
    "events_spec",
    "identify_spec",
    "parse_error_body",
    "parse_success",
]
