"""One test's Amplitude project on an ``ampkit serve``, and assertions on what it received.

Reads go through the server's admin routes (``/_ampkit/*``, Basic auth with the project's key
pair), the same way whether the server runs in this process or elsewhere.  There is no polling:
the server commits every ingestion request before it answers, so whatever a client was told
was accepted is already readable.  A client that sends in the background must be flushed first
(:meth:`AmplitudeProject.flushed`).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import secrets
import ssl
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from ampkit.models.plan import BAD_EVENT_KINDS, BadEvent, BadEventsPage, TrackingPlan, as_plan
from ampkit.testing.matching import (
    Event,
    Step,
    describe,
    differences,
    expected_fields,
    listing,
    matches,
    nearest,
    order_failure,
    show,
)

if TYPE_CHECKING:
    from pathlib import Path

    from ampkit.server import RunningServer

PAGE = 100_000
BAD_PAGE = 10_000
"""The most ``/_ampkit/bad-events`` gives at once (as many as the bucket keeps)."""
SHOWN = 20
"""Bad events a failed assertion lists."""
FIRST_TEST_PROJECT_ID = 900_000_001


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every project's client (each would parse the CA bundle again)."""
    return httpx.create_ssl_context()


class AmplitudeProject:
    """A project that one test sends to and asserts on.

    ``isolated`` is ``True`` when the project is this test's own (a server in this process):
    everything it holds is this test's.  Against a shared server (``--amplitude-url``) it is
    ``False``: the project is shared, and only events whose ``user_id`` or ``device_id`` starts
    with :attr:`prefix` count — build ids with :meth:`id`."""

    def __init__(self, url: str, api_key: str, secret_key: str, *, project_id: int | None,
                 isolated: bool, prefix: str | None = None, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.project_id = project_id
        self.isolated = isolated
        self.prefix = prefix if prefix is not None else f"t{secrets.token_hex(4)}-"
        self.__keys = (api_key, secret_key)
        self._http = httpx.Client(base_url=self.url, auth=(api_key, secret_key), verify=_tls(),
                                  timeout=timeout)

    def __repr__(self) -> str:  # never the keys
        return (f"AmplitudeProject(project_id={self.project_id}, url={self.url!r}, "
                f"isolated={self.isolated})")

    # --- where the code under test sends ---------------------------------------------------
    @property
    def api_key(self) -> str:
        return self.__keys[0]

    @property
    def secret_key(self) -> str:
        return self.__keys[1]

    @property
    def server_url(self) -> str:
        """The HTTP V2 endpoint: the official SDK's ``Config(server_url=...)``."""
        return f"{self.url}/2/httpapi"

    @property
    def batch_url(self) -> str:
        return f"{self.url}/batch"

    @property
    def env(self) -> dict[str, str]:
        """The variables ampkit's client reads (what the ``amplitude_env`` fixture sets)."""
        return {"AMPLITUDE_API_KEY": self.api_key, "AMPLITUDE_SECRET_KEY": self.secret_key,
                "AMPLITUDE_BASE_URL": self.url}

    def id(self, name: str) -> str:
        """``name`` with this test's prefix: a user or device id no other test uses (what
        keeps tests apart on a shared server)."""
        return f"{self.prefix}{name}"

    # --- reading back ----------------------------------------------------------------------
    def _get(self, path: str, **params: Any) -> httpx.Response:
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise RuntimeError(f"the ampkit server at {self.url} did not answer "
                               f"{path}: {type(exc).__name__}") from None
        if response.status_code == 401:
            raise RuntimeError(f"the ampkit server at {self.url} does not know this "
                               "project's key pair")
        return response

    def received(self) -> list[Event]:
        """Every event this test's project stored, in arrival order (the Export API's shape:
        ``event_properties``, ``user_properties``, ``$insert_id``, ``event_time``…)."""
        out: list[Event] = []
        for offset in itertools.count(0, PAGE):
            response = self._get("/_ampkit/events", limit=PAGE, offset=offset)
            response.raise_for_status()
            page: list[Event] = response.json()
            out.extend(page)
            if len(page) < PAGE:
                break
        if self.isolated:
            return out
        return [e for e in out if any(str(e.get(k) or "").startswith(self.prefix)
                                      for k in ("user_id", "device_id"))]

    def events(self, event_type: str | None = None, /, **fields: Any) -> list[Event]:
        """The received events of this type (any type: ``None``) that match ``fields``."""
        wanted = expected_fields(fields)
        return [e for e in self.received() if matches(e, event_type, wanted)]

    def count(self, event_type: str | None = None, /, **fields: Any) -> int:
        return len(self.events(event_type, **fields))

    def user(self, user_id: str) -> dict[str, Any]:
        """The user as the server holds it now: ``user_properties`` (after every identify),
        ``amplitude_id``, ``device_id``, ``paying``, ``first_seen``…"""
        __tracebackhide__ = True
        response = self._get(f"/_ampkit/users/{quote(user_id, safe='')}")
        if response.status_code == 404:
            seen = sorted({str(e["user_id"]) for e in self.received()
                           if e.get("user_id") is not None})
            shown = ", ".join(repr(u) for u in seen[:10]) or "none"
            raise AssertionError(f"no user {user_id!r} in this project; user ids received: "
                                 f"{shown}")
        response.raise_for_status()
        snapshot: dict[str, Any] = response.json()
        return snapshot

    def stats(self) -> dict[str, Any]:
        """This project's counters: events, users, requests, duplicates, rejected…"""
        response = self._get("/_ampkit/stats")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    # --- assertions ------------------------------------------------------------------------
    def assert_event(self, event_type: str, /, *, count: int | None = None,
                     **fields: Any) -> Event:
        """An event of this type whose ``fields`` match (exactly ``count`` of them, if given)
        was received; returns the first.  Each keyword is a stored field (``user_id``,
        ``device_id``, ``platform``, ``insert_id``…); a dict value such as
        ``event_properties={"plan": "pro"}`` matches partially, recursively."""
        __tracebackhide__ = True
        if count is not None and count < 1:
            raise ValueError("count: must be at least 1 (use assert_no_event for none)")
        events = self.received()
        wanted = expected_fields(fields)
        found = [(i, e) for i, e in enumerate(events, 1) if matches(e, event_type, wanted)]
        what = describe(event_type, wanted)
        if not found:
            raise AssertionError(f"expected {what}\n{nearest(events, event_type, wanted)}")
        if count is not None and len(found) != count:
            raise AssertionError(f"expected exactly {count} × {what}; received "
                                 f"{len(found)}:\n{listing(found)}")
        return found[0][1]

    def assert_no_event(self, event_type: str | None = None, /, **fields: Any) -> None:
        """No event of this type (of any type: ``None``) matching ``fields`` was received."""
        __tracebackhide__ = True
        wanted = expected_fields(fields)
        found = [(i, e) for i, e in enumerate(self.received(), 1)
                 if matches(e, event_type, wanted)]
        if found:
            raise AssertionError(f"expected no {describe(event_type, wanted).split(' ', 1)[1]}"
                                 f"; received {len(found)}:\n{listing(found)}")

    def assert_order(self, steps: Sequence[Step]) -> None:
        """These events were received in this order (others may come between them).  A step
        is an event type or ``(event_type, {field: value})``.  Order is arrival order: what one
        client sent, in the order it sent it."""
        __tracebackhide__ = True
        if not steps:
            raise ValueError("steps: give at least one event type")
        failure = order_failure(self.received(), steps)
        if failure is not None:
            raise AssertionError(failure)

    def assert_user(self, user_id: str, /, **user_properties: Any) -> dict[str, Any]:
        """The user's properties (after every identify) include these; returns the user."""
        __tracebackhide__ = True
        user = self.user(user_id)
        diff = differences(user_properties, user.get("user_properties") or {})
        if diff:
            lines = [f"user {user_id!r}: user_properties differ"]
            lines += [f"    {where}: expected {show(want)}, got {show(got)}"
                      for where, want, got in diff]
            raise AssertionError("\n".join(lines))
        return user

    # --- the bad-event bucket (tracking plans) ---------------------------------------------
    def bad_events(self, event_type: str | None = None, *, kind: str | None = None,
                   rule_contains: str | None = None, since: str | None = None,
                   disposition: str | None = None) -> list[BadEvent]:
        """What the server kept in this project's bad-event bucket, newest first: events that
        broke its tracking plan (``kind`` ``violation``, ``unplanned_event``,
        ``unplanned_property``) and requests it refused by Amplitude's rules
        (``rejected_request``) — each with its ``rule``, ``path``, ``disposition`` (``stored``
        or ``rejected``), ``event`` and ``request``."""
        _known_filters(kind, disposition)
        params = {k: v for k, v in (("kind", kind), ("event_type", event_type),
                                    ("since", since)) if v is not None}
        out: list[BadEvent] = []
        for offset in itertools.count(0, BAD_PAGE):
            response = self._get("/_ampkit/bad-events", limit=BAD_PAGE, offset=offset, **params)
            if response.status_code == 404:
                raise RuntimeError(f"the ampkit server at {self.url} has no bad-event bucket "
                                   "(an ampkit older than tracking plans)")
            response.raise_for_status()
            page = BadEventsPage.model_validate_json(response.content)
            out.extend(page.bad_events)
            if len(page.bad_events) < BAD_PAGE:
                break
        return [b for b in out if (rule_contains is None or rule_contains in b.rule)
                and (disposition is None or b.disposition == disposition) and self._ours(b)]

    def _ours(self, bad: BadEvent) -> bool:
        """On a shared server, a bad event is this test's when its event carries an id with
        the test's prefix."""
        if self.isolated:
            return True
        event = bad.event or {}
        return any(str(event.get(k) or "").startswith(self.prefix)
                   for k in ("user_id", "device_id"))

    def assert_no_bad_events(self, event_type: str | None = None, *, kind: str | None = None,
                             ) -> None:
        """The server kept nothing in this project's bad-event bucket (of this type, of this
        kind): every event kept to the plan and no request was refused."""
        __tracebackhide__ = True
        found = self.bad_events(event_type, kind=kind)
        if found:
            raise AssertionError(f"expected no bad events; the server kept {len(found)}:\n"
                                 f"{_bad_listing(found)}")

    def assert_bad_event(self, event_type: str | None = None, *, kind: str | None = None,
                         rule_contains: str | None = None, path: str | None = None,
                         disposition: str | None = None) -> BadEvent:
        """The server kept a bad event like this (``path``: the JSON pointer of the broken
        field, e.g. ``/event_properties/seats``); returns the newest one."""
        __tracebackhide__ = True
        _known_filters(kind, disposition)
        every = self.bad_events()
        found = [b for b in every if (event_type is None or b.event_type == event_type)
                 and (kind is None or b.kind == kind) and (path is None or b.path == path)
                 and (rule_contains is None or rule_contains in b.rule)
                 and (disposition is None or b.disposition == disposition)]
        if found:
            return found[0]
        wanted = ", ".join(f"{k}={v!r}" for k, v in (
            ("event_type", event_type), ("kind", kind), ("rule_contains", rule_contains),
            ("path", path), ("disposition", disposition)) if v is not None)
        kept = f"the server kept {len(every)}:\n{_bad_listing(every)}" if every else \
            "the server kept none"
        raise AssertionError(f"expected a bad event with {wanted or 'anything'}; {kept}")

    # --- barriers and faults ---------------------------------------------------------------
    def flushed(self, client: Any, timeout: float = 30) -> None:
        """Send what ``client`` still holds and wait for the answers: ampkit's
        ``Amplitude.flush(timeout)`` (fails if it did not deliver everything) or the official
        SDK's ``client.flush()`` (waits for the futures it returns)."""
        __tracebackhide__ = True
        flush = client.flush
        takes_timeout = "timeout" in inspect.signature(flush).parameters
        result = flush(timeout=timeout) if takes_timeout else flush()
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise TypeError("this client flushes asynchronously: `await client.flush()` "
                            "before asserting")
        if result is False:
            raise AssertionError(f"the client did not deliver every queued event within "
                                 f"{timeout} s")
        for future in _futures(result):
            future.result(timeout)

    def faults(self, config: Mapping[str, Any] | None = None, /, **fields: Any) -> dict[str, Any]:
        """Inject faults into this project's requests only (``{"rates": {"503": 0.5},
        "seed": 1}``: see ``FaultConfig``); no argument clears them.  Returns what is set."""
        if not self.isolated:
            import pytest

            pytest.skip("faults need a project of the test's own; a shared server "
                        "(--amplitude-url) has one project for every test")
        body = {**(config or {}), **fields}
        response = self._http.post("/_ampkit/faults", json=body)
        if response.status_code == 400:
            details = response.json().get("error", {}).get("metadata", {}).get("details")
            raise ValueError(f"faults: {details or response.text}")
        response.raise_for_status()
        current: dict[str, Any] = response.json()
        return current

    def reset(self) -> None:
        """Forget everything this project holds, and its faults (only for a project of its
        own: on a shared server it would wipe other tests' events)."""
        if not self.isolated:
            raise RuntimeError("reset: the project is shared (--amplitude-url); it is not "
                               "this test's to wipe")
        self._http.post("/_ampkit/reset").raise_for_status()

    def close(self) -> None:
        self._http.close()


def _bad_listing(found: Sequence[BadEvent]) -> str:
    lines = [f"  #{i} {bad.line()}" for i, bad in enumerate(found[:SHOWN], 1)]
    if len(found) > SHOWN:
        lines.append(f"  … and {len(found) - SHOWN} more")
    return "\n".join(lines)


def _futures(result: Any) -> Iterator[Future[Any]]:
    items = result if isinstance(result, list | tuple) else [result]
    for item in items:
        if isinstance(item, Future):
            yield item


class AmplitudeServer:
    """The session's server: one in this process (each test gets a project of its own), or
    one already running elsewhere (``--amplitude-url``: every test shares its project)."""

    def __init__(self, url: str, running: RunningServer | None = None,
                 shared_keys: tuple[str, str] | None = None) -> None:
        if (running is None) == (shared_keys is None):
            raise ValueError("give a running server or a shared project's keys, not both")
        self.url = url.rstrip("/")
        self.running = running
        self._shared_keys = shared_keys
        self._ids = itertools.count(FIRST_TEST_PROJECT_ID)

    def __repr__(self) -> str:
        where = "in this process" if self.running is not None else "shared"
        return f"AmplitudeServer(url={self.url!r}, {where})"

    def new_project(self, name: str = "test", *,
                    plan: TrackingPlan | Mapping[str, Any] | str | Path | None = None,
                    ) -> AmplitudeProject:
        """A project for one test: its own (in this process) or the shared one with a new id
        prefix.  ``plan``: its tracking plan (a file, its document or a ``TrackingPlan``;
        ``None``: the server's, if it has one)."""
        if self.running is None:
            if plan is not None:
                import pytest

                pytest.skip("a tracking plan per test needs a project of the test's own; a "
                            "shared server (--amplitude-url) checks the plan it was started "
                            "with (ampkit serve --plan)")
            assert self._shared_keys is not None
            key, secret = self._shared_keys
            return AmplitudeProject(self.url, key, secret, project_id=None, isolated=False)
        from ampkit.server import ProjectConfig

        served = self.running.store.projects
        project_id = next(i for i in self._ids if i not in served)
        key, secret = f"ampkit-test-{secrets.token_hex(12)}", secrets.token_hex(24)
        self.running.add_project(ProjectConfig(
            project_id=project_id, api_key=key, secret_key=secret, name=name[:200],
            plan=None if plan is None else as_plan(plan)))
        return AmplitudeProject(self.url, key, secret, project_id=project_id, isolated=True)


def _known_filters(kind: str | None, disposition: str | None) -> None:
    """A typo in ``kind`` or ``disposition`` is an error naming the values, not a filter that
    matches nothing (the same check for every bad-event helper)."""
    if kind is not None and kind not in BAD_EVENT_KINDS:
        raise ValueError(f"kind: one of {', '.join(BAD_EVENT_KINDS)}, not {kind!r}")
    if disposition not in (None, "stored", "rejected"):
        raise ValueError(f"disposition: 'stored' or 'rejected', not {disposition!r}")
