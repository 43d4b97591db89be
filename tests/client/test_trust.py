"""The client trusts only Amplitude's answer, and never sends or shows a key elsewhere.

Answers ``ampkit serve`` cannot give (a non-JSON 200, a 202, a redirect to another host) come
from tiny real HTTP servers (``tests/stub_http.py``).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import orjson
import pytest
from tests.client.conftest import API_KEY, SECRET_KEY, Server, make_config
from tests.stub_http import SUCCESS, Reply, dead_port, scripted, stub

from ampkit import Amplitude, RetryPolicy, SenderOptions
from ampkit.config import load_settings
from ampkit.core.transport import SyncTransport
from ampkit.errors import (
    AmplitudeError,
    APITimeoutError,
    RedirectRefused,
    UnexpectedResponse,
    UnreachableError,
)
from ampkit.ingest.sender import BackgroundSender, SenderCore
from ampkit.server import RunningServer, serve_in_thread

BAD_2XX = {
    "non-JSON 200": Reply(200, b"<html>Welcome to the hotel Wi-Fi</html>",
                          {"Content-Type": "text/html"}),
    "empty 200": Reply(200),
    "200 with code 400": Reply(200, b'{"code": 400, "error": "Invalid field values"}'),
    "JSON array 200": Reply(200, b"[]"),
    "202": Reply(202, SUCCESS.body),
    "204": Reply(204),
}


def events(n: int, tag: str) -> list[dict[str, Any]]:
    return [{"event_type": "trust", "user_id": "user-0001", "insert_id": f"{tag}-{i}"}
            for i in range(n)]


def ids(batches: list[list[dict[str, Any]]]) -> list[str]:
    return sorted(str(e["insert_id"]) for batch in batches for e in batch)


@pytest.mark.parametrize("kind", list(BAD_2XX))
def test_an_unexpected_2xx_is_resent_with_the_same_bytes_until_amplitude_answers(
    kind: str,
) -> None:
    delivered: list[list[dict[str, Any]]] = []
    failed: list[Any] = []
    bad = BAD_2XX[kind]
    with stub(scripted(bad, bad)) as proxy:
        amp = Amplitude(API_KEY, base_url=proxy.url, retry=RetryPolicy.no_wait(5),
                        sender=SenderOptions(flush_interval=0.01),
                        on_delivered=delivered.append,
                        on_failed=lambda evs, reason, status: failed.append(reason))
        amp.track(events(3, kind))
        assert amp.close(timeout=30)
    assert len(proxy.seen) == 3  # two unexpected answers, then Amplitude's success answer
    assert len(set(proxy.bodies())) == 1  # the same bytes, so the same insert_ids
    assert ids(delivered) == sorted(f"{kind}-{i}" for i in range(3))  # each once
    assert failed == []


def test_events_never_answered_with_success_are_reported_failed_once() -> None:
    delivered: list[list[dict[str, Any]]] = []
    failed: list[tuple[list[dict[str, Any]], str, int | None]] = []
    with stub(lambda seen: BAD_2XX["non-JSON 200"]) as proxy:
        amp = Amplitude(API_KEY, base_url=proxy.url, retry=RetryPolicy.no_wait(2),
                        sender=SenderOptions(flush_interval=0.01, max_delivery_rounds=2),
                        on_delivered=delivered.append,
                        on_failed=lambda evs, reason, status: failed.append((evs, reason, status)))
        amp.track(events(3, "never"))
        assert amp.close(timeout=30)  # settled: failed, not left behind
    assert len(proxy.seen) == 4 and len(set(proxy.bodies())) == 1  # 2 attempts × 2 rounds
    assert delivered == []
    assert len(failed) == 1
    evs, reason, status = failed[0]
    assert ids([evs]) == [f"never-{i}" for i in range(3)]
    assert "not Amplitude's success answer" in reason and status == 200


def test_send_raises_a_typed_error_without_the_key() -> None:
    echo = Reply(200, b"proxy: request with api_key " + API_KEY.encode() + b" accepted")
    with stub(lambda seen: echo) as proxy:
        amp = Amplitude(API_KEY, base_url=proxy.url, retry=RetryPolicy.no_wait(3))
        with pytest.raises(UnexpectedResponse) as caught:
            amp.send(events(2, "send"))
        amp.close()
    assert caught.value.retryable and caught.value.status == 200
    assert "3 times" in str(caught.value) and proxy.url in str(caught.value)
    assert API_KEY not in str(caught.value) + repr(caught.value)
    assert len(proxy.seen) == 3


def test_identify_counts_only_a_success_body() -> None:
    ident = [{"user_id": "user-0001", "user_properties": {"$set": {"plan": "pro"}}}]
    with stub(scripted(Reply(200, b"OK"), then=Reply(200, b"success"))) as proxy:
        amp = Amplitude(API_KEY, base_url=proxy.url, retry=RetryPolicy.no_wait(3))
        amp.identify_api(ident)
        amp.close()
    assert [s.path for s in proxy.seen] == ["/identify", "/identify"]
    assert len(set(proxy.bodies())) == 1
    with stub(lambda seen: Reply(200, b'{"ok": true}')) as proxy:
        amp = Amplitude(API_KEY, base_url=proxy.url, retry=RetryPolicy.no_wait(2))
        with pytest.raises(UnexpectedResponse, match="instead of 'success'"):
            amp.group_identify_api([{"group_type": "org", "group_value": "org-1",
                                     "group_properties": {"$set": {"seats": 3}}}])
        amp.close()
    assert len(proxy.seen) == 2


@pytest.mark.parametrize("call", ["send", "identify_api", "track"])
def test_a_cross_origin_redirect_never_carries_the_key_away(call: str) -> None:
    failed: list[str] = []
    with stub(lambda seen: SUCCESS) as elsewhere, stub(
        lambda seen: Reply(307, headers={"Location": f"{elsewhere.url}{seen.path}"})
    ) as first:
        amp = Amplitude(API_KEY, base_url=first.url, retry=RetryPolicy.no_wait(3),
                        sender=SenderOptions(flush_interval=0.01),
                        on_failed=lambda evs, reason, status: failed.append(reason))
        if call == "track":
            amp.track(events(2, "moved"))
            assert amp.close(timeout=30)
            assert len(failed) == 1
            message = failed[0]
        else:
            def attempt() -> object:
                if call == "send":
                    return amp.send(events(2, "moved"))
                return amp.identify_api([{"user_id": "user-0001",
                                          "user_properties": {"$set": {"a": 1}}}])

            with pytest.raises(RedirectRefused) as caught:
                attempt()
            amp.close()
            assert caught.value.location.startswith(elsewhere.url)
            message = str(caught.value) + repr(caught.value)
        assert len(first.seen) == 1  # not retried either: the answer will not change
    assert elsewhere.seen == []  # the body, key included, never went there
    assert elsewhere.url in message and "another origin" in message
    assert API_KEY not in message


def test_a_same_origin_redirect_is_followed() -> None:
    def answer(seen: Any) -> Reply:
        if seen.path == "/2/httpapi":
            return Reply(308, headers={"Location": "/v2/ingest"})
        return SUCCESS

    with stub(answer) as moved:
        amp = Amplitude(API_KEY, base_url=moved.url, retry=RetryPolicy.no_wait(3))
        report = amp.send(events(2, "same"))
        amp.close()
    assert len(report.delivered) == 2
    assert [s.path for s in moved.seen] == ["/2/httpapi", "/v2/ingest"]
    assert len(set(moved.bodies())) == 1 and API_KEY.encode() in moved.seen[1].body


@pytest.mark.parametrize(("family", "path"), [("analytics", "/api/2/events/list"),
                                              ("profile", "/v1/userprofile")])
def test_a_cross_origin_redirect_drops_authorization(family: str, path: str) -> None:
    with stub(lambda seen: Reply(200, b'{"data": []}')) as elsewhere, stub(
        lambda seen: Reply(302, headers={"Location": f"{elsewhere.url}{seen.path}"})
    ) as first:
        amp = Amplitude(API_KEY, SECRET_KEY, base_url=first.url, retry=RetryPolicy.no_wait(2))
        answer = amp.request("GET", path, family=family)  # type: ignore[arg-type]
        amp.close()
    assert answer.status == 200
    assert "authorization" in first.seen[0].headers
    assert len(elsewhere.seen) == 1 and "authorization" not in elsewhere.seen[0].headers
    assert SECRET_KEY not in repr(elsewhere.seen[0])


def test_nothing_listening_fails_fast_naming_the_url() -> None:
    with dead_port() as port:
        amp = Amplitude(API_KEY, base_url=f"http://127.0.0.1:{port}", retry=RetryPolicy.no_wait())
        with pytest.raises(UnreachableError) as caught:
            amp.send(events(1, "down"))
        amp.close()
    assert amp.transport.requests_sent == RetryPolicy().connect_attempts == 3
    assert caught.value.attempts == 3
    assert f"http://127.0.0.1:{port}/2/httpapi" in str(caught.value)
    assert "connection refused" in str(caught.value) and "AMPLITUDE_BASE_URL" in str(caught.value)


def test_the_sender_keeps_events_while_nothing_listens_and_delivers_them_later() -> None:
    holder = socket.socket()  # bound, not listening: refused until the server takes the port
    holder.bind(("127.0.0.1", 0))
    port = int(holder.getsockname()[1])
    running: list[RunningServer] = []
    sleeps = 0

    def sleep(seconds: float) -> None:  # called between connection attempts
        nonlocal sleeps
        sleeps += 1
        if sleeps == 10:  # in the 5th round: 4 refused rounds, more than max_delivery_rounds
            holder.close()
            running.append(serve_in_thread(make_config(port=port, throttle_enabled=False)))

    delivered: list[list[dict[str, Any]]] = []
    failed: list[str] = []
    transport = SyncTransport(load_settings(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}"),
                              policy=RetryPolicy.no_wait(), sleep=sleep)
    core = SenderCore(SenderOptions(flush_interval=0.01, max_delivery_rounds=2), retry_delay=0.0,
                      on_delivered=delivered.append,
                      on_failed=lambda evs, reason, status: failed.append(reason))
    sender = BackgroundSender(transport, core)
    try:
        sender.enqueue([orjson.dumps(e) for e in events(4, "later")])
        assert sender.flush(timeout=60)
        assert failed == []
        assert ids(delivered) == [f"later-{i}" for i in range(4)]
        assert transport.requests_sent == 4 * 3 + 3  # 4 rounds of 3 refused tries, then 3rd ok
        stored = Server(running[0]).events()
        assert sorted(e["$insert_id"] for e in stored) == [f"later-{i}" for i in range(4)]
    finally:
        sender.close(timeout=5)
        transport.close()
        holder.close()
        for srv in running:
            srv.stop()


class Drip:
    """A server that answers every request's headers at once, then its body one byte every
    ``pause`` seconds (a slow-drip answer: each read gets a byte, so no read ever times out)."""

    def __init__(self, pause: float) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.pause = pause
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            body = b'{"code": 200}' + b" " * 200
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body))
            for byte in body:
                if self.stopped.wait(self.pause):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.sock.close()


def test_a_body_that_drips_in_fails_as_a_timeout_not_a_hang() -> None:
    drip = Drip(pause=0.05)  # 200 bytes over 10 s; every read is quick
    amp = Amplitude(settings=load_settings(api_key=API_KEY, base_url=drip.url, timeout=0.5),
                    retry=RetryPolicy.no_wait(max_attempts=2))
    started = time.monotonic()
    try:
        with pytest.raises(APITimeoutError):
            amp.send({"event_type": "E", "user_id": "user-drip1"})
    finally:
        amp.close()
        drip.close()
    assert time.monotonic() - started < 5  # two attempts of about half a second each


@pytest.mark.parametrize("fault", ["reset", "500"])
def test_an_identify_that_adds_is_not_sent_again_when_its_effect_is_unknown(
    server: Server, client_factory: Any, fault: str
) -> None:
    """The Identify API has no insert_id: after a broken connection or a 5xx the server may
    have applied the call.  One that $adds is not resent (the error says it may have been
    applied); one that only $sets is resent, as every resend leaves the same value."""
    server.set_faults(rates={fault: 1.0}, paths=["/identify", "/groupidentify"])
    amp = client_factory(retry=RetryPolicy.no_wait(max_attempts=4))
    with pytest.raises(AmplitudeError, match="may have been applied") as caught:
        amp.identify_api([{"user_id": "adder-0001", "user_properties": {"$add": {"logins": 1}}}])
    assert caught.value.retryable is False
    with pytest.raises(AmplitudeError, match="may have been applied"):
        amp.group_identify_api([{"group_type": "org", "group_value": "org-add",
                                 "group_properties": {"$add": {"n": 1}}}])
    with pytest.raises(AmplitudeError) as spent:  # every attempt failed: resent, then raised
        amp.identify_api([{"user_id": "setter-001", "user_properties": {"$set": {"plan": "x"}}}])
    assert "may have been applied" not in str(spent.value)
    server.set_faults()
    assert server.user("adder-0001")["user_properties"] == {"logins": 1}
    assert server.group("org", "org-add")["group_properties"] == {"n": 1}
    assert server.stats()["faults_injected"] == 2 + 4  # one attempt each, four for the $set


def test_closing_again_and_flushing_after_close_tell_the_truth_at_once() -> None:
    """Nothing listens: close gives up with events left (False).  Closing again (atexit,
    another thread) answers the same, not True; flush after close answers False at once rather
    than wait forever for threads that have stopped."""
    with dead_port() as port:
        amp = Amplitude(API_KEY, base_url=f"http://127.0.0.1:{port}",
                        retry=RetryPolicy.no_wait(2), sender=SenderOptions(flush_interval=0.01))
        amp.track(events(3, "left"))
        assert amp.close(timeout=0.5) is False
        assert amp.close() is False
        answers: list[bool] = []
        waiting = threading.Thread(target=lambda: answers.append(amp.flush()), daemon=True)
        waiting.start()
        waiting.join(30)
        assert answers == [False]


async def _async_close_twice() -> tuple[bool, bool, bool]:
    from ampkit import AsyncAmplitude

    with dead_port() as port:
        amp = AsyncAmplitude(API_KEY, base_url=f"http://127.0.0.1:{port}",
                             retry=RetryPolicy.no_wait(2),
                             sender=SenderOptions(flush_interval=0.01))
        await amp.track(events(3, "left"))
        return await amp.close(timeout=0.5), await amp.close(), await amp.flush()


def test_async_closing_again_tells_the_truth() -> None:
    import asyncio

    assert asyncio.run(_async_close_twice()) == (False, False, False)


def test_a_rate_limit_hold_is_not_a_delivery_round() -> None:
    """Three 429 holds, then a server answering 503: the batch still gets its three delivery
    rounds of two attempts each (six 503s) before it is reported failed — the holds used none."""
    throttled = Reply(429, b'{"code": 429, "error": "Too many requests", '
                           b'"throttled_events": [0]}', {"Retry-After": "0"})
    failed: list[int | None] = []
    with stub(scripted(throttled, throttled, throttled, then=Reply(503))) as proxy:
        amp = Amplitude(API_KEY, base_url=proxy.url, retry=RetryPolicy.no_wait(2),
                        sender=SenderOptions(flush_interval=0.01, throttle_delay=0.01,
                                             max_delivery_rounds=3),
                        on_failed=lambda events, reason, status: failed.append(status))
        amp.track(events(1, "held"))
        assert amp.flush(timeout=30)
        amp.close()
    assert len(proxy.seen) == 3 + 3 * 2
    assert failed == [503]


def test_httpx_request_logs_show_a_base_url_without_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """httpx logs every request's URL at INFO; a base URL's password is masked there too."""
    import logging

    from ampkit import Amplitude

    with caplog.at_level(logging.INFO, logger="httpx"), stub(
            lambda seen: Reply(200, b'{"data": []}')) as proxy:
        url = proxy.url.replace("http://", "http://svc:l0g-s3cret@")
        amp = Amplitude("key-0123456789", secret_key="secret-0123456789", base_url=url)
        amp.events_list()
        amp.close()
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "httpx")
    assert "HTTP Request" in logged and "svc:***@" in logged and "l0g-s3cret" not in logged
