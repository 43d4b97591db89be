"""The User Profile API as an action, with ModuleX's contract (seed 001: ``get_amp_props``,
``get_cohort_ids``, ``get_computations`` in; ``amp_props``, ``cohort_ids``, ``computations`` out,
at the top level).  User search and activity are made from their endpoint definitions
(:mod:`ampkit.actions.queries`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ampkit.actions.base import ActionInput, ActionOutput
from ampkit.actions.registry import REGISTRY
from ampkit.client import Amplitude
from ampkit.models.profile import Propensity, Recommendation


class UserProfileInput(ActionInput):
    user_id: str | None = Field(default=None, description="External user ID (required if no "
                                "device_id).")
    device_id: str | None = Field(default=None, description="Device ID (required if no "
                                  "user_id).")
    get_amp_props: bool = Field(default=False, description="Include Amplitude user properties "
                                "(default: false).")
    get_cohort_ids: bool = Field(default=False, description="Include cohort IDs the user "
                                 "belongs to (default: false).")
    get_computations: bool = Field(default=False, description="Include computed user "
                                   "properties (default: false).")
    recommendations: list[str] = Field(default_factory=list, description="Recommendation "
                                       "ids to fetch.")
    predictions: list[str] = Field(default_factory=list, description="Prediction ids to "
                                   "fetch (with propensity_type).")
    propensity_type: Literal["score", "pct"] | None = Field(default=None, description="How "
                                                            "predictions are given.")


class UserProfileOutput(ActionOutput):
    """ModuleX's ``UserProfileOutput`` (plus recommendations and propensities)."""

    user_id: str | None = Field(default=None, description="The user's id.")
    device_id: str | None = Field(default=None, description="The device's id.")
    amp_props: dict[str, Any] | None = Field(default=None, description="With get_amp_props: "
                                             "the user's properties.")
    cohort_ids: list[str] | None = Field(default=None, description="With get_cohort_ids: the "
                                         "cohorts the user is in (cohorts synced to the "
                                         "Profile API).")
    computations: dict[str, Any] | None = Field(default=None, description="With "
                                                "get_computations: computed properties.")
    recommendations: list[Recommendation] | None = Field(default=None, description="With "
                                                         "recommendations.")
    propensity: float | None = Field(default=None, description="With one prediction.")
    propensities: list[Propensity] | None = Field(default=None, description="With "
                                                  "predictions.")


@REGISTRY.action("user_profile", title="User profile", read_only=True, idempotent=True)
def user_profile(client: Amplitude, args: UserProfileInput) -> UserProfileOutput:
    """A user's profile from the User Profile API: properties (get_amp_props), cohorts
    (get_cohort_ids), computed properties (get_computations), recommendations, predictions.

    US projects only. Needs the secret key. An unknown user is a 'not seen before' error.
    Amplitude answers computed properties inside amp_props: asked for with get_amp_props, they
    are fetched by a second request so that each comes back in its own field.
    """
    both = args.get_amp_props and args.get_computations
    profile = client.user_profile(
        args.user_id, device_id=args.device_id, amp_props=args.get_amp_props,
        cohort_ids=args.get_cohort_ids,
        computations=args.get_computations and not args.get_amp_props,
        recommendations=args.recommendations, predictions=args.predictions,
        propensity_type=args.propensity_type)
    computations = None
    if both:
        computations = client.user_profile(args.user_id, device_id=args.device_id,
                                           computations=True).amp_props
    elif args.get_computations:
        computations = profile.amp_props
    return UserProfileOutput(
        user_id=profile.user_id, device_id=profile.device_id,
        amp_props=profile.amp_props if args.get_amp_props else None,
        cohort_ids=profile.cohort_ids, computations=computations,
        recommendations=profile.recommendations, propensity=profile.propensity,
        propensities=profile.propensities)
