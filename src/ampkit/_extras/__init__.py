"""Optional dependencies: which extra brings which package, and one clear error when one is missing.

``pip install ampkit`` brings what the client needs (httpx, pydantic, pydantic-settings, orjson).
Everything else comes with an extra (``pyproject.toml`` lists the same sets)::

    server   ampkit serve, ampkit.server     duckdb, starlette, uvicorn, pyyaml, python-multipart,
                                             pyarrow, jsonschema
    sync     ampkit sync, ampkit.replicate   pyarrow, duckdb, psycopg, pyyaml
    export   Parquet and DuckDB exports      pyarrow, duckdb   (``arrow``: pyarrow alone)
    mcp      ampkit mcp, ampkit.mcp          mcp
    plan     tracking plans (client, CLI)    jsonschema, pyyaml   (the server extra has them)
    cli      the ampkit command              typer, rich
    charts   PNG charts                      matplotlib
    all      every one of them

A module that needs an extra checks for it when it is imported (:func:`require`) and raises
:class:`MissingExtra`, one line naming the extra, instead of a ``ModuleNotFoundError`` deep in a
traceback.  This module imports nothing from ampkit, so any layer may use it.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

EXTRAS: dict[str, tuple[str, ...]] = {
    "server": ("duckdb", "starlette", "uvicorn", "yaml", "pyarrow"),
    "sync": ("pyarrow", "duckdb", "psycopg", "yaml"),
    "export": ("pyarrow", "duckdb"),
    "arrow": ("pyarrow",),
    "plan": ("jsonschema", "yaml"),
    "mcp": ("mcp",),
    "cli": ("typer", "rich"),
    "charts": ("matplotlib",),
}
"""Extra → the top-level modules it brings that ampkit imports (python-multipart is imported by
Starlette itself, only when a form is read)."""

DISTRIBUTIONS: dict[str, str] = {"yaml": "PyYAML"}
"""The name pip knows a module by, where it is another."""

OPTIONAL: frozenset[str] = frozenset(m for modules in EXTRAS.values() for m in modules)
"""Every module an extra brings: none of them is imported by ``import ampkit`` or the client."""


class MissingExtra(ModuleNotFoundError):
    """An optional dependency is not installed; the message names the extra that brings it.

    ``name`` is the missing module, as for any ``ModuleNotFoundError``.
    """


def install_hint(*extras: str) -> str:
    """``pip install 'ampkit[server]'`` (several extras: ``'ampkit[server,sync]'``)."""
    return f"pip install 'ampkit[{','.join(extras)}]'"


def message(what: str, module: str, extras: Sequence[str]) -> str:
    """The one line: what needs which missing package, and the command that installs it."""
    package = DISTRIBUTIONS.get(module, module)
    return f"{what} needs {package}, which is not installed: {install_hint(*extras)}"


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(*modules: str) -> str | None:
    """The first of ``modules`` that is not installed, or None when all are."""
    return next((m for m in modules if not is_installed(m)), None)


def require(extra: str, what: str, modules: Sequence[str] | None = None) -> None:
    """Raise :class:`MissingExtra` unless every module of ``extra`` (or ``modules``) is installed.

    ``what`` names what needs them, e.g. ``"ampkit.server"``.
    """
    module = missing(*(EXTRAS[extra] if modules is None else modules))
    if module is not None:
        raise MissingExtra(message(what, module, (extra,)), name=module)


def optional_module(exc: ModuleNotFoundError) -> str | None:
    """The optional package a ``ModuleNotFoundError`` is about; None for any other module."""
    top = (exc.name or "").partition(".")[0]
    return top if top in OPTIONAL else None


def extra_for(module: str) -> str:
    """The first extra that brings ``module`` (``all`` when none does)."""
    return next((extra for extra, modules in EXTRAS.items() if module in modules), "all")
