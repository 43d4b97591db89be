"""The pytest plugin: an ``ampkit serve`` per test session, a project per test.

Fixtures:

- ``amplitude_server`` (session): the server — started once per session (per xdist worker) in
  this process, or the one ``--amplitude-url`` names;
- ``amplitude_project``: this test's :class:`~ampkit.testing.AmplitudeProject` — its own
  project (id and key pair) on the in-process server, so tests never see each other's events;
- ``amplitude_env``: the same project, with ``AMPLITUDE_API_KEY``, ``AMPLITUDE_SECRET_KEY`` and
  ``AMPLITUDE_BASE_URL`` set for the test (and the per-family URL overrides removed);
- ``amplitude_server_config`` (session): the in-process server's ``ServerConfig``; override it in
  a ``conftest.py`` to change limits, throttles, faults or the server-wide tracking plan;
- ``amplitude_plan``: the tracking plan of this test's project (``None``: the server's, if any);
  override it in a test module or ``conftest.py`` with a plan file's path (relative to the test
  file's folder), its document or a ``TrackingPlan``.

This module imports only pytest and the standard library: a run that uses no fixture of it
loads no server, DuckDB or HTTP client.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ampkit.server import ServerConfig
    from ampkit.testing.project import AmplitudeProject, AmplitudeServer

URL_OPTION = "--amplitude-url"
KEY_VARIABLES = ("AMPLITUDE_API_KEY", "AMPLITUDE_SECRET_KEY")
_SHARED = pytest.StashKey[tuple[str, str, str] | None]()
"""``(url, api_key, secret_key)`` of a server already running, read once at start-up."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ampkit", "ampkit: test tracking code against ampkit serve")
    group.addoption(
        URL_OPTION, metavar="URL", default=None,
        help="use the ampkit server already running at URL instead of starting one; its "
             "project's keys come from AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY, and tests "
             "share that project (keep them apart with project.id(...))")


def pytest_configure(config: pytest.Config) -> None:
    url = config.getoption(URL_OPTION)
    if url is None:
        config.stash[_SHARED] = None
        return
    if not url.startswith(("http://", "https://")):
        raise pytest.UsageError(f"{URL_OPTION}: must start with http:// or https://")
    missing = [name for name in KEY_VARIABLES if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(f"{URL_OPTION} needs the project's key pair: set "
                                f"{' and '.join(missing)}")
    config.stash[_SHARED] = (url, os.environ["AMPLITUDE_API_KEY"],
                             os.environ["AMPLITUDE_SECRET_KEY"])


@pytest.fixture(scope="session")
def amplitude_server_config() -> ServerConfig:
    """The in-process server's configuration: a free loopback port, in memory, throttles off
    (a test may send a burst for one user).  Override this fixture to change it."""
    from ampkit.server import ServerConfig, ThrottleConfig

    return ServerConfig(host="127.0.0.1", port=0, throttle=ThrottleConfig(enabled=False))


@pytest.fixture(scope="session")
def amplitude_server(request: pytest.FixtureRequest) -> Iterator[AmplitudeServer]:
    from ampkit.testing.project import AmplitudeServer

    shared = request.config.stash[_SHARED]
    if shared is not None:
        url, key, secret = shared
        server = AmplitudeServer(url, shared_keys=(key, secret))
        probe = server.new_project()
        try:
            probe.stats()
        except Exception as exc:  # the server's answer, said once for the whole session
            raise RuntimeError(f"{URL_OPTION} {url}: {exc}") from None
        finally:
            probe.close()
        yield server
        return
    from ampkit.server import serve_in_thread

    config: ServerConfig = request.getfixturevalue("amplitude_server_config")
    running = serve_in_thread(config)
    try:
        yield AmplitudeServer(running.url, running=running)
    finally:
        running.stop()


@pytest.fixture
def amplitude_plan() -> Any:
    """This test's tracking plan: ``None`` here (the server's, if it has one).  Override the
    fixture to give the test's project a plan: a YAML/JSON file's path (relative to the test
    file's folder), the plan's document (a dict) or a ``TrackingPlan``."""
    return None


@pytest.fixture
def amplitude_project(amplitude_server: AmplitudeServer, amplitude_plan: Any,
                      request: pytest.FixtureRequest) -> Iterator[AmplitudeProject]:
    plan = amplitude_plan
    if isinstance(plan, str | Path) and not Path(plan).is_absolute():
        plan = request.path.parent / plan
    project = amplitude_server.new_project(request.node.nodeid, plan=plan)
    try:
        yield project
    finally:
        try:
            if project.isolated:
                project.reset()  # frees what it stored; nobody can see it any more
        finally:
            project.close()


@pytest.fixture
def amplitude_env(amplitude_project: AmplitudeProject,
                  monkeypatch: pytest.MonkeyPatch) -> AmplitudeProject:
    for name in ("AMPLITUDE_INGEST_URL", "AMPLITUDE_ANALYTICS_URL", "AMPLITUDE_PROFILE_URL",
                 "AMPLITUDE_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in amplitude_project.env.items():
        monkeypatch.setenv(name, value)
    return amplitude_project


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    shared = config.stash.get(_SHARED, None)
    if shared is None:
        return None
    return [f"ampkit: tests share the project of the server at {shared[0]}"]


