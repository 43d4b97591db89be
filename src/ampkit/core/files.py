"""Files that hold event data or credentials are their owner's alone (issue 13 §7).

``ampkit``'s commands set the process umask to ``077``, so everything they create is private
from the start.  Library code cannot change a caller's umask, so it tightens what it creates
itself: :func:`private_dir` for a folder it makes (its contents then stay private whatever their
own modes), :func:`private_file` for a file — after it is created, and again after writes that
may have created a sibling (a DuckDB ``.wal``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if missing; a folder created here is ``0700``.  An existing
    folder keeps its mode: it is the caller's."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        path.chmod(0o700)  # mkdir's mode is filtered by the umask


def private_file(path: Path) -> None:
    """Make an existing file ``0600`` if others can read it (nothing when missing)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)


def private_duckdb(path: Path) -> None:
    """A DuckDB file and its write-ahead log."""
    private_file(path)
    private_file(path.with_name(path.name + ".wal"))


def set_private_umask() -> int:
    """For a command's own process: everything it creates from now on is ``0600``/``0700``."""
    return os.umask(0o077)


__all__ = ["private_dir", "private_duckdb", "private_file", "set_private_umask"]
