"""``GET /v1/userprofile`` as data: the request spec and the answer parser (reference §12).

Auth ``Authorization: Api-Key <secret key>`` (family ``"profile"``, limit class ``"profile"``).
Bad keys answer 401 with a **plain-text** body (``Invalid Api-Key``), which
:func:`~ampkit.errors.error_for` turns into :class:`~ampkit.errors.AuthError`.

Unconfirmed statuses, handled whatever they are: ``{"error": "User id and device id not seen
before"}`` (200 or 4xx) raises :class:`~ampkit.errors.NoData`; ``{"error": "Number of requests
per minute exceeds system limit..."}`` raises :class:`~ampkit.errors.RateLimited` naming the
600 requests/minute limit (a 429 is retried by the transport first).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import orjson
from pydantic import ValidationError

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.errors import APIStatusError, NoData, error_for, is_profile_limit
from ampkit.models.profile import NOT_SEEN, UserProfile, UserProfileQuery

PROFILE_PATH = "/v1/userprofile"
HANDLED_STATUSES = frozenset({400, 404})
"""Read here rather than raised by the transport, to recognise the "not seen" answer."""


def request(query: UserProfileQuery) -> RequestSpec:
    return RequestSpec("GET", PROFILE_PATH, "profile", params=query.params(),
                       auth="api_key_header", limit_class="profile",
                       handled_statuses=HANDLED_STATUSES)


def _body(raw: RawResponse) -> Any:
    try:
        return orjson.loads(raw.content) if raw.content.strip() else None
    except orjson.JSONDecodeError:
        return None


def parse(raw: RawResponse) -> UserProfile:
    body = _body(raw)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str) and NOT_SEEN in error.lower():
        raise NoData(error, status=raw.status, endpoint=PROFILE_PATH, body=body)
    # error_for reads the rate-limit body as RateLimited whatever its status, 2xx included
    if raw.status >= 300 or (isinstance(error, str) and is_profile_limit(error, PROFILE_PATH)):
        raise error_for(raw.status, raw.content, endpoint=PROFILE_PATH, headers=raw.headers)
    if not isinstance(body, dict):
        raise APIStatusError(
            f"answer is not a JSON object: {raw.text[:200]!r}", status=raw.status,
            endpoint=PROFILE_PATH,
        )
    try:
        return UserProfile.from_body(body)
    except ValidationError as exc:
        raise APIStatusError(
            f"unexpected answer shape: {exc.errors()[0]['msg']}", status=raw.status,
            endpoint=PROFILE_PATH,
        ) from exc


def flow(query: UserProfileQuery) -> Generator[RequestSpec, RawResponse, UserProfile]:
    """The one-request flow (a core :data:`~ampkit.core.flow.Flow`)."""
    raw = yield request(query)
    return parse(raw)
