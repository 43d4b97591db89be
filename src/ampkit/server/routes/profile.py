"""``GET /v1/userprofile`` — the User Profile API (reference §12); the look-up is
:mod:`ampkit.server.services.profile`.

Auth is ``Authorization: Api-Key <secret key>``; its 401s are plain text, as Amplitude's are.
Past 600 requests a minute (the server is one organisation; ``profile_limits`` in the config)
the answer is the documented ``{"error": "Number of requests per minute exceeds system
limit..."}`` with a 429 (the status is not documented) and a ``Retry-After`` header.
Unknown ids answer 400 ``{"error": "User id and device id not seen before"}`` (the status is
not documented).  Recommendations and propensities are not computed locally: asked for, they
come back empty (``[]``), not ``null``, so callers can tell "asked" from "not asked".
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ampkit.server.limits import PROFILE_LIMIT_ERROR, LimitExceeded
from ampkit.server.routes.common import backend, json_response
from ampkit.server.services import profile as service


def _flag(value: Any) -> bool:
    """Given as ``true``, ``1`` or empty (``?get_amp_props``)."""
    return isinstance(value, str) and value.lower() in ("true", "1", "")


Flag = Annotated[bool, BeforeValidator(_flag)]


class ProfileQuery(BaseModel):
    """The query string (ids given empty count as absent)."""

    model_config = ConfigDict(extra="ignore")

    user_id: str | None = None
    device_id: str | None = None
    get_amp_props: Flag = False
    get_computations: Flag = False
    comp_id: str | None = None
    get_cohort_ids: Flag = False
    get_recs: Flag = False
    rec_id: str | None = None
    get_propensity: Flag = False


def _amp_props(q: ProfileQuery, found: service.Profile) -> dict[str, Any] | None:
    """``get_amp_props``: the user's properties (computations excluded, reference §12.1);
    ``get_computations``: every enabled computed property, inside ``amp_props`` — the local
    server models no computations, so none (an empty object, not the user's properties);
    ``comp_id``: those computations, each null (none exists)."""
    props: dict[str, Any] | None = None
    if q.get_amp_props:
        props = dict(found.user_properties)
        for key, ms in (("first_used", found.first_seen_ms), ("last_used", found.last_seen_ms)):
            if ms is not None:
                props[key] = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d")
        for key in ("platform", "country", "language", "app_version"):
            if key in found.fields:
                props.setdefault(key, found.fields[key])
    elif q.get_computations:
        props = {}
    if q.comp_id:
        props = {**(props or {}), **dict.fromkeys(q.comp_id.split(","))}
    return props


async def profile(request: Request) -> Response:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme != "Api-Key" or not secret.strip():
        return PlainTextResponse("Missing Api-Key in Authorization header", 401)
    server = backend(request)
    project = server.project_for_secret(secret.strip())
    if project is None:
        return PlainTextResponse("Invalid Api-Key", 401)
    try:
        server.profile_limits.admit(project.project_id)
    except LimitExceeded as exc:
        return JSONResponse({"error": PROFILE_LIMIT_ERROR}, server.profile_limits.config.status,
                            headers={"Retry-After": str(exc.retry_after)})
    q = ProfileQuery.model_validate(dict(request.query_params))  # text only: it cannot fail
    if not q.user_id and not q.device_id:
        return JSONResponse({"error": "One of user_id or device_id is required"}, 400)
    found = await server.with_state(project.project_id, service.lookup, project.project_id,
                                    q.user_id, q.device_id, q.get_cohort_ids)
    if found is None:
        return JSONResponse({"error": "User id and device id not seen before"}, 400)
    data: dict[str, Any] = {"user_id": found.user_id, "device_id": q.device_id or found.device_id,
                            "amp_props": _amp_props(q, found), "cohort_ids": found.cohort_ids,
                            "recommendations": None}
    if q.get_recs:
        now = int(dt.datetime.now(dt.UTC).timestamp())
        data["recommendations"] = [
            {"rec_id": r, "child_rec_id": r, "items": [], "is_control": False,
             "recommendation_source": "ampkit-local", "last_updated": now}
            for r in (q.rec_id or "").split(",") if r]
    if q.get_propensity:
        data["propensity"] = None
        data["propensities"] = []
    return json_response({"userData": data})
