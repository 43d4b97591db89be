"""Shared fixtures: where ../shared is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_dir() -> str:
    """The ``shared`` folder beside the repository (fixtures, API reference)."""
    path = Path(os.environ.get("AMPKIT_SHARED", ROOT.parent / "shared"))
    if not (path / "fixtures").is_dir():
        pytest.fail(f"../shared/fixtures not found at {path}; set AMPKIT_SHARED")
    return str(path)
