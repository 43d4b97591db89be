"""Imported first by :mod:`ampkit.server`: one line naming the ``server`` extra if it is missing."""

from ampkit._extras import require

require("server", "ampkit.server")
