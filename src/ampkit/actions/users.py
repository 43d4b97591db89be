"""Read actions about one user: search, activity (events), profile."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ampkit.actions.base import ActionInput, ActionOutput
from ampkit.actions.registry import REGISTRY
from ampkit.client import Amplitude
from ampkit.models.dashboard import UserActivityResult, UserSearchResult
from ampkit.models.profile import UserProfile


class UserSearchInput(ActionInput):
    user: str = Field(min_length=1, max_length=1000, description="An Amplitude ID, device ID, "
                      "user ID or the start of a user ID.")


class UserSearchOutput(ActionOutput):
    amplitude_ids: list[int] = Field(default_factory=list,
                                     description="Amplitude IDs of the users found.")
    result: UserSearchResult | None = Field(default=None, description="The matches as "
                                            "Amplitude gave them.")


@REGISTRY.action("user_search", title="Find a user", read_only=True, idempotent=True)
def user_search(client: Amplitude, args: UserSearchInput) -> UserSearchOutput:
    """Find users by Amplitude ID, device ID, user ID or user-ID prefix.

    Gives their Amplitude IDs, which user_activity needs. Needs the secret key.
    """
    result = client.user_search(args.user)
    return UserSearchOutput(amplitude_ids=result.amplitude_ids(), result=result)


class UserActivityInput(ActionInput):
    amplitude_id: int = Field(ge=1, description="The user's Amplitude ID (from user_search), "
                              "not the user id.")
    offset: int = Field(default=0, ge=0, description="Events to skip (for paging).")
    limit: int = Field(default=100, ge=1, le=1000, description="Events to return (≤ 1,000).")
    direction: Literal["latest", "earliest"] = Field(default="latest", description="Newest "
                                                     "events first, or oldest first.")


class UserActivityOutput(ActionOutput):
    result: UserActivityResult | None = Field(default=None, description="The user's data "
                                              "(userData) and one page of events.")


@REGISTRY.action("user_activity", title="User activity", read_only=True, idempotent=True)
def user_activity(client: Amplitude, args: UserActivityInput) -> UserActivityOutput:
    """One page of a user's events plus their profile data, by Amplitude ID.

    Use offset/limit to page (at most 1,000 events a page). Needs the secret key.
    """
    return UserActivityOutput(result=client.user_activity(
        args.amplitude_id, offset=args.offset, limit=args.limit, direction=args.direction))


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
