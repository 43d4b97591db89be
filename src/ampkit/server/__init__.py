"""``ampkit serve``: a local Amplitude-compatible server (ingestion, and the read APIs).

Only :mod:`ampkit.models` is shared with the client; the two meet over HTTP.
"""

import ampkit._extras.server  # noqa: F401  (first: one line naming the extra if it is missing)
from ampkit.server.app import ServerApp, create_app
from ampkit.server.config import (
    DEMO_API_KEY,
    DEMO_PROJECT_ID,
    DEMO_SECRET_KEY,
    ExportConfig,
    FaultConfig,
    LimitsConfig,
    ProjectConfig,
    ServerConfig,
    ThrottleConfig,
    load_server_config,
    parse_fault_spec,
)
from ampkit.server.runner import RunningServer, StoreOpenError, run_server, serve_in_thread
from ampkit.server.store import Store

__all__ = [
    "DEMO_API_KEY",
    "DEMO_PROJECT_ID",
    "DEMO_SECRET_KEY",
    "ExportConfig",
    "FaultConfig",
    "LimitsConfig",
    "ProjectConfig",
    "RunningServer",
    "ServerApp",
    "ServerConfig",
    "Store",
    "StoreOpenError",
    "ThrottleConfig",
    "create_app",
    "load_server_config",
    "parse_fault_spec",
    "run_server",
    "serve_in_thread",
]
