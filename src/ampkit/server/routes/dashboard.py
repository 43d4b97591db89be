"""Dashboard REST API (reference §10): every endpoint computed with DuckDB from the stored
events, in the project's time zone; saved charts (``/api/3/chart/{id}/query`` and ``/csv``);
and ``POST /_ampkit/charts`` (JSON ``{chart_id?, endpoint, params}`` → ``{"chart_id"}``) to
save one — see :mod:`ampkit.server.query.charts`.

Each route: Basic ``api_key:secret_key`` (401 otherwise), the DuckDB work in a worker thread,
and bad parameters answered 400 with Amplitude's error envelope::

    {"error": {"http_code": 400, "type": "invalid_request", "message": "Invalid parameter e",
               "metadata": {"details": "e: must be valid JSON", "parameter": "e"}}}
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ampkit.server.config import ProjectConfig
from ampkit.server.limits import LimitExceeded
from ampkit.server.query import charts
from ampkit.server.query.clock import Clock
from ampkit.server.query.common import Ctx, QueryError, QueryParams
from ampkit.server.query.endpoints import ENDPOINTS, Compute
from ampkit.server.routes.common import error_response, require_project
from ampkit.server.store import Store


def run(store: Store, project: ProjectConfig, compute: Compute, params: QueryParams) -> Any:
    """Run one computer on a fresh cursor, in one read transaction (a worker thread)."""
    cur = store.cursor()
    try:
        cur.execute("BEGIN TRANSACTION")  # one snapshot for every query of the request
        try:
            return compute(Ctx(cur, project.project_id, Clock(project.timezone)), params)
        finally:
            cur.execute("ROLLBACK")
    finally:
        cur.close()


def query_error(exc: QueryError) -> Response:
    message = exc.message or ("Not found" if exc.status == 404
                              else f"Invalid parameter {exc.param}")
    return error_response(exc.status, message, exc.details, kind=exc.kind,
                          parameter=exc.param)


def json_response(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def limited(exc: LimitExceeded) -> Response:
    """Amplitude's 429, naming the limit (body shape undocumented: the Dashboard envelope)."""
    response = error_response(429, f"Exceeded rate limit: {exc.limit}", exc.detail,
                              limit=exc.limit)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def routes(store: Store) -> list[BaseRoute]:
    def endpoint(path: str, compute: Compute) -> Any:
        async def handle(request: Request) -> Response:
            project = require_project(store, request)
            if isinstance(project, Response):
                return project
            items = request.query_params.multi_items()
            try:
                slot = store.dashboard_limits.admit(project.project_id, path, items)
            except LimitExceeded as exc:
                return limited(exc)
            params = QueryParams(items)
            try:
                body = await run_in_threadpool(run, store, project, compute, params)
            except QueryError as exc:
                return query_error(exc)
            finally:
                if slot:
                    store.dashboard_limits.release(project.project_id, path)
            return json_response(body)

        return handle

    def save(project_id: int, chart_id: str, endpoint: str, params: QueryParams) -> None:
        with store.transaction() as con:
            con.execute("INSERT OR REPLACE INTO charts VALUES (?, ?, ?, ?)",
                        [project_id, chart_id, endpoint, charts.as_json(params)])

    async def save_chart(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        try:
            chart_id, path, params = charts.definition(await request.body())
            await run_in_threadpool(run, store, project, ENDPOINTS[path], params)
        except QueryError as exc:
            return query_error(exc)
        chart_id = chart_id or charts.new_id()
        await run_in_threadpool(save, project.project_id, chart_id, path, params)
        return JSONResponse({"chart_id": chart_id, "endpoint": path})

    def chart_route(csv: bool) -> Any:
        async def handle(request: Request) -> Response:
            project = require_project(store, request)
            if isinstance(project, Response):
                return project
            chart_id = request.path_params["chart_id"]
            found = await run_in_threadpool(store.chart, project.project_id, chart_id)
            if found is None:
                return error_response(404, "Chart not found", f"chart_id: no saved chart "
                                      f"{chart_id!r} in this project", parameter="chart_id")
            path, raw = found
            overrides = QueryParams(request.query_params.multi_items())

            def compute(ctx: Ctx, params: QueryParams) -> Any:
                return charts.run(ctx, path, params, overrides)

            try:
                body = await run_in_threadpool(run, store, project, compute,
                                               charts.stored_params(raw))
            except QueryError as exc:
                return query_error(exc)
            if csv:
                return Response(charts.to_csv(body), media_type="text/csv; charset=utf-8")
            return json_response(body)

        return handle

    return [
        *(Route(path, endpoint(path, compute), methods=["GET"])
          for path, compute in ENDPOINTS.items()),
        Route("/api/3/chart/{chart_id}/query", chart_route(csv=False), methods=["GET"]),
        Route("/api/3/chart/{chart_id}/csv", chart_route(csv=True), methods=["GET"]),
        Route("/_ampkit/charts", save_chart, methods=["POST"]),
    ]
