"""``/_ampkit/ui``: the event inspector, a page of plain HTML, JavaScript and CSS shipped with
the package (``ampkit/server/ui/``; nothing to build).  The page is behind the project's key
pair like every ``/_ampkit`` route (a browser asks for them: user name = ``api_key``, password
= ``secret_key``) and reads the admin API with them; its script and style sheet hold no data
and are public.

Every answer carries a Content-Security-Policy that allows scripts, styles and requests from
the server itself only (no inline script or style), and ``X-Content-Type-Options: nosniff``."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

from ampkit.server.config import ProjectConfig
from ampkit.server.routes.common import authed

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-cache"}


@cache
def asset(name: str) -> bytes:
    """A file of the inspector, as the package ships it."""
    return (files("ampkit.server") / "ui" / name).read_bytes()


def _file(name: str, media_type: str) -> Response:
    return Response(asset(name), media_type=media_type, headers=HEADERS)


@authed
async def page(request: Request, project: ProjectConfig) -> Response:
    """The inspector's page (its filters come from the query string, read by the script)."""
    return _file("index.html", "text/html")


async def script(request: Request) -> Response:
    return _file("app.js", "text/javascript")


async def style(request: Request) -> Response:
    return _file("style.css", "text/css")
