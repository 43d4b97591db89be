"""Absolute-form request targets (issue 16 §3): ``ampkit serve`` as the proxy of a client whose
Amplitude hosts are hard-coded. Amplitude's hosts are served as if the path had been sent; every
other host, ``CONNECT`` and malformed targets are refused with a 4xx, and nothing is forwarded."""

from __future__ import annotations

import base64
import http.client
from typing import Any

import httpx
import orjson
import pytest
from tests.server.conftest import KEY, SECRET, Api

from ampkit.models.hosts import AMPLITUDE_HOSTS

BASIC = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return orjson.loads(self.body)


def send(api: Api, method: str, target: str, *, body: bytes = b"",
         headers: dict[str, str] | None = None) -> Answer:
    """``method target HTTP/1.1`` sent as it is (no client rewrites the target), with ``Host``
    naming the server as a proxied client's does."""
    port = api.running.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": f"127.0.0.1:{port}", **(headers or {})}.items():
            conn.putheader(name, value)
        if body or method in ("POST", "PUT"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        r = conn.getresponse()
        return Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def event(name: str = "proxied") -> dict[str, Any]:
    return {"event_type": name, "user_id": "proxy-user-1", "time": 1_700_000_000_000}


# --- Amplitude's hosts are served ---------------------------------------------------------------

def test_the_hosts_are_amplitudes_documented_ones() -> None:
    assert set(AMPLITUDE_HOSTS) == {
        "amplitude.com", "analytics.amplitude.com", "api.amplitude.com", "api2.amplitude.com",
        "profile-api.amplitude.com", "analytics.eu.amplitude.com", "api.eu.amplitude.com"}


@pytest.mark.parametrize("host", ["api2.amplitude.com", "api.amplitude.com",
                                  "api.eu.amplitude.com"])
def test_an_ingestion_url_as_target_stores_the_events(api: Api, host: str) -> None:
    body = orjson.dumps({"api_key": KEY, "events": [event()]})
    r = send(api, "POST", f"https://{host}/2/httpapi", body=body,
             headers={"Content-Type": "application/json"})
    assert r.status == 200, r.body
    assert r.json()["events_ingested"] == 1
    assert [e["event_type"] for e in api.stored()] == ["proxied"]


@pytest.mark.parametrize("target", [
    "https://amplitude.com/api/2/usersearch?user=proxy-user-1",
    "https://analytics.eu.amplitude.com/api/2/usersearch?user=proxy-user-1",
    "HTTPS://AMPLITUDE.COM:443/api/2/usersearch?user=proxy-user-1",  # scheme, host: any case
    "https://amplitude.com./api/2/usersearch?user=proxy-user-1",  # the root's trailing dot
    "http://amplitude.com/api/2/usersearch?user=proxy-user-1",
])
def test_a_dashboard_url_as_target_answers_as_its_path(api: Api, target: str) -> None:
    assert api.post_events([event()]).status_code == 200
    direct = api.http.get("/api/2/usersearch", params={"user": "proxy-user-1"},
                          auth=(KEY, SECRET))
    r = send(api, "GET", target, headers={"Authorization": BASIC})
    assert r.status == 200, r.body
    assert r.json() == direct.json()
    assert r.json()["type"] == "match_user_or_device_id"


def test_an_encoded_path_is_decoded_as_an_origin_form_one(api: Api) -> None:
    assert api.post_events([{**event(), "user_id": "proxy user/1"}]).status_code == 200
    r = send(api, "GET", "https://amplitude.com/_ampkit/users/proxy%20user%2F1",
             headers={"Authorization": BASIC})
    assert r.status == 200, r.body
    assert r.json()["user_id"] == "proxy user/1"


def test_the_server_itself_is_served(api: Api) -> None:
    port = api.running.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        r = send(api, "GET", f"http://{host}/health")
        assert (r.status, r.json()) == (200, {"status": "ok"})
    other = send(api, "GET", f"http://127.0.0.1:{port + 1 if port < 65535 else 1}/health")
    assert other.status == 403


def test_body_caps_apply_to_the_path_of_the_url(api: Api) -> None:
    # the gate sees /2/httpapi (1 MB), not the full URL: 413 before the body is read
    conn = http.client.HTTPConnection("127.0.0.1", api.running.port, timeout=30)
    try:
        conn.putrequest("POST", "https://api2.amplitude.com/2/httpapi", skip_host=True)
        conn.putheader("Host", "api2.amplitude.com")
        conn.putheader("Content-Length", str(2_000_000))
        conn.endheaders()
        r = conn.getresponse()
        assert r.status == 413
        assert orjson.loads(r.read()) == {"code": 413, "error": "Payload too large"}
    finally:
        conn.close()


def test_a_real_http_client_with_a_proxy_reaches_the_server(api: Api) -> None:
    # httpx sends an http:// URL to its proxy in absolute form
    with httpx.Client(proxy=api.running.url, timeout=30) as client:
        r = client.get("http://amplitude.com/api/2/usersearch", params={"user": "nobody-00001"},
                       auth=(KEY, SECRET))
    assert r.status_code == 200
    assert r.json() == {"matches": [], "type": "nomatch"}


# --- everything else is refused, never forwarded -----------------------------------------------

@pytest.mark.parametrize("host", ["example.com", "amplitude.com.example.com",
                                  "evilamplitude.com", "analytics.amplitude.com.evil",
                                  "169.254.169.254", "[::1]"])
def test_another_host_is_a_403_naming_the_host_and_the_rule(api: Api, host: str) -> None:
    r = send(api, "GET", f"https://{host}/api/2/usersearch?user=proxy-user-1",
             headers={"Authorization": BASIC})
    assert r.status == 403
    error = r.json()["error"]
    assert error["type"] == "proxy_host_not_allowed"
    assert error["metadata"]["host"] == host.strip("[]")
    assert error["metadata"]["allowed_hosts"] == sorted(AMPLITUDE_HOSTS)
    assert "not an open proxy" in error["message"] and host.strip("[]") in error["message"]


def test_another_host_stores_nothing_and_answers_in_the_ingestion_shape(api: Api) -> None:
    body = orjson.dumps({"api_key": KEY, "events": [event()]})
    r = send(api, "POST", "https://api2.amplitude.example/2/httpapi", body=body,
             headers={"Content-Type": "application/json"})
    assert r.status == 403
    answer = r.json()
    assert answer["code"] == 403 and answer["host"] == "api2.amplitude.example"
    assert "never forwards" in answer["error"]
    assert api.stored() == []


def test_connect_is_a_405_saying_there_is_no_tunnel(api: Api) -> None:
    r = send(api, "CONNECT", "amplitude.com:443", headers={"Host": "amplitude.com:443"})
    assert r.status == 405
    error = r.json()["error"]
    assert error["type"] == "connect_not_supported"
    assert "CONNECT" in error["message"]


def test_an_https_url_through_a_tunnelling_client_fails_clearly(api: Api) -> None:
    # httpx tunnels https:// with CONNECT: the proxy's 405 is what it reports
    with httpx.Client(proxy=api.running.url, timeout=30) as client, \
            pytest.raises(httpx.ProxyError, match="405"):
        client.get("https://amplitude.com/api/2/usersearch", params={"user": "x"})


@pytest.mark.parametrize(("target", "detail"), [
    ("http://[::1/api/2/usersearch", "cannot be parsed"),
    ("https://amplitude.com:99999/api/2/usersearch", "cannot be parsed"),
    ("https://amplitude.com:http/api/2/usersearch", "cannot be parsed"),
    ("https://amplitude.com:0/api/2/usersearch", "port"),
    ("ftp://amplitude.com/api/2/usersearch", "neither a path nor"),
    ("https:amplitude.com/api/2/usersearch", "neither a path nor"),
    ("api/2/usersearch", "neither a path nor"),
    ("*", "neither a path nor"),
    ("https:///api/2/usersearch", "no host"),
])
def test_a_malformed_target_is_a_400_naming_the_rule(api: Api, target: str, detail: str) -> None:
    r = send(api, "GET", target, headers={"Authorization": BASIC})
    assert r.status == 400, r.body
    error = r.json()["error"]
    assert error["type"] == "invalid_request" and detail in error["message"]
    assert "absolute http:// or https:// URL" in error["metadata"]["rule"]


def test_user_information_in_the_target_is_refused_and_never_echoed(api: Api) -> None:
    r = send(api, "GET", f"https://{KEY}:{SECRET}@amplitude.com/api/2/usersearch?user=x")
    assert r.status == 400
    assert b"user information" in r.body
    assert KEY.encode() not in r.body and SECRET.encode() not in r.body


def test_a_huge_host_is_refused_with_a_bounded_answer(api: Api) -> None:
    host = "a" * 4000 + ".example"
    r = send(api, "GET", f"https://{host}/api/2/usersearch")
    assert r.status == 403
    assert len(r.body) < 2000


def test_a_refusal_closes_its_connection_and_the_server_keeps_answering(api: Api) -> None:
    refused = send(api, "GET", "https://example.com/health")
    assert refused.status == 403 and refused.headers["connection"] == "close"
    assert send(api, "GET", "https://amplitude.com/health").status == 200
