"""Fault injection: a share of requests refused, failed, delayed or cut.

Two sources, never mixed up:

- **the operator's** faults (``--faults``, the config file's ``faults:``, the Python API's
  :meth:`Faults.update`) apply server-wide, to every project's requests on their paths;
- **a project's** faults, set over HTTP (``POST /_ampkit/faults`` with that project's key
  pair), apply to that project's requests only — another project, ``/health`` and the call that
  clears them are never touched.

``/health``, ``/openapi.json`` and the admin routes (``/_ampkit/*``) are never faulted, whatever
a configuration's ``paths`` say, so a server can always be inspected and its faults cleared.

``429``/``503``/``504`` answer before the request reaches the app (nothing stored).  ``500``,
``reset`` and ``delay`` let the app handle (and store) the request first, then fail the answer —
the cases where a client cannot know whether its events were accepted and must resend with the
same ``insert_id``.  A delay is at most :data:`~ampkit.server.config.MAX_FAULT_DELAY` seconds.

Requests whose project is in a header (Basic ``api_key:secret_key``, the Profile API's
``Api-Key``) get their project's faults from :class:`FaultMiddleware`; ingestion requests carry
their key in the body, so their routes ask :meth:`Faults.draw` themselves once the key is read.
"""

from __future__ import annotations

import base64
import binascii
import logging
import random
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ampkit.models.ingest import ERR_TOO_MANY
from ampkit.server.config import FaultConfig, FaultKind

BEFORE: frozenset[str] = frozenset({"429", "503", "504"})
"""Kinds answered instead of the app (nothing stored)."""


def never_faulted(path: str) -> bool:
    """Health, the API description and the admin routes always answer for real."""
    return path in ("/health", "/openapi.json") or path.startswith("/_ampkit/")


class InjectedReset(Exception):
    """Raised inside the server to cut a connection on purpose."""


class _QuietResets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, InjectedReset):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


logging.getLogger("uvicorn.error").addFilter(_QuietResets())

Draw = tuple[FaultKind | None, float]


class _Source:
    """One fault configuration and its own random stream."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)

    def draw(self, path: str) -> Draw:
        if not self.config.applies_to(path):
            return None, 0.0
        return self.config.pick(self.rng), self.config.delay_seconds


class Faults:
    """The operator's fault configuration and each project's (changeable at run time)."""

    def __init__(self, config: FaultConfig, on_fault: Callable[[str, int | None], None]) -> None:
        self._lock = threading.Lock()
        self.on_fault = on_fault
        self._server = _Source(config)
        self._projects: dict[int, _Source] = {}

    @property
    def config(self) -> FaultConfig:
        """The operator's (server-wide) configuration."""
        return self._server.config

    def update(self, config: FaultConfig) -> None:
        """Replace the operator's faults (server-wide)."""
        with self._lock:
            self._server = _Source(config)

    def project(self, project_id: int) -> FaultConfig:
        with self._lock:
            source = self._projects.get(project_id)
            return source.config if source is not None else FaultConfig()

    def set_project(self, project_id: int, config: FaultConfig) -> None:
        """Replace one project's faults (an empty configuration clears them)."""
        with self._lock:
            if config.active:
                self._projects[project_id] = _Source(config)
            else:
                self._projects.pop(project_id, None)

    def project_active(self, project_id: int) -> bool:
        return project_id in self._projects

    def draw(self, path: str, project_id: int | None = None, *, server: bool = True) -> Draw:
        """The fault for one request (``(None, 0)`` for none): the operator's first, then the
        project's.  Counted through ``on_fault``."""
        if never_faulted(path):
            return None, 0.0
        with self._lock:
            kind, delay = self._server.draw(path) if server else (None, 0.0)
            if kind is None and project_id is not None and project_id in self._projects:
                kind, delay = self._projects[project_id].draw(path)
        if kind is not None:
            self.on_fault(kind, project_id)
        return kind, delay


def _body(kind: str) -> tuple[int, dict[str, Any]]:
    if kind == "429":
        return 429, {"code": 429, "error": ERR_TOO_MANY, "throttled_events": []}
    if kind == "500":
        return 500, {"code": 500, "error": "Internal Server Error"}
    return int(kind), {"code": int(kind), "error": "Service Unavailable" if kind == "503"
                       else "Gateway Timeout"}


def _json(status: int, body: dict[str, Any]) -> tuple[Message, Message]:
    content = orjson.dumps(body)
    start: Message = {
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode())],
    }
    return start, {"type": "http.response.body", "body": content, "more_body": False}


AsgiCall = Callable[[Scope, Receive, Send], Awaitable[None]]


async def inject(kind: str, delay: float, call: AsgiCall, scope: Scope, receive: Receive,
                 send: Send) -> None:
    """Answer a request with fault ``kind``; ``call`` is the real handling (run for the kinds
    that store first)."""
    if kind in BEFORE:
        for message in _json(*_body(kind)):
            await send(message)
        return
    captured: list[Message] = []

    async def capture(message: Message) -> None:
        captured.append(message)

    await call(scope, receive, capture)
    if kind == "500":
        for message in _json(*_body("500")):
            await send(message)
        return
    if kind == "delay":
        await anyio.sleep(delay)
        for message in captured:
            await send(message)
        return
    # reset: the headers and half of the body, then the connection is dropped
    body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
    for message in captured:
        if message["type"] == "http.response.start":
            await send(message)
            break
    await send({"type": "http.response.body", "body": body[: len(body) // 2],
                "more_body": True})
    raise InjectedReset("connection cut by fault injection")


def refusal(kind: str) -> Response:
    """The answer of a kind that refuses before anything is stored (429/503/504)."""
    status, body = _body(kind)
    return Response(orjson.dumps(body), status, media_type="application/json")


class FaultyResponse(Response):
    """A real response, answered through a fault that comes after storing (500, reset,
    delay) — for routes that learn their project from the body."""

    def __init__(self, inner: Response, kind: str, delay: float) -> None:
        super().__init__()
        self.inner, self.kind, self.delay = inner, kind, delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await inject(self.kind, self.delay, self.inner, scope, receive, send)


def header_project(scope: Scope, by_basic: Callable[[str, str], int | None],
                   by_secret: Callable[[str], int | None]) -> int | None:
    """The project a request names in its headers (Basic pair or ``Api-Key``), if any."""
    for name, value in scope.get("headers", ()):
        if name != b"authorization":
            continue
        scheme, _, token = value.decode("latin-1").partition(" ")
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(token, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            key, sep, secret = pair.partition(":")
            return by_basic(key, secret) if sep else None
        if scheme == "Api-Key":
            return by_secret(token.strip())
        return None
    return None


class FaultMiddleware:
    """The operator's faults for every request, and a project's own for requests naming their
    project in a header."""

    def __init__(self, app: ASGIApp, faults: Faults,
                 by_basic: Callable[[str, str], int | None],
                 by_secret: Callable[[str], int | None]) -> None:
        self.app = app
        self.faults = faults
        self.by_basic = by_basic
        self.by_secret = by_secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or never_faulted(scope["path"]):
            await self.app(scope, receive, send)
            return
        project = header_project(scope, self.by_basic, self.by_secret)
        kind, delay = self.faults.draw(scope["path"], project)
        if kind is None:
            await self.app(scope, receive, send)
            return
        await inject(kind, delay, self.app, scope, receive, send)
