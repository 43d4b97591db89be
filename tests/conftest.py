"""Shared fixtures: where the test data lives."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import ampkit
from ampkit.core.transport import tls

# Every module the public API names is imported before any test runs. pytester's in-process
# runs forget the modules first imported during a test, while `ampkit` keeps the classes its
# lazy attributes handed out: a later test would then meet two `Identify` classes.
for _name in ampkit.__all__:
    getattr(ampkit, _name)



def _shared_tls(init: Callable[..., None]) -> Callable[..., None]:
    """httpx builds a TLS context for every client made with its default ``verify=True``,
    parsing the CA bundle each time (~25 ms of CPU; the tests make a few hundred clients, most
    for plain-HTTP servers). Here such clients get ampkit's one shared context instead — the
    same httpx default, so nothing is checked less."""
    @functools.wraps(init)
    def wrapped(self: Any, *args: Any, verify: Any = True, **kwargs: Any) -> None:
        init(self, *args, verify=tls() if verify is True else verify, **kwargs)
    return wrapped


httpx.Client.__init__ = _shared_tls(httpx.Client.__init__)  # type: ignore[method-assign]
httpx.AsyncClient.__init__ = _shared_tls(httpx.AsyncClient.__init__)  # type: ignore[method-assign]

TESTS = Path(__file__).resolve().parent

pytest_plugins = ("pytester",)  # tests/testing/ runs the pytest plugin as its users do


@pytest.fixture(scope="session")
def data_dir() -> str:
    """The folder holding ``fixtures/`` (real Amplitude shapes copied from public connectors,
    see ``tests/fixtures/README.md``, and the seed documents in ``fixtures/seeds/``)."""
    return str(TESTS)
