"""Libraries imported when a test first uses them, not while pytest collects.

Every xdist worker collects every test module, so a module-level import is paid once per
worker even when one worker runs the tests that need it: dlt (~0.6 s), ``mcp`` (~0.8 s) and
pyiceberg (~0.3 s) cost each worker about two seconds of collection otherwise.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

import pytest


class Lazy(ModuleType):
    """A module imported on its first attribute look-up."""

    def __init__(self, name: str) -> None:
        super().__init__(name)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # pytest probes every module-level object (``__test__``,
            raise AttributeError(attr)  # its fixture marker…) while collecting: no import
        return getattr(importlib.import_module(self.__name__), attr)


def lazy_or_skip(name: str, reason: str | None = None) -> Any:
    """``name`` as a :class:`Lazy` module; the calling test module is skipped (saying
    ``reason``) when it is not installed — what ``pytest.importorskip`` does, without importing
    it now."""
    top = name.partition(".")[0]
    if importlib.util.find_spec(top) is None or importlib.util.find_spec(name) is None:
        pytest.skip(reason or f"could not import {name!r}: not installed",
                    allow_module_level=True)
    return Lazy(name)
