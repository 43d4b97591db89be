"""Run ``ampkit`` commands in-process (typer's runner), as a user runs them from a shell.

A subprocess costs about a second of imports per command; in-process, the suite pays for the
imports once.  The result has a subprocess's shape (``returncode``, ``stdout``, ``stderr``), so a
test reads the same either way.  A few smoke tests still start real processes (the console
script, signals, ``ampkit mcp`` over stdio).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from typer.testing import CliRunner

from ampkit.cli.app import app


@dataclass(frozen=True)
class Ran:
    """What a command did: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def invoke(*args: str, env: Mapping[str, str] | None = None, stdin: str | None = None,
           clear_amplitude_env: bool = False) -> Ran:
    """``ampkit *args`` with ``env`` added to the environment (``clear_amplitude_env``: without
    the ``AMPLITUDE_*`` variables this process has) and ``stdin`` as its input."""
    full: dict[str, str | None] = dict(env or {})
    if clear_amplitude_env:
        for key in os.environ:
            if key.startswith("AMPLITUDE_") and key not in full:
                full[key] = None
    full.setdefault("COLUMNS", "200")
    old = os.umask(0o077)  # as ampkit's main() does
    try:
        result = CliRunner().invoke(app, list(args), input=stdin, env=full,
                                    catch_exceptions=False)
    finally:
        os.umask(old)
    return Ran(result.exit_code, result.stdout, result.stderr)
