"""``/_ampkit/*``: read back what the server stored, inject faults, reset — for tests and
for people checking their tracking code.  Basic auth with a project's key pair."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ampkit.server import catalog
from ampkit.server.config import FaultConfig, ProjectConfig
from ampkit.server.faults import Faults
from ampkit.server.store import Store


def basic_project(store: Store, request: Request) -> ProjectConfig | None:
    """The project whose ``api_key:secret_key`` pair is in the Basic header."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        pair = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    api_key, sep, secret = pair.partition(":")
    return store.project_for_basic(api_key, secret) if sep else None


def unauthorized() -> Response:
    return JSONResponse({"error": {"http_code": 401, "type": "unauthorized",
                                   "message": "Invalid API key or secret key"}},
                        status_code=401, headers={"WWW-Authenticate": 'Basic realm="ampkit"'})


def routes(store: Store, faults: Faults) -> list[BaseRoute]:
    async def events(request: Request) -> Response:
        project = basic_project(store, request)
        if project is None:
            return unauthorized()
        try:
            limit = min(int(request.query_params.get("limit", "1000")), 100_000)
            offset = int(request.query_params.get("offset", "0"))
        except ValueError:
            return JSONResponse({"error": "limit and offset must be integers"}, 400)
        rows = await run_in_threadpool(store.events_page, project.project_id, limit, offset)
        return Response(orjson.dumps(rows), media_type="application/json")

    async def stats(request: Request) -> Response:
        project = basic_project(store, request)
        if project is None:
            return unauthorized()
        count = await run_in_threadpool(store.count_events, project.project_id)
        state = store.states[project.project_id]
        body: dict[str, Any] = {"project_id": project.project_id, "events": count,
                                "users": len(state.users), "groups": len(state.groups),
                                **state.counters,
                                "faults_injected": store.counters["faults_injected"],
                                "server": dict(store.counters)}
        return JSONResponse(body)

    async def user(request: Request) -> Response:
        project = basic_project(store, request)
        if project is None:
            return unauthorized()
        snap = store.user_snapshot(project.project_id, request.path_params["user_id"])
        if snap is None:
            return JSONResponse({"error": "unknown user_id"}, status_code=404)
        return Response(orjson.dumps(snap), media_type="application/json")

    async def group(request: Request) -> Response:
        project = basic_project(store, request)
        if project is None:
            return unauthorized()
        snap = store.group_snapshot(project.project_id, request.path_params["group_type"],
                                    request.path_params["group_value"])
        if snap is None:
            return JSONResponse({"error": "unknown group"}, status_code=404)
        return JSONResponse(snap)

    async def set_faults(request: Request) -> Response:
        if basic_project(store, request) is None:
            return unauthorized()
        if request.method == "GET":
            return JSONResponse(faults.config.model_dump(mode="json"))
        raw = await request.body()
        try:
            config = FaultConfig.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        faults.update(config)
        return JSONResponse(config.model_dump(mode="json"))

    async def reset(request: Request) -> Response:
        project = basic_project(store, request)
        if project is None:
            return unauthorized()
        await run_in_threadpool(store.reset, project.project_id)
        await run_in_threadpool(catalog.clear, store, project.project_id)
        return JSONResponse({"reset": project.project_id})

    return [
        Route("/_ampkit/events", events, methods=["GET"]),
        Route("/_ampkit/stats", stats, methods=["GET"]),
        Route("/_ampkit/users/{user_id:path}", user, methods=["GET"]),
        Route("/_ampkit/groups/{group_type}/{group_value:path}", group, methods=["GET"]),
        Route("/_ampkit/faults", set_faults, methods=["GET", "POST"]),
        Route("/_ampkit/reset", reset, methods=["POST"]),
    ]
