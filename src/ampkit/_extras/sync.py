"""Imported first by :mod:`ampkit.replicate`: one line naming the ``sync`` extra if it is missing.

pyarrow and PyYAML are needed by every sync; DuckDB and psycopg only by their targets, checked
when one is opened.
"""

from ampkit._extras import require

require("sync", "ampkit.replicate", ("pyarrow", "yaml"))
