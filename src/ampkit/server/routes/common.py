"""Pieces the read-side routes share: Basic auth and Amplitude's Dashboard error envelope."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.server.config import ProjectConfig
from ampkit.server.routes.admin import basic_project, unauthorized
from ampkit.server.store import Store

__all__ = ["basic_project", "error_response", "require_project", "unauthorized"]

_TYPES = {400: "invalid_request", 403: "forbidden", 404: "not_found", 409: "conflict",
          429: "too_many_requests", 500: "internal_error", 504: "timeout"}


def error_response(status: int, message: str, details: str | None = None,
                   kind: str | None = None, **metadata: Any) -> Response:
    """``{"error": {"http_code", "type", "message", "metadata": {"details"}}}`` (§10.4);
    ``kind`` overrides the ``type`` the status gives."""
    meta: dict[str, Any] = dict(metadata)
    if details is not None:
        meta["details"] = details
    body = {"error": {"http_code": status, "type": kind or _TYPES.get(status, "error"),
                      "message": message, "metadata": meta}}
    return JSONResponse(body, status_code=status)


def require_project(store: Store, request: Request) -> ProjectConfig | Response:
    project = basic_project(store, request)
    return unauthorized() if project is None else project
