"""Adds credentials to a request at send time, the only place secrets meet the wire."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import orjson

from ampkit.config import Settings
from ampkit.core.spec import RequestSpec


def basic_header(api_key: str, secret_key: str) -> str:
    token = base64.b64encode(f"{api_key}:{secret_key}".encode()).decode("ascii")
    return f"Basic {token}"


def inject_body_key(content: bytes | None, api_key: str) -> bytes:
    """Put ``"api_key"`` first in a JSON object body without re-encoding the rest."""
    head = b'{"api_key":' + orjson.dumps(api_key)
    body = (content or b"{}").strip()
    if not body.startswith(b"{"):
        raise ValueError("a json_body_key request needs a JSON object body")
    rest = body[1:].lstrip()
    return head + (b"}" if rest.startswith(b"}") else b"," + rest)


def prepare(
    spec: RequestSpec, settings: Settings
) -> tuple[dict[str, str], bytes | None]:
    """Headers and body with credentials added, per ``spec.auth``."""
    headers = dict(spec.headers)
    content = spec.content
    if spec.auth == "json_body_key":
        content = inject_body_key(content, settings.require_api_key())
        headers.setdefault("Content-Type", "application/json")
    elif spec.auth == "form_key":
        pairs = [("api_key", settings.require_api_key()), *(spec.form or ())]
        content = urlencode(pairs).encode("ascii")
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif spec.auth == "basic":
        headers["Authorization"] = basic_header(
            settings.require_api_key(), settings.require_secret_key()
        )
    elif spec.auth == "api_key_header":
        headers["Authorization"] = f"Api-Key {settings.require_secret_key()}"
    if spec.auth != "form_key" and spec.form is not None:
        content = urlencode(list(spec.form)).encode("ascii")
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return headers, content
