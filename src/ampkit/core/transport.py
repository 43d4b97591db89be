"""The only two httpx clients in ampkit: one sync, one async, with the same retry loop.

What the loop does with each answer (the same for both):

* the success answer the spec expects (``spec.expect``) → returned;
* any other 2xx (a non-JSON or empty 200, ``{"code": 400}``, a 202…) → retried like a 5xx,
  same bytes; :class:`~ampkit.errors.UnexpectedResponse` once the policy is spent;
* a redirect of a request with the API key in its body → followed within the same origin
  only, else :class:`~ampkit.errors.RedirectRefused` (httpx follows the others, and drops
  ``Authorization`` on the way to another origin);
* 429 with ``Retry-After`` → waited out from the policy's ``max_rate_limit_wait`` (each wait is
  announced to ``on_wait(reason, seconds)``), then :class:`~ampkit.errors.RateLimited`;
* 5xx, timeouts, broken connections → backoff by the policy, then the error;
* no connection at all → ``connect_attempts`` tries, then :class:`~ampkit.errors.UnreachableError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import IO

import httpx

from ampkit.config import Settings
from ampkit.core.auth import prepare
from ampkit.core.expect import unexpected
from ampkit.core.limits import Limits
from ampkit.core.policy import RetryPolicy, parse_retry_after
from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.errors import (
    AmplitudeError,
    APIConnectionError,
    APITimeoutError,
    RateLimited,
    RedirectRefused,
    UnexpectedResponse,
    UnreachableError,
    error_for,
    redact,
)

log = logging.getLogger("ampkit.http")

try:
    _VERSION = version("ampkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    _VERSION = "0"
USER_AGENT = f"ampkit/{_VERSION}"
ERROR_BODY_CAP = 1024 * 1024
"""At most this much of an error body is kept by :meth:`SyncTransport.download`."""

MAX_REDIRECTS = 5
"""Same-origin redirects followed for a request with the API key in its body."""

Headers = dict[str, str]
Body = bytes | None
WaitCallback = Callable[[str, float], None]
"""``on_wait(reason, seconds)``: called before each wait on a rate limit."""
_SyncAttempt = Callable[[httpx.Client, str, Headers, Body], RawResponse]
_AsyncAttempt = Callable[[httpx.AsyncClient, str, Headers, Body], Awaitable[RawResponse]]


def _reset(sink: IO[bytes]) -> None:
    """Empty a download sink before an attempt (a retry must not append to a partial body)."""
    sink.seek(0)
    sink.truncate()


def _fault(exc: httpx.HTTPError, spec: RequestSpec) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"timed out ({type(exc).__name__})", endpoint=spec.endpoint)
    return APIConnectionError(
        f"connection failed: {type(exc).__name__}: {exc}", endpoint=spec.endpoint
    )


def _unreachable_reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "no answer to the connection attempt"
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused: nothing is listening there"
    return text or type(exc).__name__


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


@dataclass
class _Tries:
    """What one request has used so far."""

    started: float = field(default_factory=time.monotonic)
    attempts: int = 0
    unreachable: int = 0
    rate_limit_asked: float = 0.0
    """Seconds asked by 429s' ``Retry-After`` (the bound is ``max_rate_limit_wait``)."""
    rate_limit_slept: float = 0.0
    redirects: int = 0

    def elapsed(self) -> float:
        """Seconds spent, rate-limit waits excluded (they have their own budget)."""
        return time.monotonic() - self.started - self.rate_limit_slept


class _Base:
    def __init__(
        self,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        limits: Limits | None = None,
        on_wait: WaitCallback | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self.limits = limits or Limits()
        self.on_wait = on_wait
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(region={self.settings.region!r})"

    def _url(self, spec: RequestSpec) -> str:
        return self.settings.base_for(spec.family) + spec.path

    def _outcome(self, spec: RequestSpec, resp: RawResponse, tries: _Tries) -> float | RawResponse:
        """Return the response, a delay (retry), or raise."""
        status = resp.status
        secrets = self.settings.secrets()
        if status < 300:
            problem = unexpected(spec.expect, resp)
            if problem is None:
                return resp
            delay = self.policy.next_delay(tries.attempts, tries.elapsed())
            if delay is not None:
                log.info("%s answered %s, not its success answer; retry %d in %.2fs",
                         spec.endpoint, problem, tries.attempts, delay)
                return delay
            raise UnexpectedResponse(
                redact(f"answered {problem}, not Amplitude's success answer, "
                       f"{tries.attempts} times — check that the URL "
                       f"({self.settings.base_for(spec.family)}) is Amplitude or ampkit serve, "
                       "not a proxy or portal", secrets),
                status=status, endpoint=spec.endpoint,
            )
        if status in spec.handled_statuses:
            return resp
        err = error_for(status, resp.content, endpoint=spec.endpoint, headers=resp.headers,
                        secrets=secrets)
        if status == 429 and isinstance(err, RateLimited) and err.retry_after is not None:
            return self._rate_limited(spec, err, err.retry_after, tries)
        if self.policy.is_retryable_status(status):
            retry_after = parse_retry_after(resp.headers.get("retry-after"))
            delay = self.policy.next_delay(tries.attempts, tries.elapsed(), retry_after)
            if delay is not None:
                log.info("%s answered %s; retry %d in %.2fs", spec.endpoint, status,
                         tries.attempts, delay)
                return delay
        raise err

    def _rate_limited(
        self, spec: RequestSpec, err: RateLimited, retry_after: float, tries: _Tries
    ) -> float:
        """Wait as the 429 asks, within ``max_rate_limit_wait``; else raise, naming the limit."""
        policy = self.policy
        delay = policy.rate_limit_delay(tries.attempts, tries.rate_limit_asked, retry_after)
        if delay is None:
            raise RateLimited(
                f"{err.message}; Retry-After {retry_after:g} s after {tries.rate_limit_asked:g} s "
                f"of waiting is past the bound (RetryPolicy.max_rate_limit_wait="
                f"{policy.max_rate_limit_wait:g} s)",
                status=err.status, endpoint=err.endpoint, body=err.body, limit=err.limit,
                retry_after=retry_after,
            )
        tries.rate_limit_asked += retry_after
        tries.rate_limit_slept += delay
        log.info("%s: rate limit %s; waiting %.0fs", spec.endpoint, err.limit, delay)
        if self.on_wait is not None:
            self.on_wait(f"{err.limit} (HTTP 429 at {spec.endpoint})", delay)
        return delay

    def _after_fault(self, spec: RequestSpec, url: str, exc: httpx.HTTPError,
                     tries: _Tries) -> float:
        """The delay before the next attempt after a transport error, or raise."""
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            tries.unreachable += 1
            delay = self.policy.next_delay(tries.attempts, tries.elapsed())
            if tries.unreachable >= self.policy.connect_attempts or delay is None:
                where = str(httpx.URL(url).copy_with(query=None))
                n = tries.unreachable
                raise UnreachableError(
                    redact(f"could not reach {where} ({_unreachable_reason(exc)}; {n} "
                           f"attempt{'s' if n != 1 else ''}) — check that the server is running "
                           "and reachable, and AMPLITUDE_BASE_URL (--base-url) or "
                           "AMPLITUDE_REGION", self.settings.secrets()),
                    url=where, attempts=tries.unreachable, endpoint=spec.endpoint,
                ) from None
            return delay
        err = _fault(exc, spec)
        delay = self.policy.next_delay(tries.attempts, tries.elapsed())
        if delay is None:
            raise err
        log.info("%s: %s; retry %d in %.2fs", spec.endpoint, err.message, tries.attempts, delay)
        return delay

    def _redirect(self, spec: RequestSpec, url: str, resp: RawResponse,
                  tries: _Tries) -> str | None:
        """The next URL when a request with the key in its body was redirected within its
        origin; ``None`` when ``resp`` is no redirect; raises for another origin."""
        location = resp.headers.get("location")
        if not spec.key_in_body or not 300 <= resp.status < 400 or not location:
            return None
        here = httpx.URL(url)
        target = here.join(location)
        if _origin(target) == _origin(here) and tries.redirects < MAX_REDIRECTS:
            tries.redirects += 1
            return str(target)
        shown = redact(str(target), self.settings.secrets())
        why = ("another origin" if _origin(target) != _origin(here)
               else f"more than {MAX_REDIRECTS} redirects")
        raise RedirectRefused(
            f"redirected (HTTP {resp.status}) to {shown}: not followed ({why}), because the "
            "request carries the API key in its body — set the URL (AMPLITUDE_BASE_URL, "
            "--base-url or the ingest URL) to the final host if you trust it",
            status=resp.status, location=shown, endpoint=spec.endpoint,
        )


class SyncTransport(_Base):
    """Sends specs with retries; safe to use from many threads and after ``os.fork()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        limits: Limits | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: WaitCallback | None = None,
    ) -> None:
        super().__init__(settings, policy=policy, limits=limits, on_wait=on_wait)
        self._sleep = sleep
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._pid != os.getpid():  # forked: the parent's sockets and locks are not ours
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._client = None
            self.limits.reset_after_fork()
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=self.settings.timeout,
                    headers={"User-Agent": USER_AGENT, "Accept": "*/*"},
                    follow_redirects=True,
                    limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                )
            return self._client

    def send(self, spec: RequestSpec) -> RawResponse:
        """Send ``spec`` with retries; the whole body is read into ``content``."""

        def attempt(client: httpx.Client, url: str, headers: Headers, content: Body) -> RawResponse:
            t0 = time.monotonic()
            r = client.request(
                spec.method,
                url,
                params=list(spec.params) or None,
                content=content,
                headers=headers,
                timeout=spec.timeout or self.settings.timeout,
                follow_redirects=not spec.key_in_body,
            )
            return RawResponse(r.status_code, dict(r.headers), r.content, time.monotonic() - t0)

        return self._run(spec, attempt)

    def download(
        self,
        spec: RequestSpec,
        sink: IO[bytes],
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> RawResponse:
        """Like :meth:`send`, but a 2xx body streams into ``sink`` (seekable) instead of memory.

        The sink is emptied before every attempt and rewound after a 2xx; the returned
        ``content`` is then empty.  Any other status leaves the sink empty and carries its (small,
        capped) error body in ``content``.  ``on_progress`` gets the bytes written so far in the
        current attempt.  If the last attempt fails, the sink may hold a partial body: discard it.
        """

        def attempt(client: httpx.Client, url: str, headers: Headers, content: Body) -> RawResponse:
            _reset(sink)
            t0 = time.monotonic()
            with client.stream(
                spec.method,
                url,
                params=list(spec.params) or None,
                content=content,
                headers=headers,
                timeout=spec.timeout or self.settings.timeout,
                follow_redirects=not spec.key_in_body,
            ) as r:
                if r.status_code >= 300:
                    body = bytearray()
                    for chunk in r.iter_bytes():
                        body += chunk[: ERROR_BODY_CAP - len(body)]
                        if len(body) >= ERROR_BODY_CAP:
                            break
                    return RawResponse(
                        r.status_code, dict(r.headers), bytes(body), time.monotonic() - t0
                    )
                written = 0
                for chunk in r.iter_bytes():
                    sink.write(chunk)
                    written += len(chunk)
                    if on_progress is not None:
                        on_progress(written)
            sink.flush()
            sink.seek(0)
            return RawResponse(r.status_code, dict(r.headers), b"", time.monotonic() - t0)

        return self._run(spec, attempt)

    def _run(self, spec: RequestSpec, attempt_once: _SyncAttempt) -> RawResponse:
        headers, content = prepare(spec, self.settings)
        url = self._url(spec)
        tries = _Tries()
        while True:
            tries.attempts += 1
            client = self._http()
            try:
                with self.limits.sync_slot(spec.limit_class):
                    self.requests_sent += 1
                    raw = attempt_once(client, url, headers, content)
            except httpx.HTTPError as exc:
                self._sleep(self._after_fault(spec, url, exc, tries))
                continue
            hop = self._redirect(spec, url, raw, tries)
            if hop is not None:
                url = hop
                tries.attempts -= 1  # a hop is not a failed attempt
                continue
            outcome = self._outcome(spec, raw, tries)
            if isinstance(outcome, RawResponse):
                return outcome
            self._sleep(outcome)

    def close(self) -> None:
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None


def _retire(client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop | None) -> None:
    """Close a client made on another event loop (``asyncio.run`` twice, a new thread's loop):
    on its own loop when that still runs, else by closing its sockets — a closed loop can no
    longer run the transports' own close callbacks, and the sockets would stay open."""
    if loop is not None and not loop.is_closed() and loop.is_running():
        asyncio.run_coroutine_threadsafe(client.aclose(), loop)
        return
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    for connection in list(getattr(pool, "connections", ())):
        with contextlib.suppress(Exception):  # httpcore internals; a socket already gone
            stream = connection._connection._network_stream
            sock = stream.get_extra_info("socket")  # asyncio's TransportSocket wrapper
            real = getattr(sock, "_sock", sock)  # closing the real socket frees its descriptor
            if real is not None:
                real.close()


class AsyncTransport(_Base):
    """The async twin of :class:`SyncTransport` (same policy, same outcomes)."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        limits: Limits | None = None,
        on_wait: WaitCallback | None = None,
    ) -> None:
        super().__init__(settings, policy=policy, limits=limits, on_wait=on_wait)
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            if self._client is not None:
                _retire(self._client, self._loop)
            self._client = httpx.AsyncClient(
                timeout=self.settings.timeout,
                headers={"User-Agent": USER_AGENT, "Accept": "*/*"},
                follow_redirects=True,
            )
            self._loop = loop
        return self._client

    async def send(self, spec: RequestSpec) -> RawResponse:
        """Send ``spec`` with retries; the whole body is read into ``content``."""

        async def attempt(
            client: httpx.AsyncClient, url: str, headers: Headers, content: Body
        ) -> RawResponse:
            t0 = time.monotonic()
            r = await client.request(
                spec.method,
                url,
                params=list(spec.params) or None,
                content=content,
                headers=headers,
                timeout=spec.timeout or self.settings.timeout,
                follow_redirects=not spec.key_in_body,
            )
            return RawResponse(r.status_code, dict(r.headers), r.content, time.monotonic() - t0)

        return await self._run(spec, attempt)

    async def download(
        self,
        spec: RequestSpec,
        sink: IO[bytes],
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> RawResponse:
        """The async twin of :meth:`SyncTransport.download` (writes to ``sink`` synchronously)."""

        async def attempt(
            client: httpx.AsyncClient, url: str, headers: Headers, content: Body
        ) -> RawResponse:
            _reset(sink)
            t0 = time.monotonic()
            async with client.stream(
                spec.method,
                url,
                params=list(spec.params) or None,
                content=content,
                headers=headers,
                timeout=spec.timeout or self.settings.timeout,
                follow_redirects=not spec.key_in_body,
            ) as r:
                if r.status_code >= 300:
                    body = bytearray()
                    async for chunk in r.aiter_bytes():
                        body += chunk[: ERROR_BODY_CAP - len(body)]
                        if len(body) >= ERROR_BODY_CAP:
                            break
                    return RawResponse(
                        r.status_code, dict(r.headers), bytes(body), time.monotonic() - t0
                    )
                written = 0
                async for chunk in r.aiter_bytes():
                    sink.write(chunk)
                    written += len(chunk)
                    if on_progress is not None:
                        on_progress(written)
            sink.flush()
            sink.seek(0)
            return RawResponse(r.status_code, dict(r.headers), b"", time.monotonic() - t0)

        return await self._run(spec, attempt)

    async def _run(self, spec: RequestSpec, attempt_once: _AsyncAttempt) -> RawResponse:
        headers, content = prepare(spec, self.settings)
        url = self._url(spec)
        tries = _Tries()
        while True:
            tries.attempts += 1
            client = self._http()
            try:
                async with self.limits.async_slot(spec.limit_class):
                    self.requests_sent += 1
                    raw = await attempt_once(client, url, headers, content)
            except httpx.HTTPError as exc:
                await asyncio.sleep(self._after_fault(spec, url, exc, tries))
                continue
            hop = self._redirect(spec, url, raw, tries)
            if hop is not None:
                url = hop
                tries.attempts -= 1  # a hop is not a failed attempt
                continue
            outcome = self._outcome(spec, raw, tries)
            if isinstance(outcome, RawResponse):
                return outcome
            await asyncio.sleep(outcome)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = None


__all__ = ["AmplitudeError", "AsyncTransport", "SyncTransport"]
