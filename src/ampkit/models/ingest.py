"""Bodies of Amplitude's ingestion answers (HTTP V2, Batch, Identify, Group Identify).

The names follow the reference's schema names (``SuccessSummary``, ``InvalidRequestError``,
``SilencedDeviceID``, ``PayloadTooLargeError``, ``TooManyRequestsForDeviceError``).  Every body
carries ``code``, the HTTP status repeated (the official SDK reads the status from it).
"""

from __future__ import annotations

from pydantic import Field

from ampkit.models.base import AmpModel

ERR_INVALID_PATH = "Invalid request path"
ERR_MISSING_BODY = "Missing request body"
ERR_INVALID_JSON = "Invalid JSON request body"
ERR_MISSING_FIELD = "Request missing required field"
ERR_INVALID_EVENT_JSON = "Invalid event JSON"
ERR_INVALID_API_KEY = "Invalid API key"
ERR_INVALID_FIELDS = "Invalid field values on some events"
ERR_SILENCED = "Events silenced for device_id"
ERR_TOO_LARGE = "Payload too large"
ERR_TOO_MANY = "Too many requests for some devices and users"
ERR_MISSING_EVENT = "missing_event"


class SuccessSummary(AmpModel):
    """200 answer of ``/2/httpapi`` and ``/batch``."""

    code: int = 200
    events_ingested: int
    payload_size_bytes: int
    server_upload_time: int


class IngestErrorBody(AmpModel):
    """Any non-200 JSON answer of the ingestion family.

    One model for the documented shapes (``InvalidRequestError``, ``SilencedDeviceID``,
    ``PayloadTooLargeError``, ``TooManyRequestsForDeviceError``): each field is optional.
    """

    code: int
    error: str = ""
    missing_field: str | None = None
    events_with_invalid_fields: dict[str, list[int]] = Field(default_factory=dict)
    events_with_missing_fields: dict[str, list[int]] = Field(default_factory=dict)
    eps_threshold: int | None = None
    silenced_devices: list[str] = Field(default_factory=list)
    silenced_events: list[int] = Field(default_factory=list)
    throttled_devices: dict[str, float] = Field(default_factory=dict)
    throttled_users: dict[str, float] = Field(default_factory=dict)
    throttled_events: list[int] = Field(default_factory=list)
    exceeded_daily_quota_users: dict[str, int] = Field(default_factory=dict)
    exceeded_daily_quota_devices: dict[str, int] = Field(default_factory=dict)

    def invalid_indexes(self) -> set[int]:
        """Indexes of events the server refuses for good (invalid, missing, silenced)."""
        out: set[int] = set(self.silenced_events)
        for idx in self.events_with_invalid_fields.values():
            out.update(idx)
        for idx in self.events_with_missing_fields.values():
            out.update(idx)
        return out

    def fields_of(self, index: int) -> list[str]:
        """The fields named for one event index (for a readable drop reason)."""
        names = [f for f, idx in self.events_with_invalid_fields.items() if index in idx]
        names += [f for f, idx in self.events_with_missing_fields.items() if index in idx]
        return names


class SilencedDeviceID(IngestErrorBody):
    """400 answer when devices are silenced."""


class PayloadTooLargeError(IngestErrorBody):
    """413 answer."""


class TooManyRequestsForDeviceError(IngestErrorBody):
    """429 answer naming throttled users/devices and daily-quota offenders."""


InvalidRequestError = IngestErrorBody
