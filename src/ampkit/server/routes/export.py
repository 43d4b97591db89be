"""``GET /api/2/export`` (reference §9)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ampkit.server.export import (
    ExportRequestError,
    ExportTooLarge,
    build_archive,
    parse_window,
)
from ampkit.server.routes.common import error_response, require_project
from ampkit.server.store import Store


def _chunks(archive: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := archive.read(1 << 20):
            yield chunk
    finally:
        archive.close()


def routes(store: Store) -> list[BaseRoute]:
    async def export(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        params = request.query_params
        try:
            window = parse_window(params.get("start"), params.get("end"), store.config.export)
        except ExportRequestError as exc:
            return error_response(400, "Invalid export request", str(exc), parameter=exc.param)
        try:
            archive = await run_in_threadpool(build_archive, store, project.project_id, window)
        except ExportTooLarge:
            return error_response(
                400, "Export size exceeds the limit",
                f"more than {store.config.export.max_bytes} bytes; use a smaller range")
        if archive is None:
            return error_response(404, "No data found for the requested range")
        name = f"{project.project_id}_{params['start']}_{params['end']}.zip"
        return StreamingResponse(
            _chunks(archive), media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return [Route("/api/2/export", export, methods=["GET"])]
