"""What every request passes before and after its route: a body-size cap, and an answer (never a
dropped connection) for any error a route did not expect.

**Body caps** (reference §2.9, §3, §5): ``/2/httpapi`` 1 MB, ``/batch`` 20 MB, ``/identify`` and
``/groupidentify`` 1 MB (documented for Group Identify; ampkit applies it to Identify too), every
other route :attr:`~ampkit.server.config.LimitsConfig.other_max_bytes`.  A ``Content-Length``
over the cap is answered ``413`` before a byte of the body is read (with ``Connection: close``:
the unread body cannot be skipped); a body without a length is counted as it streams in and
refused the moment it passes the cap.  So one request costs the server at most its cap, whatever
it sends.

**Unexpected errors**: answered ``500`` in the route family's error shape, the traceback in the
server's log and never in the answer, and the connection kept open for the client's next request
(an exception escaping to uvicorn would cut it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ampkit.server.faults import InjectedReset

log = logging.getLogger("ampkit.server")

INGEST_PATHS = ("/2/httpapi", "/batch", "/identify", "/groupidentify")


class BodyTooLarge(Exception):
    """A streamed body passed its cap."""


def _error_body(path: str, status: int, message: str) -> bytes:
    """Amplitude's error shape for the path's family: ingestion ``{"code", "error"}``, every
    other route the Dashboard envelope."""
    if path in INGEST_PATHS:
        return orjson.dumps({"code": status, "error": message})
    kind = {413: "payload_too_large", 500: "internal_error"}.get(status, "error")
    return orjson.dumps({"error": {"http_code": status, "type": kind, "message": message,
                                   "metadata": {}}})


async def _answer(send: Send, path: str, status: int, message: str, *, close: bool) -> None:
    body = _error_body(path, status, message)
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class GateMiddleware:
    """The body cap and the last-resort error answer (see the module docstring)."""

    def __init__(self, app: ASGIApp, cap_for: Callable[[str], int]) -> None:
        self.app = app
        self.cap_for = cap_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        cap = self.cap_for(path)
        too_large = "Payload too large" if path in INGEST_PATHS else (
            f"Payload too large: the body of {path} may be at most {cap} bytes")
        length = _content_length(scope)
        if length is not None and length > cap:
            await _answer(send, path, 413, too_large, close=True)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await _answer(send, path, 413, too_large, close=True)
        except InjectedReset:
            raise
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), path)
            if not started:
                await _answer(send, path, 500, "Internal Server Error", close=False)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
