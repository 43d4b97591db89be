"""The only two httpx clients in ampkit: one sync, one async, with the same retry loop."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import IO

import httpx

from ampkit.config import Settings
from ampkit.core.auth import prepare
from ampkit.core.limits import Limits
from ampkit.core.policy import RetryPolicy, parse_retry_after
from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.errors import AmplitudeError, APIConnectionError, APITimeoutError, error_for

log = logging.getLogger("ampkit.http")

try:
    _VERSION = version("ampkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    _VERSION = "0"
USER_AGENT = f"ampkit/{_VERSION}"
ERROR_BODY_CAP = 1024 * 1024
"""At most this much of an error body is kept by :meth:`SyncTransport.download`."""

Headers = dict[str, str]
Body = bytes | None
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


class _Base:
    def __init__(
        self,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self.limits = limits or Limits()
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(region={self.settings.region!r})"

    def _url(self, spec: RequestSpec) -> str:
        return self.settings.base_for(spec.family) + spec.path

    def _outcome(
        self, spec: RequestSpec, resp: RawResponse, attempt: int, started: float
    ) -> float | RawResponse | None:
        """Return the response, a delay (retry), or raise."""
        status = resp.status
        if status < 300 or status in spec.handled_statuses:
            return resp
        if self.policy.is_retryable_status(status):
            retry_after = parse_retry_after(resp.headers.get("retry-after"))
            delay = self.policy.next_delay(attempt, time.monotonic() - started, retry_after)
            if delay is not None:
                log.info("%s answered %s; retry %d in %.2fs", spec.endpoint, status, attempt, delay)
                return delay
        raise error_for(
            status,
            resp.content,
            endpoint=spec.endpoint,
            headers=resp.headers,
            secrets=self.settings.secrets(),
        )

    def _after_fault(
        self, spec: RequestSpec, err: APIConnectionError, attempt: int, started: float
    ) -> float:
        delay = self.policy.next_delay(attempt, time.monotonic() - started)
        if delay is None:
            raise err
        log.info("%s: %s; retry %d in %.2fs", spec.endpoint, err.message, attempt, delay)
        return delay


class SyncTransport(_Base):
    """Sends specs with retries; safe to use from many threads and after ``os.fork()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        limits: Limits | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(settings, policy=policy, limits=limits)
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
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            client = self._http()
            try:
                with self.limits.sync_slot(spec.limit_class):
                    self.requests_sent += 1
                    raw = attempt_once(client, url, headers, content)
            except httpx.HTTPError as exc:
                delay = self._after_fault(spec, _fault(exc, spec), attempt, started)
                self._sleep(delay)
                continue
            outcome = self._outcome(spec, raw, attempt, started)
            if isinstance(outcome, RawResponse):
                return outcome
            self._sleep(outcome or 0.0)

    def close(self) -> None:
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None


class AsyncTransport(_Base):
    """The async twin of :class:`SyncTransport` (same policy, same outcomes)."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(settings, policy=policy, limits=limits)
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
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
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            client = self._http()
            try:
                async with self.limits.async_slot(spec.limit_class):
                    self.requests_sent += 1
                    raw = await attempt_once(client, url, headers, content)
            except httpx.HTTPError as exc:
                delay = self._after_fault(spec, _fault(exc, spec), attempt, started)
                await asyncio.sleep(delay)
                continue
            outcome = self._outcome(spec, raw, attempt, started)
            if isinstance(outcome, RawResponse):
                return outcome
            await asyncio.sleep(outcome or 0.0)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = None


__all__ = ["AmplitudeError", "AsyncTransport", "SyncTransport"]
