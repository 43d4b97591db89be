"""The one HTTP core: request specs, retry policy, limits, auth, flows and transports."""

from ampkit.core.flow import Flow, arun_flow, run_flow
from ampkit.core.limits import Limits
from ampkit.core.policy import RetryPolicy
from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.core.transport import AsyncTransport, SyncTransport

__all__ = [
    "AsyncTransport",
    "Flow",
    "Limits",
    "RawResponse",
    "RequestSpec",
    "RetryPolicy",
    "SyncTransport",
    "arun_flow",
    "run_flow",
]
