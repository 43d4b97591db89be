"""``GET /v1/userprofile`` — the User Profile API (reference §12).

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
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ampkit.server.limits import PROFILE_LIMIT_ERROR, LimitExceeded
from ampkit.server.store import Store


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name)
    return value is not None and value.lower() in ("true", "1", "")


def routes(store: Store) -> list[BaseRoute]:
    def cohort_ids(project_id: int, amplitude_id: int) -> list[str]:
        rows = store.cursor().execute(
            "SELECT cohort_id FROM cohort_members WHERE project_id = ? AND amplitude_id = ? "
            "ORDER BY cohort_id", [project_id, amplitude_id]).fetchall()
        return [r[0] for r in rows]

    async def profile(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme != "Api-Key" or not secret.strip():
            return PlainTextResponse("Missing Api-Key in Authorization header", 401)
        project = store.project_for_secret(secret.strip())
        if project is None:
            return PlainTextResponse("Invalid Api-Key", 401)
        try:
            store.profile_limits.admit(project.project_id)
        except LimitExceeded as exc:
            return JSONResponse({"error": PROFILE_LIMIT_ERROR},
                                store.profile_limits.config.status,
                                headers={"Retry-After": str(exc.retry_after)})
        user_id = request.query_params.get("user_id")
        device_id = request.query_params.get("device_id")
        if not user_id and not device_id:
            return JSONResponse({"error": "One of user_id or device_id is required"}, 400)
        state = store.states[project.project_id]
        with store.lock:
            amp = state.by_user.get(user_id) if user_id else None
            if amp is None and device_id:
                amp = state.by_device.get(device_id)
            user = state.users.get(amp) if amp is not None else None
            snapshot = None if user is None else (
                user.user_id, user.device_id, dict(user.user_properties), user.first_seen_ms,
                user.last_seen_ms, dict(user.fields), user.amplitude_id)
        if snapshot is None:
            return JSONResponse({"error": "User id and device id not seen before"}, 400)
        uid, did, props, first, last, fields, amplitude_id = snapshot
        data: dict[str, Any] = {"user_id": uid, "device_id": device_id or did,
                                "amp_props": None, "cohort_ids": None,
                                "recommendations": None}
        if _flag(request, "get_amp_props") or _flag(request, "get_computations"):
            amp_props: dict[str, Any] = dict(props)
            if _flag(request, "get_amp_props"):
                for key, ms in (("first_used", first), ("last_used", last)):
                    if ms is not None:
                        amp_props[key] = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime(
                            "%Y-%m-%d")
                for key in ("platform", "country", "language", "app_version"):
                    if key in fields:
                        amp_props.setdefault(key, fields[key])
            data["amp_props"] = amp_props
        comp_ids = request.query_params.get("comp_id")
        if comp_ids:
            data["amp_props"] = {**(data["amp_props"] or {}),
                                 **dict.fromkeys(comp_ids.split(","))}
        if _flag(request, "get_cohort_ids"):
            data["cohort_ids"] = await run_in_threadpool(cohort_ids, project.project_id,
                                                         amplitude_id)
        if _flag(request, "get_recs"):
            rec_ids = [r for r in (request.query_params.get("rec_id") or "").split(",") if r]
            now = int(dt.datetime.now(dt.UTC).timestamp())
            data["recommendations"] = [
                {"rec_id": r, "child_rec_id": r, "items": [], "is_control": False,
                 "recommendation_source": "ampkit-local", "last_updated": now} for r in rec_ids]
        if _flag(request, "get_propensity"):
            data["propensity"] = None
            data["propensities"] = []
        return Response(orjson.dumps({"userData": data}), media_type="application/json")

    return [Route("/v1/userprofile", profile, methods=["GET"])]
