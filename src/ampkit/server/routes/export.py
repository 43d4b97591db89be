"""``GET /api/2/export`` (reference §9); the archive is
:func:`ampkit.server.services.export.build_archive`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ampkit.server.config import ProjectConfig
from ampkit.server.routes.common import authed, backend, error_response
from ampkit.server.services.export import (
    ExportRequestError,
    ExportTooLarge,
    build_archive,
    parse_window,
)


class ExportQuery(BaseModel):
    """``start`` and ``end`` hours, ``YYYYMMDDTHH`` (checked by :func:`parse_window`)."""

    model_config = ConfigDict(extra="ignore")

    start: str | None = None
    end: str | None = None


def _chunks(archive: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := archive.read(1 << 20):
            yield chunk
    finally:
        archive.close()


@authed
async def export(request: Request, project: ProjectConfig) -> Response:
    server = backend(request)
    config = server.config.export
    q = ExportQuery.model_validate(dict(request.query_params))  # text only: it cannot fail
    try:
        window = parse_window(q.start, q.end, config)
    except ExportRequestError as exc:
        return error_response(400, "Invalid export request", str(exc), parameter=exc.param)
    try:
        archive = await server.read(build_archive, config, project.project_id, window)
    except ExportTooLarge:
        return error_response(400, "Export size exceeds the limit",
                              f"more than {config.max_bytes} bytes; use a smaller range")
    if archive is None:
        return error_response(404, "No data found for the requested range")
    name = f"{project.project_id}_{q.start}_{q.end}.zip"
    return StreamingResponse(
        _chunks(archive), media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
