"""Imported first by :mod:`ampkit.mcp`: one line naming the ``mcp`` extra if it is missing."""

from ampkit._extras import require

require("mcp", "ampkit.mcp")
