"""Taxonomy API, read side — ``/api/2/taxonomy/...`` (reference §14).

Answers: ``{"success": true, "data": [...]}``; failures ``{"success": false, "errors":
[{"message"}]}`` with 400, 404 or 409.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from pydantic import Field

from ampkit.models.base import AmpModel
from ampkit.models.dashboard.common import DashboardQuery, Params
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import DashboardResult

T = TypeVar("T", bound=AmpModel)
Classifications = list[str] | str | None
"""Lists in the docs; comma-separated text is accepted too."""


class TaxonomyQuery(DashboardQuery):
    """``showDeleted`` (event types and user properties) or the ``event_type`` form field (event
    properties: sent as a form body even on GET, as documented)."""

    kind: ClassVar[QueryKind] = "other"

    show_deleted: bool = False
    event_type: str | None = None

    def params(self) -> Params:
        return (("showDeleted", "true"),) if self.show_deleted else ()

    def form(self) -> Params | None:
        return (("event_type", self.event_type),) if self.event_type else None


class TaxonomyCategory(AmpModel):
    id: int | None = None
    name: str | None = None


class TaxonomyEventType(AmpModel):
    event_type: str | None = None
    category: TaxonomyCategory | None = None
    description: str | None = None
    display_name: str | None = None
    is_active: bool | None = None
    is_hidden_from_dropdowns: bool | None = None
    is_hidden_from_persona_results: bool | None = None
    is_hidden_from_pathfinder: bool | None = None
    is_hidden_from_timeline: bool | None = None
    tags: Classifications = None
    owner: str | None = None


class TaxonomyEventProperty(AmpModel):
    event_property: str | None = None
    event_type: str | None = None
    description: str | None = None
    type: str | None = None
    regex: str | None = None
    enum_values: Classifications = None
    is_array_type: bool | None = None
    is_required: bool | None = None
    is_hidden: bool | None = None
    classifications: Classifications = None


class TaxonomyUserProperty(AmpModel):
    """A user property; custom ones come back with the ``gp:`` prefix."""

    user_property: str | None = None
    description: str | None = None
    type: str | None = None
    regex: str | None = None
    enum_values: Classifications = None
    is_array_type: bool | None = None
    is_hidden: bool | None = None
    classifications: Classifications = None
    deleted: bool | None = None


class TaxonomyError(AmpModel):
    message: str | None = None


class TaxonomyList(DashboardResult, Generic[T]):
    """``{"success": true, "data": [...]}``."""

    success: bool | None = None
    data: list[T] = Field(default_factory=list)
    errors: list[TaxonomyError] | None = None

    @classmethod
    def unwrap(cls, body: Any) -> Any:
        if isinstance(body, dict) and isinstance(body.get("data"), dict):
            return {**body, "data": [body["data"]]}  # a get-one answer
        return body


class TaxonomyCategories(TaxonomyList[TaxonomyCategory]):
    pass


class TaxonomyEventTypes(TaxonomyList[TaxonomyEventType]):
    pass


class TaxonomyEventProperties(TaxonomyList[TaxonomyEventProperty]):
    pass


class TaxonomyUserProperties(TaxonomyList[TaxonomyUserProperty]):
    pass
