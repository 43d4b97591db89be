"""``/2/httpapi``, ``/batch``, ``/identify``, ``/groupidentify`` (reference §2–5, §15)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ampkit.models.ingest import ERR_INVALID_FIELDS, ERR_INVALID_JSON, IngestErrorBody
from ampkit.server.faults import BEFORE, Faults, FaultyResponse, refusal
from ampkit.server.ingest import PATHS, Api, Outcome, error
from ampkit.server.service import accept, identify, ingest_events
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


def _through(faults: Faults, project_id: int, path: str,
             answer: Callable[[], Awaitable[Response]]) -> Awaitable[Response]:
    """Answer through the project's own injected faults (the operator's were applied by the
    middleware): a refusal before anything is stored, or the real answer failed after."""

    async def run() -> Response:
        kind, delay = faults.draw(path, project_id, server=False)
        if kind is not None and kind in BEFORE:
            return refusal(kind)
        response = await answer()
        return response if kind is None else FaultyResponse(response, kind, delay)

    return run()


def events_route(store: Store, faults: Faults, api: Api) -> Any:
    path = PATHS[api]

    async def handler(request: Request) -> Response:
        if api == "batch":
            ctype = request.headers.get("content-type", "")
            if not ctype.lower().startswith("application/json"):
                return render(error(400, ERR_INVALID_JSON,
                                    missing_field=None, reason="Content-Type must be "
                                    "application/json for /batch"))
        body = await request.body()  # capped by the gate (413 past the limit)
        result = await run_in_threadpool(ingest_events, store, api, body,
                                         faults.project_active)
        if isinstance(result, Outcome):
            return render(result)
        held = result

        async def store_it() -> Response:
            return render(await run_in_threadpool(accept, store, held.project_id, held.parsed,
                                                  api, held.size))

        return await _through(faults, held.project_id, path, store_it)

    return handler


def identify_route(store: Store, faults: Faults, group: bool) -> Any:
    path = "/groupidentify" if group else "/identify"

    async def handler(request: Request) -> Response:
        params: dict[str, str] = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            for key, value in form.multi_items():
                if isinstance(value, str):
                    params[key] = value
                else:  # a file part of a multipart body
                    params[key] = (await value.read()).decode("utf-8", "replace")

        async def answer() -> Response:
            done = await run_in_threadpool(identify, store, params, group)
            if done.json is not None:
                return JSONResponse(done.json, status_code=done.status)
            return PlainTextResponse(done.text or "", status_code=done.status)

        project = store.projects_by_key.get(params.get("api_key") or "")
        if project is None or not faults.project_active(project.project_id):
            return await answer()
        return await _through(faults, project.project_id, path, answer)

    return handler


def routes(store: Store, faults: Faults) -> list[BaseRoute]:
    return [
        Route("/2/httpapi", events_route(store, faults, "httpapi"), methods=["POST"]),
        Route("/batch", events_route(store, faults, "batch"), methods=["POST"]),
        Route("/identify", identify_route(store, faults, False), methods=["GET", "POST"]),
        Route("/groupidentify", identify_route(store, faults, True), methods=["GET", "POST"]),
    ]
