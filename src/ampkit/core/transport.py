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
import functools
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import IO, Any

import httpx

from ampkit.config import Settings
from ampkit.core.auth import prepare
from ampkit.core.expect import unexpected
from ampkit.core.limits import Limits
from ampkit.core.policy import RetryPolicy
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
    parse_retry_after,
    redact,
    redact_urls,
)

log = logging.getLogger("ampkit.http")


class _MaskUrlPasswords(logging.Filter):
    """httpx logs each request's URL at INFO: with a base URL's password masked, as ampkit's
    own messages show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = redact_urls(text)
        if masked != text:
            record.msg, record.args = masked, None
        return True


logging.getLogger("httpx").addFilter(_MaskUrlPasswords())

try:
    _VERSION = version("ampkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    _VERSION = "0"
USER_AGENT = f"ampkit/{_VERSION}"
ERROR_BODY_CAP = 1024 * 1024
"""At most this much of an error body is kept by a download."""

MAX_REDIRECTS = 5
"""Same-origin redirects followed for a request with the API key in its body."""

Headers = dict[str, str]
Body = bytes | None
WaitCallback = Callable[[str, float], None]
"""``on_wait(reason, seconds)``: called before each wait on a rate limit."""
ByteProgress = Callable[[int], None]
"""``on_progress(written)``: the bytes of a download written so far in the current attempt."""


def _fault(exc: httpx.HTTPError, spec: RequestSpec) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"timed out ({type(exc).__name__})", endpoint=spec.endpoint)
    return APIConnectionError(
        f"connection failed: {type(exc).__name__}: {exc}", endpoint=spec.endpoint
    )


def _unsure(err: AmplitudeError) -> AmplitudeError:
    """``err`` of an attempt whose effect is unknown, for a request not to be sent again
    (``RequestSpec.resend_when_unsure``): it says so, and that retrying may apply it twice."""
    err.amend("; it may have been applied, so it was not sent again (its $add, $append or "
              "$prepend would apply twice): check before sending it again")
    err.retryable = False
    return err


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
    """One request on its way through its attempts: where it goes now, what it carries, and
    what it has used so far."""

    spec: RequestSpec
    url: str
    headers: Headers
    content: Body
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


class _Body:
    """What one attempt receives, for :meth:`send`: the whole body, in memory.  Both transports
    feed it the chunks they read (``take`` says whether to read on) and ask it for the answer."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.chunks: list[bytes] = []
        self.size = 0

    def keep(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)

    def take(self, status: int, chunk: bytes) -> bool:
        self.keep(chunk)
        return True

    def answer(self, r: httpx.Response) -> RawResponse:
        return RawResponse(r.status_code, dict(r.headers), b"".join(self.chunks),
                           time.monotonic() - self.started)


class _Spool(_Body):
    """What one attempt receives, for :meth:`download`: a 2xx body streams into ``sink``
    (emptied first, so a retry never appends to a partial body; rewound at the end); any other
    status keeps at most :data:`ERROR_BODY_CAP` bytes of its body in memory."""

    def __init__(self, sink: IO[bytes], on_progress: ByteProgress | None) -> None:
        sink.seek(0)
        sink.truncate()
        super().__init__()
        self.sink = sink
        self.on_progress = on_progress
        self.written = 0

    def take(self, status: int, chunk: bytes) -> bool:
        if status >= 300:
            self.keep(chunk[: ERROR_BODY_CAP - self.size])
            return self.size < ERROR_BODY_CAP
        self.sink.write(chunk)
        self.written += len(chunk)
        if self.on_progress is not None:
            self.on_progress(self.written)
        return True

    def answer(self, r: httpx.Response) -> RawResponse:
        if r.status_code < 300:
            self.sink.flush()
            self.sink.seek(0)
        return super().answer(r)


_Receiver = Callable[[], _Body]
"""Makes what an attempt receives into (a fresh one per attempt)."""
_Got = RawResponse | httpx.HTTPError
"""What an attempt came back with: an answer, or the transport error it met."""


class _Base:
    """Everything but the I/O, for both transports: what a request looks like on the wire,
    and what each attempt's result means (answer, wait and retry, follow, or raise)."""

    def __init__(self, settings: Settings, *, policy: RetryPolicy | None = None,
                 limits: Limits | None = None, on_wait: WaitCallback | None = None) -> None:
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self.limits = limits or Limits()
        self.on_wait = on_wait
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(region={self.settings.region!r})"

    def _client_options(self) -> dict[str, Any]:
        """What both httpx clients are made with."""
        return {"timeout": self.settings.timeout, "follow_redirects": True, "verify": tls(),
                "headers": {"User-Agent": USER_AGENT, "Accept": "*/*"}}

    def _tries(self, spec: RequestSpec) -> _Tries:
        headers, content = prepare(spec, self.settings)
        return _Tries(spec, self.settings.base_for(spec.family) + spec.path, headers, content)

    def _request(self, client: httpx.Client | httpx.AsyncClient, tries: _Tries) -> httpx.Request:
        """The next attempt's request (counted as an attempt and as a request sent)."""
        tries.attempts += 1
        self.requests_sent += 1
        spec = tries.spec
        return client.build_request(
            spec.method,
            tries.url,
            params=list(spec.params) or None,
            content=tries.content,
            headers=tries.headers,
            timeout=spec.timeout or self.settings.timeout,
        )

    def _body_deadline(self, spec: RequestSpec) -> float | None:
        """When the body of an answer (its headers in) must be whole: within the request's
        timeout — except a download (``stream``), which may rightly take longer and is bounded
        by the timeout per read alone."""
        if spec.stream:
            return None
        return time.monotonic() + (spec.timeout or self.settings.timeout)

    def _judge(self, tries: _Tries, got: _Got) -> RawResponse | float | None:
        """What an attempt's answer (or transport error) means: the answer to return, the
        seconds to wait before the next attempt, or ``None`` to make it at once (a redirect
        followed: ``tries.url`` moved); raises when the policy is spent."""
        if isinstance(got, httpx.HTTPError):
            return self._after_fault(tries, got)
        hop = self._redirect(tries, got)
        if hop is not None:
            tries.url = hop
            tries.attempts -= 1  # a hop is not a failed attempt
            return None
        return self._outcome(tries, got)

    def _outcome(self, tries: _Tries, resp: RawResponse) -> float | RawResponse:
        """Return the response, a delay (retry), or raise."""
        spec = tries.spec
        status = resp.status
        secrets = self.settings.secrets()
        if status < 300:
            problem = unexpected(spec.expect, resp)
            if problem is None:
                return resp
            delay = self.policy.next_delay(tries.attempts, tries.elapsed())
            if delay is not None and spec.resend_when_unsure:
                log.info("%s answered %s, not its success answer; retry %d in %.2fs",
                         spec.endpoint, problem, tries.attempts, delay)
                return delay
            times = "once" if tries.attempts == 1 else f"{tries.attempts} times"
            odd = UnexpectedResponse(
                redact(f"answered {problem}, not Amplitude's success answer, "
                       f"{times} — check that the URL "
                       f"({self.settings.base_for(spec.family)}) is Amplitude or ampkit serve, "
                       "not a proxy or portal", secrets),
                status=status, endpoint=spec.endpoint,
            )
            raise odd if spec.resend_when_unsure else _unsure(odd)
        if status in spec.handled_statuses:
            return resp
        err = error_for(status, resp.content, endpoint=spec.endpoint, headers=resp.headers,
                        secrets=secrets)
        if status == 429 and isinstance(err, RateLimited) and err.retry_after is not None:
            return self._rate_limited(tries, err, err.retry_after)
        if status >= 500 and not spec.resend_when_unsure:
            raise _unsure(err)
        if self.policy.is_retryable_status(status):
            retry_after = parse_retry_after(resp.headers.get("retry-after"))
            delay = self.policy.next_delay(tries.attempts, tries.elapsed(), retry_after)
            if delay is not None:
                log.info("%s answered %s; retry %d in %.2fs", spec.endpoint, status,
                         tries.attempts, delay)
                return delay
        raise err

    def _rate_limited(self, tries: _Tries, err: RateLimited, retry_after: float) -> float:
        """Wait as the 429 asks, within ``max_rate_limit_wait``; else raise, naming the limit."""
        policy = self.policy
        delay = policy.rate_limit_delay(tries.attempts, tries.rate_limit_asked, retry_after)
        if delay is None:
            why = (f"{tries.attempts} attempts made (RetryPolicy.max_attempts="
                   f"{policy.max_attempts})" if tries.attempts >= policy.max_attempts else
                   f"Retry-After {retry_after:g} s after {tries.rate_limit_asked:g} s of waiting "
                   f"is past the bound (RetryPolicy.max_rate_limit_wait="
                   f"{policy.max_rate_limit_wait:g} s)")
            raise RateLimited(
                f"{err.message}; {why}",
                status=err.status, endpoint=err.endpoint, body=err.body, limit=err.limit,
                retry_after=retry_after,
            )
        tries.rate_limit_asked += retry_after
        tries.rate_limit_slept += delay
        endpoint = tries.spec.endpoint
        log.info("%s: rate limit %s; waiting %.0fs", endpoint, err.limit, delay)
        if self.on_wait is not None:
            self.on_wait(f"{err.limit} (HTTP 429 at {endpoint})", delay)
        return delay

    def _after_fault(self, tries: _Tries, exc: httpx.HTTPError) -> float:
        """The delay before the next attempt after a transport error, or raise."""
        endpoint = tries.spec.endpoint
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            tries.unreachable += 1
            delay = self.policy.next_delay(tries.attempts, tries.elapsed())
            if tries.unreachable >= self.policy.connect_attempts or delay is None:
                where = str(httpx.URL(tries.url).copy_with(query=None))
                n = tries.unreachable
                raise UnreachableError(
                    redact(f"could not reach {where} ({_unreachable_reason(exc)}; {n} "
                           f"attempt{'s' if n != 1 else ''}) — check that the server is running "
                           "and reachable, and AMPLITUDE_BASE_URL (--base-url) or "
                           "AMPLITUDE_REGION", self.settings.secrets()),
                    url=where, attempts=tries.unreachable, endpoint=endpoint,
                ) from None
            return delay
        err = _fault(exc, tries.spec)
        if not tries.spec.resend_when_unsure:
            raise _unsure(err)
        delay = self.policy.next_delay(tries.attempts, tries.elapsed())
        if delay is None:
            if tries.attempts > 1:  # what the wait was in all, not one attempt's timeout
                err.amend(f"; {tries.attempts} attempts, {tries.elapsed():.1f} s in all")
            raise err
        log.info("%s: %s; retry %d in %.2fs", endpoint, err.message, tries.attempts, delay)
        return delay

    def _redirect(self, tries: _Tries, resp: RawResponse) -> str | None:
        """The next URL when a request with the key in its body was redirected within its
        origin; ``None`` when ``resp`` is no redirect; raises for another origin."""
        spec = tries.spec
        location = resp.headers.get("location")
        if not spec.key_in_body or not 300 <= resp.status < 400 or not location:
            return None
        here = httpx.URL(tries.url)
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


@functools.cache
def tls() -> ssl.SSLContext:
    """The TLS context every client of this process shares: httpx's default (certifi's CA
    bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``, read once).  Building one parses the whole
    bundle, ~23 ms of CPU — per client, before."""
    return httpx.create_ssl_context()


class SyncTransport(_Base):
    """Sends specs with retries; safe to use from many threads and after ``os.fork()``."""

    def __init__(self, settings: Settings, *, policy: RetryPolicy | None = None,
                 limits: Limits | None = None, sleep: Callable[[float], None] = time.sleep,
                 on_wait: WaitCallback | None = None) -> None:
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
                    limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                    **self._client_options(),
                )
            return self._client

    def send(self, spec: RequestSpec) -> RawResponse:
        """Send ``spec`` with retries; the whole body is read into ``content``."""
        return self._run(spec, _Body)

    def download(self, spec: RequestSpec, sink: IO[bytes], *,
                 on_progress: ByteProgress | None = None) -> RawResponse:
        """Like :meth:`send`, but a 2xx body streams into ``sink`` (seekable) instead of memory.

        The sink is emptied before every attempt and rewound after a 2xx; the returned
        ``content`` is then empty.  Any other status leaves the sink empty and carries its (small,
        capped) error body in ``content``.  ``on_progress`` gets the bytes written so far in the
        current attempt.  If the last attempt fails, the sink may hold a partial body: discard it.
        """
        return self._run(spec, lambda: _Spool(sink, on_progress))

    def _run(self, spec: RequestSpec, receiver: _Receiver) -> RawResponse:
        tries = self._tries(spec)
        while True:
            outcome = self._judge(tries, self._attempt(tries, receiver))
            if isinstance(outcome, RawResponse):
                return outcome
            if outcome is not None:
                self._sleep(outcome)

    def _attempt(self, tries: _Tries, receiver: _Receiver) -> _Got:
        client = self._http()
        try:
            with self.limits.sync_slot(tries.spec.limit_class):
                request = self._request(client, tries)
                body = receiver()
                r = client.send(request, stream=True, follow_redirects=not tries.spec.key_in_body)
                deadline = self._body_deadline(tries.spec)
                try:
                    for chunk in r.iter_bytes():
                        if not body.take(r.status_code, chunk):
                            break
                        _check_deadline(deadline, request)
                finally:
                    r.close()
        except httpx.HTTPError as exc:
            return exc
        return body.answer(r)

    def close(self) -> None:
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None


def _check_deadline(deadline: float | None, request: httpx.Request) -> None:
    """A body still arriving past its deadline is a timeout (then retried like one): the
    per-read timeout alone never fires on a server that sends a byte every second."""
    if deadline is not None and time.monotonic() > deadline:
        raise httpx.ReadTimeout("the answer's body did not arrive within the timeout",
                                request=request)


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
    """The async twin of :class:`SyncTransport` (same policy, same outcomes); the sink of a
    download is written synchronously."""

    _client: httpx.AsyncClient | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            if self._client is not None:
                _retire(self._client, self._loop)
            self._client = httpx.AsyncClient(**self._client_options())
            self._loop = loop
        return self._client

    async def send(self, spec: RequestSpec) -> RawResponse:
        """Send ``spec`` with retries; the whole body is read into ``content``."""
        return await self._run(spec, _Body)

    async def download(self, spec: RequestSpec, sink: IO[bytes], *,
                       on_progress: ByteProgress | None = None) -> RawResponse:
        """:meth:`SyncTransport.download`, awaited."""
        return await self._run(spec, lambda: _Spool(sink, on_progress))

    async def _run(self, spec: RequestSpec, receiver: _Receiver) -> RawResponse:
        tries = self._tries(spec)
        while True:
            outcome = self._judge(tries, await self._attempt(tries, receiver))
            if isinstance(outcome, RawResponse):
                return outcome
            if outcome is not None:
                await asyncio.sleep(outcome)

    async def _attempt(self, tries: _Tries, receiver: _Receiver) -> _Got:
        client = self._http()
        try:
            async with self.limits.async_slot(tries.spec.limit_class):
                request = self._request(client, tries)
                body = receiver()
                r = await client.send(request, stream=True,
                                      follow_redirects=not tries.spec.key_in_body)
                deadline = self._body_deadline(tries.spec)
                try:
                    async for chunk in r.aiter_bytes():
                        if not body.take(r.status_code, chunk):
                            break
                        _check_deadline(deadline, request)
                finally:
                    await r.aclose()
        except httpx.HTTPError as exc:
            return exc
        return body.answer(r)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = None


__all__ = ["AmplitudeError", "AsyncTransport", "SyncTransport"]
