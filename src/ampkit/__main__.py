"""``python -m ampkit`` is the ``ampkit`` command."""

from ampkit.cli import main

main()
