"""The ``ampkit`` command line."""

from ampkit.cli.app import app, main

__all__ = ["app", "main"]
