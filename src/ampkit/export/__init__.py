"""The Export API (``GET /api/2/export``): hour windows, streamed downloads, archive decoders.

Decoding needs nothing extra; Arrow batches need ``pip install 'ampkit[arrow]'``, the DuckDB
loader (imported on first use) ``pip install 'ampkit[export]'``.
"""

from typing import TYPE_CHECKING, Any

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
from ampkit.export.files import write_export

if TYPE_CHECKING:
    from ampkit.export.duckdb_loader import DuckDBLoad, load_duckdb, load_duckdb_file

_DUCKDB_NAMES = ("DuckDBLoad", "load_duckdb", "load_duckdb_file")


def __getattr__(name: str) -> Any:
    """The DuckDB loader's names, imported on first use: DuckDB is an optional package."""
    if name not in _DUCKDB_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    from ampkit._extras import require

    require("export", "ampkit.export's DuckDB loader", ("duckdb",))
    value = getattr(import_module("ampkit.export.duckdb_loader"), name)
    globals()[name] = value
    return value


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
    "write_export",
]
