"""Exceptions → one message a person (or an agent) can act on, plus the HTTP status if any.

This is where ampkit's error tree meets the actions' ``success=false`` outputs: each message
says what happened, where (field, limit, endpoint) and what to do next.  Every message passes
through :func:`~ampkit.errors.redact`, so no key ever appears in an output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import ValidationError

from ampkit.errors import (
    AmplitudeError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthError,
    ConfigError,
    InvalidEventError,
    InvalidRequest,
    NoData,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    UnreachableError,
    redact,
)

ENV_HINT = (
    "set the AMPLITUDE_* variables in the environment of the process running ampkit (for an "
    "MCP client, in the server's env): AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY, plus "
    "AMPLITUDE_REGION=eu for EU projects or AMPLITUDE_BASE_URL for another server"
)
_PASS_ARG = re.compile(r"pass \w+=\.\.\. or ")


def input_message(exc: ValidationError, *, what: str = "invalid input") -> str:
    """``invalid input: field: rule; other.field: rule`` (at most five problems)."""
    parts: list[str] = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        ctx = err.get("ctx") or {}
        if err["type"] == "ampkit_rule":  # a model rule naming its own field
            loc = ".".join(p for p in (loc, str(ctx.get("field", ""))) if p)
            rule = str(ctx.get("rule", err["msg"]))
        elif err["type"] == "value_error" and "error" in ctx:
            rule = str(ctx["error"])
        elif err["type"] == "extra_forbidden":
            rule = "unknown field (check its spelling against the input schema)"
        else:
            rule = err["msg"]
        parts.append(f"{loc or 'input'}: {rule}")
    more = len(exc.errors()) - len(parts)
    tail = f" (and {more} more)" if more > 0 else ""
    return f"{what}: " + "; ".join(parts) + tail


def _status_message(exc: APIStatusError, base_url: str | None) -> str:
    where = f" at {exc.endpoint}" if exc.endpoint else ""
    status = exc.status
    if isinstance(exc, AuthError):
        return (f"authentication refused (HTTP {status}){where}: {exc.message} "
                "(AMPLITUDE_API_KEY, AMPLITUDE_SECRET_KEY, AMPLITUDE_REGION)")
    if isinstance(exc, RateLimited):
        wait = (f"retry after {exc.retry_after:g} s" if exc.retry_after is not None
                else "wait a minute before retrying")
        return (f"rate limited (HTTP {status}){where} — limit: {exc.limit}; {wait}, or ask "
                "for less (fewer days, groups or calls)")
    if isinstance(exc, NoData):
        if status == 404 and exc.message.strip().lower() == "not found":
            server = f" {base_url}" if base_url else ""
            return (f"not found (HTTP 404){where}: the server{server} has no such endpoint or "
                    "object; check the ids you gave (a local server may not offer every "
                    "endpoint yet)")
        return f"nothing found (HTTP {status}){where}: {exc.message}; check the ids and dates"
    if isinstance(exc, PayloadTooLarge):
        return f"too large (HTTP {status}){where}: {exc.message}; send fewer or smaller items"
    if isinstance(exc, InvalidRequest):
        field = f" (field '{exc.field}')" if exc.field else ""
        return f"request refused as invalid (HTTP {status}){where}{field}: {exc.message}"
    if isinstance(exc, ServerError):
        return (f"Amplitude failed (HTTP {status}){where}: {exc.message}; it was retried — try "
                "again later or ask for less")
    return f"HTTP {status}{where}: {exc.message}"


def describe(
    exc: BaseException, *, base_url: str | None = None, timeout: float | None = None
) -> tuple[str, int | None]:
    """``(message, http_status)`` for any exception."""
    if isinstance(exc, ValidationError):
        return input_message(exc), None
    if isinstance(exc, ConfigError):
        return f"configuration: {_PASS_ARG.sub('', exc.message)} — {ENV_HINT}", None
    if isinstance(exc, InvalidEventError):
        return f"invalid input: {exc.message} (nothing was sent)", None
    if isinstance(exc, InvalidRequest) and not exc.body:  # refused before sending
        field = f" (field '{exc.field}')" if exc.field else ""
        return f"invalid input{field}: {exc.message}", None
    if isinstance(exc, APIStatusError):
        return _status_message(exc, base_url), exc.status
    if isinstance(exc, APITimeoutError):
        limit = f" (each attempt given {timeout:g} s)" if timeout else ""
        return (f"timed out{limit} at {exc.endpoint or 'the server'}: {exc.message}. Retry, ask "
                "for less (a shorter range), or raise AMPLITUDE_TIMEOUT (seconds)"), None
    if isinstance(exc, UnreachableError):  # it names the URL and what to check
        return exc.message, None
    if isinstance(exc, APIConnectionError):
        server = base_url or "Amplitude"
        return (f"could not reach {server} ({exc.message}). Check the network, "
                "AMPLITUDE_BASE_URL and AMPLITUDE_REGION"), None
    if isinstance(exc, AmplitudeError):
        return str(exc), None
    if isinstance(exc, OSError):
        return f"file error: {exc.strerror or exc}" + (
            f" ({exc.filename})" if exc.filename else ""), None
    return f"unexpected error ({type(exc).__name__}): {exc}", None


def safe(message: str, secrets: Iterable[str]) -> str:
    """``message`` with every secret removed."""
    return redact(message, tuple(secrets))
