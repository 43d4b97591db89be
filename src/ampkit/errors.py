"""One exception tree for everything ampkit raises, and the one status → class switch.

No message, ``repr`` or attribute of these exceptions ever holds an API key or secret key:
:func:`redact` scrubs every known secret and Amplitude's ``Invalid API key: <key>`` echo.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

# Amplitude's echo is "Invalid API key: <key>": the key follows the colon.  Only that value is
# scrubbed, never the words of other messages ("Invalid API key or secret key").
_API_KEY_ECHO = re.compile(r"(Invalid API key:\s*)([^\s\"']+)", re.IGNORECASE)
REDACTED = "***"
# a password in a URL (``http://user:pass@host``, as a proxy or base URL may carry one): up to
# the authority's last ``@``, as URL parsers read it (``me:p@ss@host``: the password is p@ss).
# The authority ends at ``/ ? #`` or a space, so the match never runs past it (linear time);
# a password holding those characters is masked by :func:`remember_url_password` instead
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)([^\s/?#]+)(@)")
_AWKWARD = re.compile(r"[@/?#%\s]")
"""Characters a URL parser cuts a password at (quoting the pieces alone in its messages)."""
_KNOWN: set[str] = set()
"""Passwords holding such characters of URLs this process was given
(:func:`remember_url_password`), with the pieces a parser may quote alone: masked in every
message, even where no URL is left around them (``failed to resolve host 'ss@host'``)."""


def remember_url_password(url: str) -> None:
    """Note the password of ``url`` (``scheme://user:password@host…``: up to its last ``@``),
    so that :func:`redact_urls` masks it, and its pieces, wherever they show up."""
    _scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return
    userinfo = rest.rsplit("@", 1)[0]
    _user, colon, password = userinfo.partition(":")
    if not colon or not _AWKWARD.search(password):
        return  # a plain password: parsers read it whole, and the URL pattern masks it
    # the pieces a parser cutting at those characters may quote: what follows or precedes a
    # cut — kept only when specific enough not to mask ordinary words ('2024', 'home') in
    # other messages: holding a cut character still, or 8 characters long at least
    cuts = [m.start() for m in _AWKWARD.finditer(password)]
    pieces = {password}
    for at in cuts:
        pieces.update((password[at + 1:], password[:at], password[at:]))
    _KNOWN.update(p for p in pieces if len(p) >= 8 or (len(p) >= 4 and _AWKWARD.search(p)))
# and one given as a query parameter (``postgresql://host/db?password=…``, libpq's spelling)
_QUERY_PASSWORD = re.compile(r"([?&](?:password|passwd|pwd|sslpassword)=)([^&#\s'\"]*)",
                             re.IGNORECASE)


def redact_urls(text: str) -> str:
    """``text`` with the password of every URL in it masked (``user:***@host``,
    ``?password=***``)."""
    for known in sorted(_KNOWN, key=len, reverse=True):  # the whole before its pieces
        if known in text:
            text = text.replace(known, REDACTED)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    return _QUERY_PASSWORD.sub(lambda m: m.group(1) + REDACTED, text)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove every secret (and Amplitude's echo of the API key, and URL passwords) from
    ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return redact_urls(_API_KEY_ECHO.sub(lambda m: m.group(1) + REDACTED, text))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds form; HTTP dates, and a value that is no
    finite number — ``inf``, ``nan`` — are taken as none given)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


class AmplitudeError(Exception):
    """Base of every ampkit error.  ``retryable`` says whether trying again can help."""

    retryable: bool = False

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        message = redact_urls(message)  # a URL's password is never part of an error
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint if endpoint is None else redact_urls(endpoint)

    def __str__(self) -> str:
        return f"{self.message} [{self.endpoint}]" if self.endpoint else self.message

    def amend(self, more: str) -> None:
        """Add ``more`` to the message (what a later step learnt), ``args`` kept in step."""
        self.message += redact_urls(more)
        self.args = (self.message,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigError(AmplitudeError):
    """Settings are missing or wrong (no API key, unknown region…)."""


class InvalidEventError(AmplitudeError, ValueError):
    """An event (or identify object) broke a validation rule before anything was sent."""

    def __init__(self, field: str, rule: str, *, index: int | None = None) -> None:
        where = f"event[{index}].{field}" if index is not None else field
        super().__init__(f"{where} {rule}")
        self.field = field
        self.rule = rule
        self.index = index


class QueueFullError(AmplitudeError):
    """The sender's queue is full and the configured policy is to raise."""


class ClosedError(AmplitudeError):
    """The client was closed; nothing more can be sent through it."""


class ExportDecodeError(AmplitudeError):
    """An export archive could not be read: a corrupt zip or gzip entry, a line that is not a
    JSON object, or a size cap hit.  ``entry`` and ``line`` say where (when known)."""

    def __init__(self, message: str, *, entry: str | None = None, line: int | None = None) -> None:
        where = "export archive"
        if entry is not None:
            where += f" entry {entry!r}"
        if line is not None:
            where += f" line {line}"
        super().__init__(f"{where}: {message}", endpoint="/api/2/export")
        self.entry = entry
        self.line = line


class APIConnectionError(AmplitudeError):
    """The connection failed or broke before a complete answer arrived."""

    retryable = True


class APITimeoutError(APIConnectionError):
    """No complete answer within the timeout."""


class UnreachableError(APIConnectionError):
    """No connection could be made at all (refused, unknown host, connect timeout), so nothing
    was sent.  ``url`` is where, ``attempts`` how many tries were made."""

    def __init__(
        self, message: str, *, url: str, attempts: int, endpoint: str | None = None
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.url = url
        self.attempts = attempts


class APIStatusError(AmplitudeError):
    """Amplitude answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        endpoint: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status = status
        self.body: dict[str, Any] = dict(body or {})


class AuthError(APIStatusError):
    """The key pair was refused (401/403, or ``Invalid API key``)."""


class InvalidRequest(APIStatusError):
    """400: the request is wrong.  ``fields`` maps each offending field to the event indexes."""

    def __init__(self, message: str, *, status: int = 400, endpoint: str | None = None,
                 body: Mapping[str, Any] | None = None, field: str | None = None,
                 rule: str | None = None, fields: Mapping[str, list[int]] | None = None) -> None:
        super().__init__(message, status=status, endpoint=endpoint, body=body)
        self.field = field
        self.rule = rule
        self.fields: dict[str, list[int]] = dict(fields or {})


class NoData(APIStatusError):
    """404: nothing in that range (export) or no such object."""


class PayloadTooLarge(APIStatusError):
    """413: the body is too large; split it."""

    retryable = True


class RateLimited(APIStatusError):
    """429: a limit was hit.  ``limit`` names it; ``retry_after`` is in seconds when known."""

    retryable = True

    def __init__(self, message: str, *, status: int = 429, endpoint: str | None = None,
                 body: Mapping[str, Any] | None = None, limit: str = "unknown",
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status, endpoint=endpoint, body=body)
        self.limit = limit
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: Amplitude failed; trying again is safe with insert_ids."""

    retryable = True


class UnexpectedResponse(APIStatusError):
    """A 2xx answer that is not the endpoint's success answer (a non-JSON or empty 200, a 202,
    ``{"code": 400}``…): nothing proves the request was taken, so it is retried like a 5xx
    (same bytes, same insert_ids) and this is raised once the retry policy is spent."""

    retryable = True


class RedirectRefused(APIStatusError):
    """A redirect to another origin of a request that carries the API key in its body
    (ingestion, Identify): not followed, so the key never leaves for that host.  ``location``
    is where the server pointed."""

    def __init__(
        self, message: str, *, status: int, location: str, endpoint: str | None = None
    ) -> None:
        super().__init__(message, status=status, endpoint=endpoint)
        self.location = location


def _decode(content: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(content) if content else {}
    except orjson.JSONDecodeError:
        text = content[:500].decode("utf-8", "replace").strip()
        return {"error": text} if text else {}
    return value if isinstance(value, dict) else {"error": str(value)}


def _message(body: Mapping[str, Any]) -> str:
    err = body.get("error")
    if isinstance(err, dict):  # Dashboard envelope {"error": {"message": ..., "metadata": ...}}
        msg = str(err.get("message") or err.get("type") or "")
        details = (err.get("metadata") or {}).get("details") if isinstance(
            err.get("metadata"), dict
        ) else None
        return f"{msg}: {details}" if details else msg
    return str(err or body.get("message") or "")


def redact_json(value: Any, secrets: tuple[str, ...]) -> Any:
    """Decoded JSON with :func:`redact` applied to every string in it, keys included."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact(str(k), secrets): redact_json(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v, secrets) for v in value]
    return value


PROFILE_LIMIT = "User Profile API: 600 requests per minute per organisation"


def is_profile_limit(message: str, endpoint: str) -> bool:
    """The User Profile API's rate-limit body ("Number of requests per minute exceeds system
    limit…"), whose status Amplitude does not state."""
    return endpoint.endswith("/v1/userprofile") and "requests per minute" in message.lower()


def _rate_limit_name(status_body: Mapping[str, Any], endpoint: str) -> str:
    if status_body.get("exceeded_daily_quota_users") or status_body.get(
        "exceeded_daily_quota_devices"
    ):
        return "daily quota per user/device (500,000 events per rolling 24 h)"
    if status_body.get("throttled_users") or status_body.get("throttled_devices"):
        eps = status_body.get("eps_threshold")
        return f"events per second per user/device ({eps} EPS)" if eps else "EPS per user/device"
    error = status_body.get("error")
    if isinstance(error, Mapping):
        meta = error.get("metadata")
        if isinstance(meta, Mapping) and isinstance(meta.get("limit"), str):
            return str(meta["limit"])
    if endpoint.endswith("/v1/userprofile"):  # its one documented limit
        return PROFILE_LIMIT
    msg = _message(status_body).lower()
    if "concurren" in msg:
        return "concurrent requests"
    if "cost" in msg:
        return "query cost budget"
    return f"rate limit of {endpoint}" if endpoint else "rate limit"


def error_for(
    status: int,
    content: bytes,
    *,
    endpoint: str = "",
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> APIStatusError:
    """The one switch from an HTTP status and body to an ampkit exception."""
    secret_list = tuple(s for s in secrets if s)
    body = redact_json(_decode(content), secret_list)
    message = _message(body) or f"HTTP {status}"
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    # the status that decides the exception: the Profile API's rate-limit body is a 429
    # whatever status it came with (Amplitude does not state it)
    profile_limit = is_profile_limit(message, endpoint)
    kind = 429 if profile_limit else status
    if not profile_limit and (
        status in (401, 403) or message.lower().startswith("invalid api key")
    ):
        hint = "check the API key / secret key pair and the region (US vs EU)"
        return AuthError(f"{message} — {hint}", status=status, endpoint=endpoint, body=body)
    if kind == 404:
        return NoData(message, status=status, endpoint=endpoint, body=body)
    if kind == 413:
        return PayloadTooLarge(
            f"{message} — split the request", status=status, endpoint=endpoint, body=body
        )
    if kind == 429:
        retry_after = parse_retry_after(hdrs.get("retry-after"))
        limit = _rate_limit_name(body, endpoint)
        return RateLimited(
            f"{message} (limit: {limit})",
            status=status,
            endpoint=endpoint,
            body=body,
            limit=limit,
            retry_after=retry_after,
        )
    if kind >= 500:  # the status leads: a proxy's HTML page says little on its own
        said = message if message.startswith(f"HTTP {status}") else f"HTTP {status}: {message}"
        return ServerError(said, status=status, endpoint=endpoint, body=body)
    fields: dict[str, list[int]] = {}
    for key in ("events_with_invalid_fields", "events_with_missing_fields"):
        value = body.get(key)
        if isinstance(value, dict):
            for name, idx in value.items():
                fields.setdefault(str(name), []).extend(
                    int(i) for i in (idx if isinstance(idx, list) else []) if isinstance(i, int)
                )
    missing = body.get("missing_field")
    field = str(missing) if missing else (next(iter(fields)) if fields else None)
    detail = message
    if missing:
        detail = f"{message}: {missing}"
    elif fields:
        detail = f"{message}: " + ", ".join(f"{k} (events {v})" for k, v in fields.items())
    return InvalidRequest(
        detail,
        status=status,
        endpoint=endpoint,
        body=body,
        field=field,
        rule="missing" if missing else ("invalid value" if fields else None),
        fields=fields,
    )
