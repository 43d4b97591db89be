"""ampkit — work with Amplitude from code.

One client for sending events (HTTP V2 and Batch APIs, Identify, Group Identify) with a
background sender that loses nothing; for querying (Dashboard REST, user search/activity, saved
charts, annotations, cohorts, taxonomy, User Profile) under a query-cost budget — query and
result models in :mod:`ampkit.models`; plus a local Amplitude-compatible server
(``ampkit serve``) to run everything offline.
"""

import typing

from ampkit.errors import (
    AmplitudeError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthError,
    ClosedError,
    ConfigError,
    InvalidEventError,
    InvalidRequest,
    NoData,
    PayloadTooLarge,
    QueueFullError,
    RateLimited,
    RedirectRefused,
    ServerError,
    UnexpectedResponse,
    UnreachableError,
)

if typing.TYPE_CHECKING:
    from ampkit.client import Amplitude, AsyncAmplitude
    from ampkit.config import Settings
    from ampkit.core.limits import QueryBudgets
    from ampkit.core.policy import RetryPolicy
    from ampkit.dashboard.custom import CustomResponse
    from ampkit.ingest.batching import DeliveryReport
    from ampkit.ingest.identify import Identify
    from ampkit.ingest.normalize import EventDefaults, NormalizeOptions
    from ampkit.ingest.sender import SenderOptions
    from ampkit.models import Event, ExportEvent
    from ampkit.models.dashboard import (
        EventDef,
        Filter,
        FunnelResult,
        GroupBy,
        RetentionResult,
        Segment,
        SegmentationResult,
        SegmentCondition,
        UserSearchResult,
        UsersResult,
    )

# Everything but the errors is imported on first use (PEP 562), so ``import ampkit`` costs
# almost nothing and never loads the optional packages (DuckDB, pyarrow, the server, the CLI).
_LAZY: dict[str, str] = {
    "Amplitude": "ampkit.client",
    "AsyncAmplitude": "ampkit.client",
    "Settings": "ampkit.config",
    "QueryBudgets": "ampkit.core.limits",
    "RetryPolicy": "ampkit.core.policy",
    "CustomResponse": "ampkit.dashboard.custom",
    "DeliveryReport": "ampkit.ingest.batching",
    "Identify": "ampkit.ingest.identify",
    "EventDefaults": "ampkit.ingest.normalize",
    "NormalizeOptions": "ampkit.ingest.normalize",
    "SenderOptions": "ampkit.ingest.sender",
    "Event": "ampkit.models",
    "ExportEvent": "ampkit.models",
    "EventDef": "ampkit.models.dashboard",
    "Filter": "ampkit.models.dashboard",
    "FunnelResult": "ampkit.models.dashboard",
    "GroupBy": "ampkit.models.dashboard",
    "RetentionResult": "ampkit.models.dashboard",
    "Segment": "ampkit.models.dashboard",
    "SegmentationResult": "ampkit.models.dashboard",
    "SegmentCondition": "ampkit.models.dashboard",
    "UserSearchResult": "ampkit.models.dashboard",
    "UsersResult": "ampkit.models.dashboard",
}


def __getattr__(name: str) -> typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Amplitude",
    "AmplitudeError",
    "AsyncAmplitude",
    "AuthError",
    "ClosedError",
    "ConfigError",
    "CustomResponse",
    "DeliveryReport",
    "Event",
    "EventDef",
    "EventDefaults",
    "ExportEvent",
    "Filter",
    "FunnelResult",
    "GroupBy",
    "Identify",
    "InvalidEventError",
    "InvalidRequest",
    "NoData",
    "NormalizeOptions",
    "PayloadTooLarge",
    "QueryBudgets",
    "QueueFullError",
    "RateLimited",
    "RedirectRefused",
    "RetentionResult",
    "RetryPolicy",
    "Segment",
    "SegmentCondition",
    "SegmentationResult",
    "SenderOptions",
    "ServerError",
    "Settings",
    "UnexpectedResponse",
    "UnreachableError",
    "UserSearchResult",
    "UsersResult",
    "__version__",
]
