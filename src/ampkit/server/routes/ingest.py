"""``/2/httpapi``, ``/batch``, ``/identify``, ``/groupidentify`` (reference §2–5, §15); the
work is :mod:`ampkit.server.services.ingestion`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ampkit.models.ingest import ERR_INVALID_FIELDS, ERR_INVALID_JSON, IngestErrorBody
from ampkit.server.faults import BEFORE, Faults, FaultyResponse, refusal
from ampkit.server.ingest import PATHS, Api, Outcome, error
from ampkit.server.routes.common import backend
from ampkit.server.services.ingestion import (
    TextAnswer,
    accept,
    identify,
    identify_unreadable,
    ingest_events,
)

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


async def _through(faults: Faults, project_id: int, path: str,
                   answer: Callable[[], Awaitable[Response]]) -> Response:
    """Answer through the project's own injected faults (the operator's were applied by the
    middleware): a refusal before anything is stored, or the real answer failed after."""
    kind, delay = faults.draw(path, project_id, server=False)
    if kind is not None and kind in BEFORE:
        return refusal(kind)
    response = await answer()
    return response if kind is None else FaultyResponse(response, kind, delay)


async def _events(request: Request, api: Api) -> Response:
    if api == "batch":
        ctype = request.headers.get("content-type", "")
        if not ctype.lower().startswith("application/json"):
            return render(error(400, ERR_INVALID_JSON, missing_field=None,
                                reason="Content-Type must be application/json for /batch"))
    server = backend(request)
    body = await request.body()  # capped by the gate (413 past the limit)
    client = request.client
    result = await server.call(ingest_events, api, body, server.faults.project_active,
                               client.host if client is not None else None)
    if isinstance(result, Outcome):
        return render(result)
    held = result

    async def store_it() -> Response:
        return render(await server.call(accept, held.project_id, held.parsed, api, held.size))

    return await _through(server.faults, held.project_id, PATHS[api], store_it)


async def httpapi(request: Request) -> Response:
    """``POST /2/httpapi``."""
    return await _events(request, "httpapi")


async def batch(request: Request) -> Response:
    """``POST /batch`` (``Content-Type: application/json`` only)."""
    return await _events(request, "batch")


def _text_answer(done: TextAnswer) -> Response:
    if done.json is not None:
        return JSONResponse(done.json, status_code=done.status)
    return PlainTextResponse(done.text or "", status_code=done.status)


async def _identify(request: Request, group: bool) -> Response:
    params: dict[str, str] = dict(request.query_params)
    server = backend(request)
    if request.method == "POST":
        try:
            form = await request.form()
        except HTTPException as exc:  # a multipart body that does not parse
            return _text_answer(await server.call(identify_unreadable, str(exc.detail)))
        for key, value in form.multi_items():
            if isinstance(value, str):
                params[key] = value
            else:  # a file part of a multipart body
                params[key] = (await value.read()).decode("utf-8", "replace")

    async def answer() -> Response:
        return _text_answer(await server.call(identify, params, group))

    project = server.project_for_key(params.get("api_key") or "")
    if project is None or not server.faults.project_active(project.project_id):
        return await answer()
    path = "/groupidentify" if group else "/identify"
    return await _through(server.faults, project.project_id, path, answer)


async def identify_user(request: Request) -> Response:
    """``GET``/``POST /identify``."""
    return await _identify(request, group=False)


async def identify_group(request: Request) -> Response:
    """``GET``/``POST /groupidentify``."""
    return await _identify(request, group=True)
