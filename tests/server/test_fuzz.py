"""Property-based fuzzing of every route, driven by the server's own ``/openapi.json``.

Schemathesis loads the document from a real server (uvicorn on a loopback port, seeded with
events, a cohort, annotations and categories), generates requests for every operation —
valid ones and, in its negative mode, ones that break the schema — sends them with the
project's credentials (Basic ``api_key:secret_key``, ``Api-Key <secret>`` for the Profile API,
``api_key`` inside ingestion bodies and identify forms) and fails on

- any 5xx (``not_a_server_error``),
- a status, content type, header or body the document does not describe for the operation
  (``status_code_conformance``, ``content_type_conformance``, ``response_headers_conformance``,
  ``response_schema_conformance``),
- any answer that carries Python traceback text (:func:`no_traceback`).

Requests come in both of schemathesis' modes: valid per the document, and invalid (wrong
types, out-of-range numbers, broken JSON…), which must get a 4xx.  Its
``positive_data_acceptance`` / ``negative_data_rejection`` checks are not used: the document
can't state every rule (an unknown event type, a real calendar date), and the server takes an
empty or unknown optional value as absent, as Amplitude does.

The CI run is bounded (``AMPKIT_FUZZ_EXAMPLES`` examples per operation and mode, 10 by
default, derandomized so a failure reproduces; one test per operation, whose cases are built
when it runs, see :func:`operation_test`); ``pytest -m fuzz_long tests/server/test_fuzz.py``
runs the long one (300 examples, random seed; deselected by default in pyproject.toml).
The request count and time are printed at the end of the module.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext
from schemathesis import checks as st_checks
from schemathesis.checks import load_all_checks
from schemathesis.core.failures import Failure, FailureGroup, as_reported_failure
from schemathesis.core.transport import Response as StResponse
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.hypothesis.builder import (
    InvalidHeadersExampleMark,
    InvalidRegexMark,
    MissingPathParameters,
    NonSerializableMark,
    UnsatisfiableExampleMark,
    UnserializablePayloadMark,
)
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python._constants.orchestrator import make_constants_value_source
from schemathesis.transport.requests import ManagedCookiesSession
from tests.server.conftest import KEY, SECRET, config

from ampkit.server import RunningServer, serve_in_thread
from ampkit.server.limits import ProfileLimitsConfig
from ampkit.server.openapi import document

EXAMPLES = int(os.environ.get("AMPKIT_FUZZ_EXAMPLES", "10"))
LONG_EXAMPLES = 300
BASIC = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
INGEST = {"/2/httpapi", "/batch", "/identify", "/groupidentify"}
DAY = 86_400_000
T0 = 1_709_294_400_000  # 2024-03-01 12:00 UTC

CHECKS = [getattr(st_checks, name) for name in (
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance")]

_stats = {"requests": 0, "seconds": 0.0}


class TracebackInBody(Failure):
    # schemathesis 4 names a failure kind by class (``code`` is a class attribute, no longer
    # an argument: passing it made the check die with a TypeError instead of this report)
    kind_title = "Traceback text in the answer"

    def __init__(self, operation: str, excerpt: str) -> None:
        super().__init__(operation=operation,
                         message=f"The body carries a Python traceback: {excerpt!r}")

    @property
    def _unique_key(self) -> str:
        return self.kind_title


TRACE_MARKERS = (b"Traceback (most recent call last)", b'File "/')


def no_traceback(ctx: CheckContext, response: StResponse, case: Case) -> bool | None:
    """No answer may carry a Python traceback (a stack, or an exception's repr)."""
    body = response.content or b""
    for marker in TRACE_MARKERS:
        at = body.find(marker)
        if at >= 0:
            raise TracebackInBody(case.operation.label, body[at:at + 200].decode(errors="replace"))
    return None


def _day(d: dt.date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


# the document's own formats: any calendar day, year 1 to 9999 (hypothesis favours the ends)
schemathesis.openapi.format("yyyymmdd", st.dates().map(_day))
schemathesis.openapi.format("yyyymmddThh", st.builds(
    lambda d, h: f"{_day(d)}T{h:02d}", st.dates(), st.integers(0, 23)))


def events() -> list[dict[str, Any]]:
    out = []
    for u in range(6):
        for k, etype in enumerate(["open", "search", "play", "buy", "open"]):
            ev: dict[str, Any] = {
                "event_type": etype, "user_id": f"user-{u}", "device_id": f"dev-{u}",
                "time": T0 + u * DAY // 3 + k * 60_000, "session_id": T0 + u * DAY // 3,
                "platform": ["iOS", "Web"][u % 2], "country": ["US", "FR", "DE"][u % 3],
                "event_properties": {"n": k, "kind": "ab"[u % 2]},
                "user_properties": {"plan": ["free", "pro"][u % 2]}}
            if etype == "buy":
                ev.update(price=2.5, quantity=u + 1, revenue=2.5 * (u + 1))
            out.append(ev)
    return out


def seed(http: httpx.Client) -> None:
    http.post("/2/httpapi", json={"api_key": KEY, "events": events()},
              auth=None).raise_for_status()
    http.post("/api/3/cohorts/upload", json={
        "name": "fuzz", "app_id": 1, "id_type": "BY_USER_ID", "ids": ["user-0", "user-1"],
        "owner": "fuzz@example.com", "published": True}).raise_for_status()
    http.post("/api/2/annotations", params={"app_id": 1, "date": "2024-03-01",
                                            "label": "v1"}).raise_for_status()
    for created in (
            http.post("/api/3/annotation-categories", json={"category": "Releases"}),
            http.post("/api/2/taxonomy/category", data={"category_name": "Core"})):
        assert created.status_code in (200, 409), created.text  # 409: kept by a reset


class Fuzzed:
    """The module's server and the two clients that talk to it, each keeping its connections
    open across cases: ``admin`` (httpx, the project's Basic credentials) seeds and restores,
    ``session`` sends the generated cases.  The session is the kind schemathesis' own runner
    uses (response cookies dropped after every case, redirects followed only within the
    host); ``trust_env`` off, so no proxy or ``.netrc`` from the environment is consulted."""

    def __init__(self, server: RunningServer) -> None:
        self.url = server.url
        self.admin = httpx.Client(base_url=server.url, auth=(KEY, SECRET), timeout=60)
        self.session = ManagedCookiesSession()
        self.session.trust_env = False

    def close(self) -> None:
        self.session.close()
        self.admin.close()


@pytest.fixture(scope="module")
def fuzz_server(request: pytest.FixtureRequest) -> Iterator[Fuzzed]:
    srv = serve_in_thread(config(throttle_enabled=False,
                                 profile_limits=ProfileLimitsConfig(enabled=False)))
    fuzzed = Fuzzed(srv)
    seed(fuzzed.admin)
    started = time.monotonic()
    yield fuzzed
    _stats["seconds"] = time.monotonic() - started
    fuzzed.close()
    srv.stop()
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None and _stats["requests"]:
        with capture.global_and_fixture_disabled():
            print(f"\nfuzz: {_stats['requests']} requests in {_stats['seconds']:.1f} s")


def _schema(examples: int, deterministic: bool) -> Any:
    settings_: dict[str, Any] = {
        "generation": {"max-examples": examples, "deterministic": deterministic,
                       "database": "none"},
        "phases": {"stateful": {"enabled": False}}}
    if deterministic:
        settings_["seed"] = 20260401
    return schemathesis.openapi.from_dict(document(),
                                          config=schemathesis.Config.from_dict(settings_))


def authenticate(case: Case) -> dict[str, str]:
    """The project's credentials where the operation takes them."""
    where = case.operation.path
    if where in INGEST:
        if isinstance(case.body, dict):
            case.body["api_key"] = KEY
        elif case.method.upper() == "GET" and case.query is not None:
            case.query["api_key"] = KEY
        return {}
    if where == "/v1/userprofile":
        return {"Authorization": f"Api-Key {SECRET}"}
    return {"Authorization": BASIC}


def run(case: Case, fuzzed: Fuzzed) -> None:
    headers = authenticate(case)
    _stats["requests"] += 1
    try:
        case.call_and_validate(base_url=fuzzed.url, session=fuzzed.session, headers=headers,
                               checks=CHECKS, additional_checks=[no_traceback], timeout=60)
    finally:
        restore(case, fuzzed.admin)


def restore(case: Case, admin: httpx.Client) -> None:
    """Undo what would skew the next cases: injected faults, a reset project."""
    label = case.operation.label
    if label == "POST /_ampkit/faults":
        admin.post("/_ampkit/faults", json={}).raise_for_status()
    elif label == "POST /_ampkit/reset":
        seed(admin)


# loaded from the document the server serves (test_openapi checks the served one is this one);
# the lazy ``schemathesis.pytest.from_fixture`` breaks on pytest 9 (it sets ``node._nodeid``)
# the labels, for parametrize, straight from the document (collecting pays for no schemathesis
# schema: every xdist worker collects this module); the schema is loaded by the first test
DOCUMENT = document()
LABELS = [f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items()
          for method in item if method in ("get", "put", "post", "delete", "patch")]


@functools.cache
def _fuzz() -> Any:
    return _schema(EXAMPLES, deterministic=True)


@functools.cache
def _operations() -> dict[str, Any]:
    operations = {op.label: op for op in (r.ok() for r in _fuzz().get_all_operations())}
    assert list(operations) == LABELS  # the same operations, in the same order
    return operations


# what the schemathesis plugin reports after running an operation's test (an error, or for an
# unserializable payload a warning): here each fails the test before it runs
SCHEMA_PROBLEMS = (UnsatisfiableExampleMark, NonSerializableMark, InvalidRegexMark,
                   InvalidHeadersExampleMark, MissingPathParameters, UnserializablePayloadMark)


@functools.cache
def _feedback() -> FeedbackSources:
    load_all_checks()
    return FeedbackSources(constants_value_source=make_constants_value_source(_fuzz()))


def operation_test(label: str, fuzzed: Fuzzed) -> Callable[[], None]:
    """The hypothesis test ``fuzz.parametrize()`` would build for one operation at collection
    (the document's examples, the coverage phase's cases, ``EXAMPLES`` generated ones in both
    modes, the seed derived from the label), built by the same schemathesis function — but when
    the test runs, so that an xdist worker builds only the operations it runs rather than every
    coverage-phase case of every operation while collecting."""
    @settings(deadline=None, suppress_health_check=list(HealthCheck))
    def one(case: Case) -> None:
        run(case, fuzzed)

    built: Callable[[], None] = build_operation_test(
        config=_fuzz().config, operation=_operations()[label], test_func=one, given_kwargs={},
        feedback=_feedback())
    for mark in SCHEMA_PROBLEMS:
        assert mark.get(built) is None, f"{label}: {mark.attr_name} {mark.get(built)}"
    return built


@pytest.mark.parametrize("label", LABELS)
def test_fuzz(label: str, fuzz_server: Fuzzed) -> None:
    try:
        operation_test(label, fuzz_server)()
    except FailureGroup as exc:
        raise as_reported_failure(exc) from None


@pytest.mark.fuzz_long
def test_fuzz_long(fuzz_server: Fuzzed) -> None:
    """Every operation in turn, LONG_EXAMPLES random cases each.  One test rather than one per
    operation, so that the default run does not pay for generating its cases at collection
    (schemathesis' coverage phase, several seconds in every xdist worker)."""
    for operation in _schema(LONG_EXAMPLES, deterministic=False).get_all_operations():
        op = operation.ok()

        @given(case=op.as_strategy())
        @settings(max_examples=LONG_EXAMPLES, deadline=None,
                  suppress_health_check=list(HealthCheck))
        def one(case: Case) -> None:
            run(case, fuzz_server)

        try:
            one()
        except Exception as exc:
            exc.add_note(f"operation: {op.label}")
            raise
