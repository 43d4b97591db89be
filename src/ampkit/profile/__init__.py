"""The User Profile API (``GET /v1/userprofile`` on ``profile-api.amplitude.com``; US only)."""

from ampkit.profile.endpoint import PROFILE_PATH, flow, parse, request

__all__ = ["PROFILE_PATH", "flow", "parse", "request"]
