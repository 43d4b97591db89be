"""User Profile API — ``GET https://profile-api.amplitude.com/v1/userprofile`` (reference §12).

US only; ``Authorization: Api-Key <secret key>``.  Booleans go in the query as ``true``; ids
lists are comma-separated.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from ampkit.models.base import AmpModel, StrictAmpModel
from ampkit.models.dashboard.common import Params, rule_error
from ampkit.models.dashboard.series import DashboardResult

RecType = Literal["model", "random"]
PropensityType = Literal["score", "pct"]
NOT_SEEN = "not seen before"
"""Part of the answer for unknown ids: ``{"error":"User id and device id not seen before"}``."""


class UserProfileQuery(StrictAmpModel):
    """What to fetch.  One of ``user_id``/``device_id`` is required; ``rec_ids`` turn on
    ``get_recs`` and ``prediction_ids`` turn on ``get_propensity``."""

    model_config = ConfigDict(frozen=True)

    user_id: str | None = None
    device_id: str | None = None
    get_amp_props: bool = False
    get_cohort_ids: bool = False
    get_computations: bool = False
    comp_ids: list[str] = Field(default_factory=list)
    rec_ids: list[str] = Field(default_factory=list)
    rec_type: RecType | None = None
    prediction_ids: list[str] = Field(default_factory=list)
    propensity_type: PropensityType | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if not self.user_id and not self.device_id:
            raise rule_error("user_id", "give user_id or device_id")
        if self.rec_type is not None and not self.rec_ids:
            raise rule_error("rec_type", "needs rec_ids")
        if self.propensity_type is not None and not self.prediction_ids:
            raise rule_error("propensity_type", "needs prediction_ids")
        if self.prediction_ids and self.propensity_type is None:
            raise rule_error("propensity_type", "prediction_ids need propensity_type")
        return self

    def params(self) -> Params:
        out: list[tuple[str, str]] = []
        if self.user_id:
            out.append(("user_id", self.user_id))
        if self.device_id:
            out.append(("device_id", self.device_id))
        for key, on in (
            ("get_amp_props", self.get_amp_props),
            ("get_cohort_ids", self.get_cohort_ids),
            ("get_computations", self.get_computations),
        ):
            if on:
                out.append((key, "true"))
        if self.comp_ids:
            out.append(("comp_id", ",".join(self.comp_ids)))
        if self.rec_ids:
            out += [("get_recs", "true"), ("rec_id", ",".join(self.rec_ids))]
            if self.rec_type is not None:
                out.append(("rec_type", self.rec_type))
        if self.prediction_ids:
            out += [("get_propensity", "true"), ("prediction_id", ",".join(self.prediction_ids))]
            if self.propensity_type is not None:
                out.append(("propensity_type", self.propensity_type))
        return tuple(out)


class Recommendation(AmpModel):
    """``last_updated`` is unix **seconds**."""

    rec_id: str | None = None
    child_rec_id: str | None = None
    items: list[Any] = Field(default_factory=list)
    is_control: bool | None = None
    recommendation_source: str | None = None
    last_updated: int | float | None = None


class Propensity(AmpModel):
    prop: float | None = None
    pred_id: str | None = None
    prop_type: str | None = None


class UserProfile(DashboardResult):
    """The ``userData`` object.  Fields not requested come back as ``null``; computed
    properties sit in ``amp_props`` as strings.  ``raw`` is the whole body."""

    user_id: str | None = None
    device_id: str | None = None
    amp_props: dict[str, Any] | None = None
    cohort_ids: list[str] | None = None
    recommendations: list[Recommendation] | None = None
    propensity: float | None = None
    propensities: list[Propensity] | None = None

    @classmethod
    def unwrap(cls, body: Any) -> Any:
        """The body's ``userData`` object (empty when there is none)."""
        data = body.get("userData") if isinstance(body, dict) else None
        return data if isinstance(data, dict) else {}
