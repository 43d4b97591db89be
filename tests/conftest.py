"""Shared fixtures: where the test data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

pytest_plugins = ("pytester",)  # tests/testing/ runs the pytest plugin as its users do


@pytest.fixture(scope="session")
def data_dir() -> str:
    """The folder holding ``fixtures/`` (real Amplitude shapes copied from public connectors,
    see ``tests/fixtures/README.md``, and the seed documents in ``fixtures/seeds/``)."""
    return str(TESTS)
