"""``GET /openapi.json``: the OpenAPI 3.1 document of every route (no auth) — see
:mod:`ampkit.server.openapi`."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ampkit.server.openapi import document
from ampkit.server.store import Store


def routes(store: Store) -> list[BaseRoute]:
    body = orjson.dumps(document())  # the same for every request: built once

    async def openapi(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return [Route("/openapi.json", openapi, methods=["GET"])]
