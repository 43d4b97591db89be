"""One raw event as the Export API returns it (reference §9.3)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field

from ampkit.models.base import AmpModel

EXPORT_TIMESTAMP_FIELDS = (
    "client_event_time",
    "client_upload_time",
    "event_time",
    "processed_time",
    "server_received_time",
    "server_upload_time",
    "user_creation_time",
)


class ExportEvent(AmpModel):
    """An exported event.  Every documented key; unknown keys are kept.

    Timestamps stay strings here (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC, as Amplitude writes them);
    ``amplitude_attribution_ids`` accepts the array real data carries as well as a string.
    """

    insert_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("$insert_id", "insert_id"),
        serialization_alias="$insert_id",
    )
    insert_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("$insert_key", "insert_key"),
        serialization_alias="$insert_key",
    )
    schema_version: int | None = Field(
        default=None,
        validation_alias=AliasChoices("$schema", "schema_version"),
        serialization_alias="$schema",
    )
    adid: str | None = None
    amplitude_attribution_ids: list[str] | str | None = None
    amplitude_event_type: str | None = None
    amplitude_id: int | None = None
    app: int | None = None
    city: str | None = None
    client_event_time: str | None = None
    client_upload_time: str | None = None
    country: str | None = None
    data: dict[str, Any] | None = None
    data_type: str | None = None
    device_brand: str | None = None
    device_carrier: str | None = None
    device_family: str | None = None
    device_id: str | None = None
    device_manufacturer: str | None = None
    device_model: str | None = None
    device_type: str | None = None
    dma: str | None = None
    event_id: int | None = None
    event_properties: dict[str, Any] | None = None
    event_time: str | None = None
    event_type: str | None = None
    global_user_properties: dict[str, Any] | None = None
    group_properties: dict[str, Any] | None = None
    groups: dict[str, Any] | None = None
    idfa: str | None = None
    ip_address: str | None = None
    is_attribution_event: bool | None = None
    language: str | None = None
    library: str | None = None
    location_lat: float | None = None
    location_lng: float | None = None
    os_name: str | None = None
    os_version: str | None = None
    partner_id: str | None = None
    paying: bool | None = None
    plan: dict[str, Any] | None = None
    platform: str | None = None
    processed_time: str | None = None
    region: str | None = None
    sample_rate: float | None = None
    server_received_time: str | None = None
    server_upload_time: str | None = None
    session_id: int | None = None
    source_id: str | None = None
    start_version: str | None = None
    user_creation_time: str | None = None
    user_id: str | None = None
    user_properties: dict[str, Any] | None = None
    uuid: str | None = None
    version_name: str | None = None
