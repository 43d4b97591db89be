"""The Export API (``GET /api/2/export``): hour windows, streamed downloads, archive decoders.

Decoding needs nothing extra; Arrow batches need ``pip install 'ampkit[arrow]'``.
"""

from ampkit.errors import ExportDecodeError
from ampkit.export.arrow import (
    EXPORT_COLUMNS,
    EXTRA_COLUMN,
    export_arrow_schema,
    has_native_decoder,
    iter_arrow_batches,
    parse_timestamp,
)
from ampkit.export.decode import (
    DEFAULT_MAX_LINE_BYTES,
    Archive,
    iter_entry_lines,
    iter_events,
    iter_lines,
    iter_records,
)
from ampkit.export.download import (
    ExportProgress,
    WindowDone,
    aexport_archives,
    aexport_events,
    export_archives,
    export_events,
)
from ampkit.export.duckdb_loader import DuckDBLoad, load_duckdb, load_duckdb_file
from ampkit.export.endpoint import (
    ExportSummary,
    ExportWindow,
    ExportWindowError,
    ExportWindowTooLarge,
    export_flow,
    export_spec,
    format_hour,
    parse_hour,
    plan_windows,
)

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "EXPORT_COLUMNS",
    "EXTRA_COLUMN",
    "Archive",
    "DuckDBLoad",
    "ExportDecodeError",
    "ExportProgress",
    "ExportSummary",
    "ExportWindow",
    "ExportWindowError",
    "ExportWindowTooLarge",
    "WindowDone",
    "aexport_archives",
    "aexport_events",
    "export_archives",
    "export_arrow_schema",
    "export_events",
    "export_flow",
    "export_spec",
    "format_hour",
    "has_native_decoder",
    "iter_arrow_batches",
    "iter_entry_lines",
    "iter_events",
    "iter_lines",
    "iter_records",
    "load_duckdb",
    "load_duckdb_file",
    "parse_hour",
    "parse_timestamp",
    "plan_windows",
]
