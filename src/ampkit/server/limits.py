"""Dashboard REST limits, per project (reference §10.2): 5 concurrent requests, a separate
bucket of 10 concurrent and 360 per hour for user search/activity, and a cost ledger of 1,000
per 5 minutes and 108,000 per hour (cost = days × conditions × query-type cost).  Over a
limit: 429 in the Dashboard envelope, naming the limit, with a ``Retry-After`` header.

The User Profile API's own limit (600 requests a minute per organisation, reference §12) is
:class:`ProfileLimits`."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from ampkit.models.dashboard.cost import QueryKind, params_cost

USER_PATHS = frozenset({"/api/2/usersearch", "/api/2/useractivity"})


class DashboardLimitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    concurrency: int = Field(default=5, ge=1)
    user_concurrency: int = Field(default=10, ge=1)
    user_per_hour: int = Field(default=360, ge=1)
    cost_per_5min: int = Field(default=1000, ge=1)
    cost_per_hour: int = Field(default=108_000, ge=1)


def kind_of(path: str) -> QueryKind:
    if path.endswith("/segmentation"):
        return "segmentation"
    if path.endswith("/funnels"):
        return "funnel"
    if path.endswith("/retention"):
        return "retention"
    if "/sessions/" in path:
        return "sessions"
    return "other"


class LimitExceeded(Exception):
    def __init__(self, limit: str, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.limit = limit
        self.detail = detail
        self.retry_after = retry_after


@dataclass
class _Project:
    running: int = 0
    user_running: int = 0
    costs: deque[tuple[float, int]] = field(default_factory=deque)
    user_calls: deque[float] = field(default_factory=deque)


class DashboardLimits:
    """Admission control; ``admit`` raises :class:`LimitExceeded`, ``release`` frees a slot."""

    def __init__(self, config: DashboardLimitsConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self._clock, self._lock = config, clock, threading.Lock()
        self._projects: dict[int, _Project] = {}

    def admit(self, project_id: int, path: str, params: Iterable[tuple[str, str]]) -> bool:
        """Account for one request; ``True`` when a slot must be released afterwards."""
        c = self.config
        if not c.enabled:
            return False
        now = self._clock()
        user = path in USER_PATHS
        cost = 0 if user else params_cost(kind_of(path), params)
        with self._lock:
            p = self._projects.setdefault(project_id, _Project())
            while p.costs and p.costs[0][0] <= now - 3600:
                p.costs.popleft()
            while p.user_calls and p.user_calls[0] <= now - 3600:
                p.user_calls.popleft()
            if user:
                if p.user_running >= c.user_concurrency:
                    raise LimitExceeded("concurrent user search/activity requests",
                                        f"at most {c.user_concurrency} at once", 1)
                if len(p.user_calls) >= c.user_per_hour:
                    wait = int(p.user_calls[0] + 3600 - now) + 1
                    raise LimitExceeded("user search/activity queries per hour",
                                        f"at most {c.user_per_hour} per hour", wait)
                p.user_running += 1
                p.user_calls.append(now)
                return True
            if p.running >= c.concurrency:
                raise LimitExceeded("concurrent requests",
                                    f"at most {c.concurrency} Dashboard requests at once", 1)
            recent = sum(v for t, v in p.costs if t > now - 300)
            hourly = sum(v for _, v in p.costs)
            if recent and recent + cost > c.cost_per_5min:
                wait = int(next(t for t, _ in p.costs if t > now - 300) + 300 - now) + 1
                raise LimitExceeded("query cost per 5 minutes",
                                    f"this query costs {cost}; {recent} of {c.cost_per_5min} "
                                    "already used in the last 5 minutes", wait)
            if hourly and hourly + cost > c.cost_per_hour:
                wait = int(p.costs[0][0] + 3600 - now) + 1
                raise LimitExceeded("query cost per hour",
                                    f"this query costs {cost}; {hourly} of {c.cost_per_hour} "
                                    "already used in the last hour", wait)
            p.running += 1
            p.costs.append((now, cost))
            return True

    def release(self, project_id: int, path: str) -> None:
        with self._lock:
            p = self._projects.get(project_id)
            if p is None:
                return
            if path in USER_PATHS:
                p.user_running = max(0, p.user_running - 1)
            else:
                p.running = max(0, p.running - 1)

    def reset(self, project_id: int) -> None:
        with self._lock:
            self._projects.pop(project_id, None)


PROFILE_LIMIT_ERROR = ("Number of requests per minute exceeds system limit. Contact Support "
                       "if you need this limit raised")
"""The User Profile API's documented rate-limit body (reference §12.3)."""


class ProfileLimitsConfig(BaseModel):
    """The User Profile API's limit: 600 requests a minute per organisation (reference §12).

    The server is one organisation: every request with a valid secret key counts, whichever
    project it is for.  Amplitude does not state the status of the answer over the limit;
    ``status`` (default 429) chooses it."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    per_minute: int = Field(default=600, ge=1)
    status: int = Field(default=429, ge=400, le=599)


class ProfileLimits:
    """A sliding 60-second window of User Profile requests, shared by every project (one
    organisation); ``admit`` raises :class:`LimitExceeded` when the window is full.  Each entry
    remembers its project, so resetting one project forgets only its own requests."""

    def __init__(self, config: ProfileLimitsConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self._clock, self._lock = config, clock, threading.Lock()
        self._calls: deque[tuple[float, int | None]] = deque()

    def admit(self, project_id: int | None = None) -> None:
        """Count one request (for ``project_id``), or raise if the window is full."""
        if not self.config.enabled:
            return
        now = self._clock()
        with self._lock:
            while self._calls and self._calls[0][0] <= now - 60:
                self._calls.popleft()
            if len(self._calls) >= self.config.per_minute:
                wait = int(self._calls[0][0] + 60 - now) + 1
                raise LimitExceeded("User Profile API requests per minute",
                                    f"at most {self.config.per_minute} per minute", wait)
            self._calls.append((now, project_id))

    def reset(self, project_id: int | None = None) -> None:
        """Forget the requests of ``project_id`` (``None``: all of them)."""
        with self._lock:
            if project_id is None:
                self._calls.clear()
            else:
                self._calls = deque(c for c in self._calls if c[1] != project_id)
