"""The User Profile API as an action (user search and activity are generated from their
endpoint definitions: :mod:`ampkit.actions.queries`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ampkit.actions.base import ActionInput, ActionOutput
from ampkit.actions.registry import REGISTRY
from ampkit.client import Amplitude
from ampkit.models.profile import UserProfile


class UserProfileInput(ActionInput):
    user_id: str | None = Field(default=None, description="Your id of the user; user_id or "
                                "device_id is required.")
    device_id: str | None = Field(default=None, description="The device's id.")
    amp_props: bool = Field(default=True, description="Include the user's properties.")
    cohort_ids: bool = Field(default=False, description="Include the cohorts the user is in.")
    computations: bool = Field(default=False, description="Include computed properties.")
    recommendations: list[str] = Field(default_factory=list, description="Recommendation "
                                       "ids to fetch.")
    predictions: list[str] = Field(default_factory=list, description="Prediction ids to "
                                   "fetch (with propensity_type).")
    propensity_type: Literal["score", "pct"] | None = Field(default=None, description="How "
                                                            "predictions are given.")


class UserProfileOutput(ActionOutput):
    profile: UserProfile | None = Field(default=None, description="The user's profile.")


@REGISTRY.action("user_profile", title="User profile", read_only=True, idempotent=True)
def user_profile(client: Amplitude, args: UserProfileInput) -> UserProfileOutput:
    """A user's profile from the User Profile API: properties, cohorts, computations,
    recommendations, predictions.

    US projects only. Needs the secret key. An unknown user is a 'not seen before' error.
    """
    return UserProfileOutput(profile=client.user_profile(
        args.user_id, device_id=args.device_id, amp_props=args.amp_props,
        cohort_ids=args.cohort_ids, computations=args.computations,
        recommendations=args.recommendations, predictions=args.predictions,
        propensity_type=args.propensity_type))
