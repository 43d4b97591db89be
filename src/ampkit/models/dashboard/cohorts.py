"""Behavioral cohorts — list ``GET /api/3/cohorts`` and the 3-step download (§13.1–13.2)."""

from __future__ import annotations

import csv
import io
from typing import Any, ClassVar, Self

from pydantic import Field, model_validator

from ampkit.models.base import AmpModel
from ampkit.models.dashboard.common import DashboardQuery, Params, rule_error
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import DashboardResult

ID_PATTERN = r"^[A-Za-z0-9_.\-]+$"
JOB_COMPLETED = "JOB COMPLETED"
JOB_IN_PROGRESS = "JOB INPROGRESS"
_FAILURE_WORDS = ("FAIL", "ERROR", "CANCEL", "ABORT")


class CohortsQuery(DashboardQuery):
    """``includeSyncInfo`` (sent only when true)."""

    kind: ClassVar[QueryKind] = "other"

    include_sync_info: bool = False

    def params(self) -> Params:
        return (("includeSyncInfo", "true"),) if self.include_sync_info else ()


class SyncMetadata(AmpModel):
    target: str | None = None
    frequency: str | None = None
    last_successful: str | None = None
    last_failure: str | None = None
    params: dict[str, Any] | None = None


class Cohort(AmpModel):
    """A cohort as listed.  Times are unix seconds; ``definition`` is opaque JSON."""

    id: str | None = None
    name: str | None = None
    app_id: int | None = None
    archived: bool | None = None
    definition: dict[str, Any] | None = None
    description: str | None = None
    finished: bool | None = None
    owners: list[str] = Field(default_factory=list)
    viewers: list[str] = Field(default_factory=list)
    published: bool | None = None
    size: int | None = None
    type: str | None = None
    last_mod: int | float | None = None
    created_at: int | float | None = None
    last_computed: int | float | None = None
    hidden: bool | None = None
    metadata: list[str] | None = None
    view_count: int | None = None
    popularity: int | float | None = None
    last_viewed: int | float | None = None
    chart_id: str | None = None
    edit_id: str | None = None
    is_predictive: bool | None = None
    is_official_content: bool | None = None
    location_id: str | None = None
    shortcut_ids: list[str] = Field(default_factory=list)
    sync_metadata: list[SyncMetadata] | None = None


class CohortsResult(DashboardResult):
    """``{"cohorts": [...]}``."""

    cohorts: list[Cohort] = Field(default_factory=list)

    def by_name(self, name: str) -> Cohort | None:
        return next((c for c in self.cohorts if c.name == name), None)


class CohortDownloadQuery(DashboardQuery):
    """Step 1 of a download: ``props=1`` to include user properties, ``propKeys`` (repeated)
    to restrict them."""

    kind: ClassVar[QueryKind] = "other"

    cohort_id: str = Field(min_length=1, max_length=100, pattern=ID_PATTERN)
    props: bool = False
    prop_keys: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.prop_keys and not self.props:
            raise rule_error("prop_keys", "need props=True")
        return self

    def params(self) -> Params:
        out = [("props", "1")] if self.props else []
        out += [("propKeys", key) for key in self.prop_keys]
        return tuple(out)


class CohortRequestStatus(DashboardResult):
    """Answer of the request (202) and of each poll (202 running, 200 done)."""

    request_id: str | None = None
    cohort_id: str | None = None
    async_status: str | None = None

    @property
    def completed(self) -> bool:
        return (self.async_status or "").upper() == JOB_COMPLETED

    @property
    def failed(self) -> bool:
        """A failure status (their strings are undocumented: any status naming a failure,
        error, cancellation or abort counts — unconfirmed)."""
        status = (self.async_status or "").upper()
        return any(word in status for word in _FAILURE_WORDS)


class CohortMembers(DashboardResult):
    """The downloaded file.  Its format is undocumented; a CSV with Amplitude ID, user ID and
    the requested properties per member is assumed (unconfirmed), so ``text`` is kept as is."""

    request_id: str
    cohort_id: str
    text: str

    @classmethod
    def from_text(cls, request_id: str, cohort_id: str, text: str) -> CohortMembers:
        result = cls(request_id=request_id, cohort_id=cohort_id, text=text)
        result._raw = text
        return result

    def rows(self) -> list[dict[str, str]]:
        """The CSV rows as dicts keyed by the header line."""
        return list(csv.DictReader(io.StringIO(self.text)))
