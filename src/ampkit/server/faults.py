"""Fault injection as ASGI middleware: a share of requests refused, failed, delayed or cut.

``429``/``503`` answer before the request reaches the app (nothing stored).  ``500``, ``reset``
and ``delay`` let the app handle (and store) the request first, then fail the answer — the cases
where a client cannot know whether its events were accepted and must resend with the same
``insert_id``.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import anyio
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ampkit.models.ingest import ERR_TOO_MANY
from ampkit.server.config import FaultConfig


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


class Faults:
    """The current fault configuration and its random stream (changeable at run time)."""

    def __init__(self, config: FaultConfig, on_fault: Callable[[str], None]) -> None:
        self._lock = threading.Lock()
        self.on_fault = on_fault
        self.config = config
        self._rng = random.Random(config.seed)

    def update(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)

    def draw(self, path: str) -> tuple[str | None, float]:
        with self._lock:
            if not self.config.applies_to(path):
                return None, 0.0
            kind = self.config.pick(self._rng)
            return kind, self.config.delay_seconds


def _json(status: int, body: dict[str, Any]) -> tuple[Message, Message]:
    content = orjson.dumps(body)
    start: Message = {
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode())],
    }
    return start, {"type": "http.response.body", "body": content, "more_body": False}


class FaultMiddleware:
    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind, delay = self.faults.draw(scope["path"])
        if kind is None:
            await self.app(scope, receive, send)
            return
        self.faults.on_fault(kind)
        if kind in ("429", "503", "504"):
            payload = ({"code": 429, "error": ERR_TOO_MANY, "throttled_events": []}
                       if kind == "429" else {"code": int(kind), "error": "Service Unavailable"
                                              if kind == "503" else "Gateway Timeout"})
            for message in _json(int(kind), payload):
                await send(message)
            return
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self.app(scope, receive, capture)
        if kind == "500":
            for message in _json(500, {"code": 500, "error": "Internal Server Error"}):
                await send(message)
            return
        if kind == "delay":
            await anyio.sleep(delay)
            for message in captured:
                await send(message)
            return
        # reset: the headers and half of the body, then the connection is dropped
        parts: list[bytes] = [m.get("body", b"") for m in captured
                              if m["type"] == "http.response.body"]
        body = b"".join(parts)
        for message in captured:
            if message["type"] == "http.response.start":
                await send(message)
                break
        await send({"type": "http.response.body", "body": body[: len(body) // 2],
                    "more_body": True})
        raise InjectedReset("connection cut by fault injection")
