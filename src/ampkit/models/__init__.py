"""Pydantic models shared by the client and the local server.

Every public name of :mod:`ampkit.models.dashboard` (the Dashboard queries and answers) is
importable from here as well; its ``__all__`` is the one list of them.
"""

from ampkit.models import dashboard
from ampkit.models.base import AmpModel, StrictAmpModel
from ampkit.models.dashboard import *  # noqa: F403  (re-exported: see the module docstring)
from ampkit.models.events import Event, GroupIdentification, Identification, IngestionMetadata, Plan
from ampkit.models.export import ExportEvent
from ampkit.models.ingest import (
    IngestErrorBody,
    PayloadTooLargeError,
    SilencedDeviceID,
    SuccessSummary,
    TooManyRequestsForDeviceError,
)
from ampkit.models.profile import Propensity, Recommendation, UserProfile, UserProfileQuery

__all__ = [
    "AmpModel",
    "Event",
    "ExportEvent",
    "GroupIdentification",
    "Identification",
    "IngestErrorBody",
    "IngestionMetadata",
    "PayloadTooLargeError",
    "Plan",
    "Propensity",
    "Recommendation",
    "SilencedDeviceID",
    "StrictAmpModel",
    "SuccessSummary",
    "TooManyRequestsForDeviceError",
    "UserProfile",
    "UserProfileQuery",
]
__all__ += dashboard.__all__
