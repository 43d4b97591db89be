"""Dashboard REST API (reference §10): every endpoint computed with DuckDB from the stored
events, in the project's time zone; saved charts (``/api/3/chart/{id}/query`` and ``/csv``);
and ``POST /_ampkit/charts`` (JSON ``{chart_id?, endpoint, params}`` → ``{"chart_id"}``) to
save one — see :mod:`ampkit.server.query.charts` and :mod:`ampkit.server.services.dashboard`.

Each route: Basic ``api_key:secret_key`` (401 otherwise), the DuckDB work in a worker thread,
and bad parameters answered 400 with Amplitude's error envelope::

    {"error": {"http_code": 400, "type": "invalid_request", "message": "Invalid parameter e",
               "metadata": {"details": "e: must be valid JSON", "parameter": "e"}}}
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.server.config import ProjectConfig
from ampkit.server.limits import LimitExceeded
from ampkit.server.query import charts
from ampkit.server.query.common import QueryError, QueryParams
from ampkit.server.query.endpoints import ENDPOINTS
from ampkit.server.routes.common import authed, backend, error_response, json_response
from ampkit.server.services import dashboard as service


def query_error(exc: QueryError) -> Response:
    message = exc.message or ("Not found" if exc.status == 404
                              else f"Invalid parameter {exc.param}")
    return error_response(exc.status, message, exc.details, kind=exc.kind,
                          parameter=exc.param)


def limited(exc: LimitExceeded) -> Response:
    """Amplitude's 429, naming the limit (body shape undocumented: the Dashboard envelope)."""
    response = error_response(429, f"Exceeded rate limit: {exc.limit}", exc.detail,
                              limit=exc.limit)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@authed
async def query(request: Request, project: ProjectConfig, path: str) -> Response:
    """``GET`` one of :data:`~ampkit.server.query.endpoints.ENDPOINTS` (the table binds
    ``path``)."""
    server = backend(request)
    items = request.query_params.multi_items()
    try:
        slot = server.dashboard_limits.admit(project.project_id, path, items)
    except LimitExceeded as exc:
        return limited(exc)
    try:
        body = await server.read(service.compute, project, ENDPOINTS[path], QueryParams(items))
    except QueryError as exc:
        return query_error(exc)
    finally:
        if slot:
            server.dashboard_limits.release(project.project_id, path)
    return json_response(body)


@authed
async def _chart(request: Request, project: ProjectConfig, csv: bool) -> Response:
    chart_id = request.path_params["chart_id"]
    overrides = QueryParams(request.query_params.multi_items())
    try:
        body = await backend(request).read(service.chart, project, chart_id, overrides)
    except service.UnknownChart:
        return error_response(404, "Chart not found", f"chart_id: no saved chart "
                              f"{chart_id!r} in this project", parameter="chart_id")
    except QueryError as exc:
        return query_error(exc)
    if csv:
        return Response(charts.to_csv(body), media_type="text/csv; charset=utf-8")
    return json_response(body)


async def chart_query(request: Request) -> Response:
    """``GET /api/3/chart/{chart_id}/query``."""
    return await _chart(request, csv=False)


async def chart_csv(request: Request) -> Response:
    """``GET /api/3/chart/{chart_id}/csv``."""
    return await _chart(request, csv=True)


@authed
async def save_chart(request: Request, project: ProjectConfig) -> Response:
    """``POST /_ampkit/charts``: the definition is run once (a bad one is the usual 400)."""
    server = backend(request)
    try:
        chart_id, path, params = charts.definition(await request.body())
        await server.read(service.compute, project, ENDPOINTS[path], params)
    except QueryError as exc:
        return query_error(exc)
    chart_id = chart_id or charts.new_id()
    await server.write(service.save_chart, project.project_id, chart_id, path, params)
    return JSONResponse({"chart_id": chart_id, "endpoint": path})
