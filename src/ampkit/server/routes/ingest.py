"""``/2/httpapi``, ``/batch``, ``/identify``, ``/groupidentify`` (reference §2–5, §15)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ampkit.models.ingest import ERR_INVALID_FIELDS, ERR_INVALID_JSON, IngestErrorBody
from ampkit.server.ingest import Api, Outcome, error
from ampkit.server.service import identify, ingest_events
from ampkit.server.store import Store

_ALWAYS = {"code", "error"}
_KEEP_EMPTY = {
    400: {"events_with_invalid_fields", "events_with_missing_fields"},
    429: {"throttled_devices", "throttled_users", "throttled_events"},
}


def render(outcome: Outcome) -> Response:
    body = outcome.body
    if not isinstance(body, IngestErrorBody):
        return JSONResponse(body.model_dump(mode="json"), status_code=200)
    data = body.model_dump(mode="json", exclude_none=True)
    keep = _ALWAYS | (_KEEP_EMPTY.get(outcome.status, set())
                      if body.error == ERR_INVALID_FIELDS or outcome.status == 429 else set())
    out: dict[str, Any] = {k: v for k, v in data.items() if k in keep or v not in ({}, [])}
    return JSONResponse(out, status_code=outcome.status)


def events_route(store: Store, api: Api) -> Any:
    async def handler(request: Request) -> Response:
        if api == "batch":
            ctype = request.headers.get("content-type", "")
            if not ctype.lower().startswith("application/json"):
                return render(error(400, ERR_INVALID_JSON,
                                    missing_field=None, reason="Content-Type must be "
                                    "application/json for /batch"))
        body = await request.body()
        outcome = await run_in_threadpool(ingest_events, store, api, body)
        return render(outcome)

    return handler


def identify_route(store: Store, group: bool) -> Any:
    async def handler(request: Request) -> Response:
        params: dict[str, str] = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            for key, value in form.multi_items():
                if isinstance(value, str):
                    params[key] = value
                else:  # a file part of a multipart body
                    params[key] = (await value.read()).decode("utf-8", "replace")
        answer = await run_in_threadpool(identify, store, params, group)
        if answer.json is not None:
            return JSONResponse(answer.json, status_code=answer.status)
        return PlainTextResponse(answer.text or "", status_code=answer.status)

    return handler


def routes(store: Store) -> list[BaseRoute]:
    return [
        Route("/2/httpapi", events_route(store, "httpapi"), methods=["POST"]),
        Route("/batch", events_route(store, "batch"), methods=["POST"]),
        Route("/identify", identify_route(store, False), methods=["GET", "POST"]),
        Route("/groupidentify", identify_route(store, True), methods=["GET", "POST"]),
    ]
