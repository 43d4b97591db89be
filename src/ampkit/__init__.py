"""ampkit — work with Amplitude from code.

One client for sending events (HTTP V2 and Batch APIs, Identify, Group Identify) with a
background sender that loses nothing; for querying (Dashboard REST, user search/activity, saved
charts, annotations, cohorts, taxonomy, User Profile) under a query-cost budget — query and
result models in :mod:`ampkit.models`; plus a local Amplitude-compatible server
(``ampkit serve``) to run everything offline.
"""

from ampkit.client import Amplitude, AsyncAmplitude
from ampkit.config import Settings
from ampkit.core.limits import QueryBudgets
from ampkit.core.policy import RetryPolicy
from ampkit.dashboard.custom import CustomResponse
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
