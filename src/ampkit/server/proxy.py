"""Absolute-form request targets: ``ampkit serve`` as the HTTP proxy of a client whose Amplitude
hosts are hard-coded (the node ``amplitude`` package's ``https://amplitude.com/api/2``).

A client with ``https_proxy=http://127.0.0.1:PORT`` that does not tunnel sends the whole URL
as the request target, in plain HTTP: ``GET https://amplitude.com/api/2/usersearch?user=… HTTP/1.1``
(absolute form, which an HTTP/1.1 server must accept, RFC 9112 §3.2.2).  This middleware, in
front of everything else, serves such a request as if its path had been sent — when its host is
one of Amplitude's (:data:`~ampkit.models.hosts.AMPLITUDE_HOSTS`) or the server itself.  It never
forwards anything: any other host is a ``403`` naming the host and the rule, a ``CONNECT`` (a
TLS tunnel, which would need Amplitude's certificates) a ``405``, and a target that is neither
``/path`` nor ``http(s)://host/path`` a ``400``.

uvicorn's h11 protocol hands the target over whole (``scope["raw_path"]`` =
``b"https://amplitude.com/api/2/usersearch"``, the query already split off); its httptools
protocol would drop the host, so the runner pins h11 (:mod:`ampkit.server.runner`).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import SplitResult, unquote, urlsplit

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from ampkit.models.hosts import AMPLITUDE_HOSTS
from ampkit.server.gate import INGEST_PATHS

DEFAULT_PORTS: Final = {"http": 80, "https": 443}
SELF_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})

HOST_RULE: Final = (
    "ampkit serve is not an open proxy: it answers a full URL as the request target only when "
    "its host is one of Amplitude's (metadata.allowed_hosts) or the server itself, and never "
    "forwards a request")
CONNECT_RULE: Final = (
    "ampkit serve does not open CONNECT tunnels (it has no certificate for Amplitude's hosts): "
    "use a client that sends https:// URLs to its http:// proxy in absolute form, or point the "
    "client's base URL at the server")
TARGET_RULE: Final = (
    "a request target is a path (/api/2/usersearch) or an absolute http:// or https:// URL with "
    "a host, an optional port from 1 to 65535 and no user information (RFC 9112 §3.2)")


class Refusal(Exception):
    """A target this server will not serve: the status, the answer's type, message and
    metadata."""

    def __init__(self, status: int, kind: str, message: str,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.metadata = metadata or {}


def _split(target: str) -> SplitResult:
    """``target`` as an absolute http(s) URL, or :class:`Refusal` (400) saying what is wrong."""
    def bad(detail: str) -> Refusal:
        return Refusal(400, "invalid_request", f"Invalid request target: {detail}",
                       {"rule": TARGET_RULE})

    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError:  # a bracketed host left open, a port out of range or not a number
        raise bad("the URL's authority (host and port) cannot be parsed") from None
    if parts.scheme not in DEFAULT_PORTS or not target[len(parts.scheme):].startswith("://"):
        raise bad("it is neither a path nor an http:// or https:// URL")
    if "@" in parts.netloc:  # never echoed: user information may be a key pair
        raise bad("a URL target may not carry user information")
    if not parts.hostname:
        raise bad("the URL has no host")
    if port == 0:
        raise bad("the port must be from 1 to 65535")
    return parts


def _is_self(scope: Scope, host: str, port: int) -> bool:
    server = scope.get("server")
    if not server or server[1] is None:
        return False
    own_host, own_port = server[0], int(server[1])
    return port == own_port and (host == own_host.lower() or host in SELF_NAMES)


def resolve(scope: Scope) -> Scope | None:
    """The scope to serve (``None``: as it is; a rewritten copy for an allowed absolute-form
    target), or :class:`Refusal`."""
    if scope["method"] == "CONNECT":
        raise Refusal(405, "connect_not_supported", CONNECT_RULE)
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    if raw.startswith(b"/"):
        return None
    parts = _split(raw.decode("ascii", "replace"))
    host = (parts.hostname or "").rstrip(".")
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    if host not in AMPLITUDE_HOSTS and not _is_self(scope, host, port):
        raise Refusal(403, "proxy_host_not_allowed",
                      f"Host {host[:255]!r} is not served here: {HOST_RULE}",
                      {"host": host[:255], "allowed_hosts": sorted(AMPLITUDE_HOSTS)})
    raw_path = parts.path or "/"
    headers = [(name, value) for name, value in scope.get("headers", ()) if name != b"host"]
    headers.append((b"host", parts.netloc.encode()))  # RFC 9112 §3.2.2: the target's authority
    return {**scope, "path": unquote(raw_path), "raw_path": raw_path.encode(),
            "headers": headers}


def _path_of(scope: Scope) -> str:
    """The path of a refused target (it picks the error shape), ``""`` when it has none."""
    raw: bytes = scope.get("raw_path") or b""
    try:
        return urlsplit(raw.decode("ascii", "replace")).path
    except ValueError:
        return ""


def _body(path: str, refusal: Refusal) -> bytes:
    """The route family's error shape (as :mod:`ampkit.server.gate`'s): ingestion
    ``{"code", "error"}``, every other route the Dashboard envelope."""
    if path in INGEST_PATHS:
        return orjson.dumps({"code": refusal.status, "error": refusal.message,
                             **refusal.metadata})
    return orjson.dumps({"error": {"http_code": refusal.status, "type": refusal.kind,
                                   "message": refusal.message, "metadata": refusal.metadata}})


class AbsoluteFormMiddleware:
    """Serves absolute-form targets for Amplitude's hosts; refuses every other host, ``CONNECT``
    and malformed targets (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            rewritten = resolve(scope)
        except Refusal as refusal:
            body = _body(_path_of(scope), refusal)
            # the connection closes: a body the client may be sending is never read
            await send({"type": "http.response.start", "status": refusal.status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()),
                                    (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await self.app(scope if rewritten is None else rewritten, receive, send)
