"""Shared fixtures: where the test data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def data_dir() -> str:
    """The folder holding ``fixtures/`` (real Amplitude shapes copied from public connectors,
    see ``tests/fixtures/README.md``, and the seed documents in ``fixtures/seeds/``)."""
    return str(TESTS)
