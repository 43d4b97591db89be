"""The ``ampkit`` command line (the ``cli`` extra: typer and rich)."""

from ampkit._extras import MissingExtra, require

try:
    require("cli", "the ampkit command")
except MissingExtra as _missing:
    _problem = str(_missing)

    def main() -> None:
        """Without typer or rich: one line naming the extra, not a traceback."""
        import sys

        print(f"error: {_problem}", file=sys.stderr)
        raise SystemExit(1) from None

else:
    from ampkit.cli.app import app, main

__all__ = ["app", "main"]
