"""Tiny real HTTP servers for the answers ``ampkit serve`` cannot give (a non-JSON 200, a 202,
a redirect to another host, a 429 with ``Retry-After``), and a port with nothing listening.

A :class:`Stub` is ``http.server`` on a free loopback port, in a thread: it records every request
(:attr:`Stub.seen`) and answers each with what the test's function returns.  :func:`forward`
passes requests on to a real server (``ampkit serve``), so a stub can stand in front of it and
alter only some answers.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


@dataclass(frozen=True)
class Seen:
    """One request as the stub received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


Answer = Callable[[Seen], Reply]

SUCCESS = Reply(200, b'{"code":200,"events_ingested":1,"payload_size_bytes":10,'
                     b'"server_upload_time":1700000000000}', {"Content-Type": "application/json"})
"""Amplitude's HTTP V2 success answer."""


class Stub:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            self.rfile.read(length) if length else b"")
                with stub._lock:
                    stub.seen.append(seen)
                reply = stub.answer(seen)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.status not in (204, 304):
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.status not in (204, 304) and self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [s.body for s in self.seen]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def stub(answer: Answer) -> Iterator[Stub]:
    server = Stub(answer)
    try:
        yield server
    finally:
        server.close()


def scripted(*first: Reply, then: Answer | Reply = SUCCESS) -> Answer:
    """Answer the first requests with ``first`` (in order), every later one with ``then``."""
    pending = list(first)
    lock = threading.Lock()

    def answer(seen: Seen) -> Reply:
        with lock:
            if pending:
                return pending.pop(0)
        return then(seen) if callable(then) else then

    return answer


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length",
               "content-encoding", "host"}


def forward(base_url: str) -> Answer:
    """Pass each request on to ``base_url`` and return its answer unchanged."""
    client = httpx.Client(base_url=base_url, timeout=60)

    def answer(seen: Seen) -> Reply:
        headers = {k: v for k, v in seen.headers.items() if k not in _HOP_BY_HOP}
        r = client.request(seen.method, seen.path, headers=headers, content=seen.body or None)
        return Reply(r.status_code, r.content,
                     {k: v for k, v in r.headers.items() if k.lower() not in _HOP_BY_HOP})

    return answer


@contextmanager
def dead_port() -> Iterator[int]:
    """A loopback port that is bound (no one else gets it) but not listening: every connection
    attempt is refused at once."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
    finally:
        sock.close()
