"""The event as sent to the ingestion APIs, and the identify/group-identify objects.

Keys may be given in snake_case or camelCase; on the wire every key is snake_case except the
revenue keys ``productId`` and ``revenueType`` (Amplitude's own spelling).
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, ConfigDict, Field

from ampkit.models.base import AmpModel


class Plan(AmpModel):
    """Tracking-plan information (``plan``)."""

    model_config = ConfigDict(extra="forbid")

    branch: str | None = None
    source: str | None = None
    version: str | None = None
    version_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("versionId", "version_id"),
        serialization_alias="versionId",
    )


class IngestionMetadata(AmpModel):
    """Which tool sent the event (``ingestion_metadata``; sent by Amplitude SDKs)."""

    source_name: str | None = None
    source_version: str | None = None


class WireModel(AmpModel):
    """A model sent to Amplitude: :meth:`wire` is its JSON object, absent fields left out."""

    def wire(self) -> dict[str, Any]:
        """The object as Amplitude expects it on the wire (absent fields left out)."""
        return self.model_dump(mode="python", by_alias=True, exclude_none=True)


class DeviceFields(WireModel):
    """The device and location keys that an event and an identification share
    (:data:`ampkit.models.rules.DEVICE_FIELDS`, strings on the wire)."""

    app_version: Any = None
    platform: Any = None
    os_name: Any = None
    os_version: Any = None
    device_brand: Any = None
    device_manufacturer: Any = None
    device_model: Any = None
    carrier: Any = None
    country: Any = None
    region: Any = None
    city: Any = None
    dma: Any = None
    language: Any = None


class Event(DeviceFields):
    """One event for ``/2/httpapi`` or ``/batch`` — every documented key (reference §2.2).

    Types are loose on purpose (``Any`` for numbers that users often get wrong): the rules in
    :mod:`ampkit.models.rules` say precisely what is wrong, naming the field.  Unknown keys are
    kept and sent as they are.
    """

    event_type: Any = None
    user_id: Any = None
    device_id: Any = None
    time: Any = None
    event_properties: Any = None
    user_properties: Any = None
    groups: Any = None
    group_properties: Any = None
    skip_user_properties_sync: Any = Field(
        default=None,
        validation_alias=AliasChoices(
            "$skip_user_properties_sync", "skip_user_properties_sync", "skipUserPropertiesSync"
        ),
        serialization_alias="$skip_user_properties_sync",
    )
    user_agent: Any = None
    price: Any = None
    quantity: Any = None
    revenue: Any = None
    product_id: Any = Field(
        default=None,
        validation_alias=AliasChoices("productId", "product_id"),
        serialization_alias="productId",
    )
    revenue_type: Any = Field(
        default=None,
        validation_alias=AliasChoices("revenueType", "revenue_type"),
        serialization_alias="revenueType",
    )
    currency: Any = None
    location_lat: Any = None
    location_lng: Any = None
    ip: Any = None
    idfa: Any = None
    idfv: Any = None
    adid: Any = None
    android_id: Any = None
    android_app_set_id: Any = None
    event_id: Any = None
    session_id: Any = None
    insert_id: Any = None
    plan: Any = None
    partner_id: Any = None
    ingestion_metadata: Any = None
    library: Any = None


class Identification(DeviceFields):
    """One object of the Identify API's ``identification`` parameter (reference §4.2)."""

    user_id: Any = None
    device_id: Any = None
    user_properties: Any = None
    groups: Any = None
    paying: Any = None
    start_version: Any = None


class GroupIdentification(WireModel):
    """One object of the Group Identify API's ``identification`` parameter (reference §5)."""

    group_type: Any = None
    group_value: Any = None
    group_properties: Any = None
