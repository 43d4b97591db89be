"""A server already running with one project that holds someone else's event, and a pytester
run of the plugin against it (``--amplitude-url``): the shared-server scene of the plugin's
tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread


@contextmanager
def shared_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, source: str, *,
               project_id: int, key: str, secret: str, other: dict[str, Any],
               **server: Any) -> Iterator[tuple[RunningServer, pytest.RunResult]]:
    """Serve one project (``key``/``secret``, ``server`` config options), store ``other``
    (someone else's event) in it, and run ``source`` as ``test_shared.py`` with the project's
    keys in the environment; yields the running server and the run's result."""
    config = ServerConfig(port=0, throttle_enabled=False, **server, projects=[
        ProjectConfig(project_id=project_id, api_key=key, secret_key=secret)])
    with serve_in_thread(config) as srv:
        httpx.post(f"{srv.url}/2/httpapi",
                   json={"api_key": key, "events": [other]}).raise_for_status()
        monkeypatch.setenv("AMPLITUDE_API_KEY", key)
        monkeypatch.setenv("AMPLITUDE_SECRET_KEY", secret)
        pytester.makepyfile(test_shared=source)
        yield srv, pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "-rs",
                                      "--amplitude-url", srv.url)
