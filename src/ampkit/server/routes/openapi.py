"""``GET /openapi.json``: the OpenAPI 3.1 document of every route (no auth) — see
:mod:`ampkit.server.openapi` — and ``GET /health``."""

from __future__ import annotations

from functools import cache

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.server.openapi import document


@cache
def _document() -> bytes:
    return orjson.dumps(document())  # the same for every request: built once


async def openapi(request: Request) -> Response:
    return Response(_document(), media_type="application/json")


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})  # nothing about the projects it serves
