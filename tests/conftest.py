"""Shared fixtures: where the test data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

import ampkit

# Every module the public API names is imported before any test runs. pytester's in-process
# runs forget the modules first imported during a test, while `ampkit` keeps the classes its
# lazy attributes handed out: a later test would then meet two `Identify` classes.
for _name in ampkit.__all__:
    getattr(ampkit, _name)

TESTS = Path(__file__).resolve().parent

pytest_plugins = ("pytester",)  # tests/testing/ runs the pytest plugin as its users do


@pytest.fixture(scope="session")
def data_dir() -> str:
    """The folder holding ``fixtures/`` (real Amplitude shapes copied from public connectors,
    see ``tests/fixtures/README.md``, and the seed documents in ``fixtures/seeds/``)."""
    return str(TESTS)
