"""``/_ampkit/*``: read back what the server stored, inject faults, reset — for tests and
for people checking their tracking code.  Basic auth with a project's key pair."""

from __future__ import annotations

import base64
import binascii
import re
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


_INTEGER = re.compile(r"-?[0-9]{1,19}")
MAX_PAGE = 100_000
INT64_MAX = 2**63 - 1


def _bad(details: str) -> Response:
    return JSONResponse({"error": {"http_code": 400, "type": "invalid_request",
                                   "message": "Invalid request", "metadata": {"details": details}}},
                        status_code=400)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not _INTEGER.fullmatch(raw):
        raise ValueError(f"{name}: must be an integer from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"{name}: must be an integer from {low} to {high}")
    return value


def routes(store: Store, faults: Faults) -> list[BaseRoute]:
    async def events(request: Request) -> Response:
        project = basic_project(store, request)
        if project is None:
            return unauthorized()
        try:
            limit = _int_param(request, "limit", 1000, 0, MAX_PAGE)
            offset = _int_param(request, "offset", 0, 0, INT64_MAX)
        except ValueError as exc:
            return _bad(str(exc))
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
                                **state.counters}
        return JSONResponse(body)  # this project's own: another's are not a key pair away

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
        """This project's faults: they apply to its own requests only (the operator's
        server-wide faults come from ``--faults``, the config file or the Python API)."""
        project = basic_project(store, request)
        if project is None:
            return unauthorized()
        if request.method == "GET":
            return JSONResponse(faults.project(project.project_id).model_dump(mode="json"))
        raw = await request.body()
        try:
            config = FaultConfig.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            return _bad(_first_error(exc))
        faults.set_project(project.project_id, config)
        return JSONResponse(config.model_dump(mode="json"))

    async def reset(request: Request) -> Response:
        project = basic_project(store, request)
        if project is None:
            return unauthorized()
        await run_in_threadpool(store.reset, project.project_id)
        await run_in_threadpool(catalog.clear, store, project.project_id)
        faults.set_project(project.project_id, FaultConfig())
        return JSONResponse({"reset": project.project_id})

    return [
        Route("/_ampkit/events", events, methods=["GET"]),
        Route("/_ampkit/stats", stats, methods=["GET"]),
        Route("/_ampkit/users/{user_id:path}", user, methods=["GET"]),
        Route("/_ampkit/groups/{group_type}/{group_value:path}", group, methods=["GET"]),
        Route("/_ampkit/faults", set_faults, methods=["GET", "POST"]),
        Route("/_ampkit/reset", reset, methods=["POST"]),
    ]
