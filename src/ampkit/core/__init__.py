"""The one HTTP core: request specs, retry policy, limits, auth, flows and transports.

The names below are imported on first use, so importing a light module of the package (such as
:mod:`ampkit.core.files`) does not load httpx and the models.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ampkit.core.flow import Flow, arun_flow, run_flow
    from ampkit.core.limits import Limits
    from ampkit.core.policy import RetryPolicy
    from ampkit.core.spec import RawResponse, RequestSpec
    from ampkit.core.transport import AsyncTransport, SyncTransport

_LAZY: dict[str, str] = {
    "AsyncTransport": "ampkit.core.transport",
    "Flow": "ampkit.core.flow",
    "Limits": "ampkit.core.limits",
    "RawResponse": "ampkit.core.spec",
    "RequestSpec": "ampkit.core.spec",
    "RetryPolicy": "ampkit.core.policy",
    "SyncTransport": "ampkit.core.transport",
    "arun_flow": "ampkit.core.flow",
    "run_flow": "ampkit.core.flow",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


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
