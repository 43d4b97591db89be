"""Whether a 2xx answer is the success answer its request expects — pure, no I/O.

A proxy, a captive portal or a wrong base URL can answer 200 (or 202, 204) without Amplitude
having taken anything.  Only Amplitude's own success answer proves delivery: for ``/2/httpapi``
and ``/batch`` a 200 whose body is a JSON object with ``code`` 200 and the ``SuccessSummary``
fields, for ``/identify`` and ``/groupidentify`` a 200 whose body is ``success`` (or a JSON
object with ``code`` 200).
"""

from __future__ import annotations

import orjson
from pydantic import ValidationError

from ampkit.core.spec import Expect, RawResponse
from ampkit.models import SuccessSummary


def _excerpt(content: bytes) -> str:
    text = content[:80].decode("utf-8", "replace").strip()
    return repr(text + ("…" if len(content) > 80 else "")) if text else "an empty body"


def unexpected(expect: Expect, raw: RawResponse) -> str | None:
    """Why ``raw`` (a 2xx) is not the success answer ``expect`` names; ``None`` when it is."""
    if expect == "2xx":
        return None
    if raw.status != 200:
        return f"HTTP {raw.status} instead of 200"
    if expect == "identify_success":
        # the text ``success`` (observed; reference §4.3), or, should Amplitude ever answer
        # as its other ingestion endpoints do, a JSON object with code 200
        if raw.content.strip().strip(b'"').lower() == b"success":
            return None
        try:
            data = orjson.loads(raw.content)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and data.get("code") == 200:
            return None
        return f"{_excerpt(raw.content)} instead of 'success'"
    try:
        data = orjson.loads(raw.content)
    except orjson.JSONDecodeError:
        return f"a body that is not JSON ({_excerpt(raw.content)})"
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__} instead of an object"
    if data.get("code") != 200:
        return f"code {data.get('code')!r} instead of 200 in the body"
    try:
        SuccessSummary.model_validate(data)
    except ValidationError:
        return "a body without events_ingested, payload_size_bytes and server_upload_time"
    return None


__all__ = ["unexpected"]
