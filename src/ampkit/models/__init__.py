"""Pydantic models shared by the client and the local server."""

from ampkit.models.base import AmpModel, StrictAmpModel
from ampkit.models.events import Event, GroupIdentification, Identification, IngestionMetadata, Plan
from ampkit.models.export import ExportEvent
from ampkit.models.ingest import (
    IngestErrorBody,
    PayloadTooLargeError,
    SilencedDeviceID,
    SuccessSummary,
    TooManyRequestsForDeviceError,
)

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
    "SilencedDeviceID",
    "StrictAmpModel",
    "SuccessSummary",
    "TooManyRequestsForDeviceError",
]
