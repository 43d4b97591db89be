"""Per-user and per-device throttles: EPS averaged over a window, and a rolling daily quota."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ampkit.server.config import ThrottleConfig

HOUR_MS = 3_600_000


@dataclass(slots=True)
class _Counter:
    seconds: deque[tuple[int, int]] = field(default_factory=deque)
    """(second, events) within the EPS window."""
    window_total: int = 0
    hours: dict[int, int] = field(default_factory=dict)
    """hour → events, for the rolling 24 h quota."""


@dataclass
class Verdict:
    throttled_users: dict[str, float] = field(default_factory=dict)
    throttled_devices: dict[str, float] = field(default_factory=dict)
    quota_users: dict[str, int] = field(default_factory=dict)
    quota_devices: dict[str, int] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return bool(
            self.throttled_users or self.throttled_devices or self.quota_users
            or self.quota_devices
        )

    def hits(self, user_id: str | None, device_id: str | None) -> bool:
        return (user_id is not None and (
            user_id in self.throttled_users or user_id in self.quota_users
        )) or (device_id is not None and (
            device_id in self.throttled_devices or device_id in self.quota_devices
        ))


class Throttle:
    """One throttle per (project, API): ``/2/httpapi`` at 30 EPS, ``/batch`` at 1,000 EPS."""

    def __init__(self, config: ThrottleConfig, eps: float) -> None:
        self.config = config
        self.eps = eps
        self._counters: dict[tuple[str, str], _Counter] = {}

    def _eps(self, counter: _Counter, now_s: int, extra: int) -> float:
        horizon = now_s - self.config.window_seconds
        while counter.seconds and counter.seconds[0][0] <= horizon:
            counter.window_total -= counter.seconds.popleft()[1]
        return (counter.window_total + extra) / self.config.window_seconds

    def _daily(self, counter: _Counter, now_ms: int, extra: int) -> int:
        hour = now_ms // HOUR_MS
        for h in [h for h in counter.hours if h <= hour - 24]:
            del counter.hours[h]
        return sum(counter.hours.values()) + extra

    def check(self, ids: list[tuple[str | None, str | None]], now_ms: int) -> Verdict:
        """Would accepting these (user_id, device_id) events break a limit?"""
        verdict = Verdict()
        if not self.config.enabled:
            return verdict
        wanted: dict[tuple[str, str], int] = {}
        for user_id, device_id in ids:
            if user_id is not None:
                wanted[("u", user_id)] = wanted.get(("u", user_id), 0) + 1
            if device_id is not None:
                wanted[("d", device_id)] = wanted.get(("d", device_id), 0) + 1
        now_s = now_ms // 1000
        for key, count in wanted.items():
            counter = self._counters.get(key)
            if counter is None:
                counter = _Counter()
            eps = self._eps(counter, now_s, count)
            daily = self._daily(counter, now_ms, count)
            kind, ident = key
            if daily > self.config.daily_quota:
                (verdict.quota_users if kind == "u" else verdict.quota_devices)[ident] = daily
            elif eps > self.eps:
                (verdict.throttled_users if kind == "u" else verdict.throttled_devices)[
                    ident
                ] = round(eps, 2)
        return verdict

    def record(self, ids: list[tuple[str | None, str | None]], now_ms: int) -> None:
        """Count accepted events."""
        if not self.config.enabled:
            return
        now_s, hour = now_ms // 1000, now_ms // HOUR_MS
        for user_id, device_id in ids:
            for key in (("u", user_id), ("d", device_id)):
                if key[1] is None:
                    continue
                counter = self._counters.setdefault((key[0], key[1]), _Counter())
                if counter.seconds and counter.seconds[-1][0] == now_s:
                    second, n = counter.seconds[-1]
                    counter.seconds[-1] = (second, n + 1)
                else:
                    counter.seconds.append((now_s, 1))
                counter.window_total += 1
                counter.hours[hour] = counter.hours.get(hour, 0) + 1

    def forget(self, ids: list[tuple[str | None, str | None]], now_ms: int) -> None:
        """Take back what :meth:`record` counted for the same events at the same time (a
        group of requests that the store then failed to keep)."""
        if not self.config.enabled:
            return
        now_s, hour = now_ms // 1000, now_ms // HOUR_MS
        for user_id, device_id in ids:
            for key in (("u", user_id), ("d", device_id)):
                counter = None if key[1] is None else self._counters.get((key[0], key[1]))
                if counter is None or not counter.seconds or counter.seconds[-1][0] != now_s:
                    continue
                second, n = counter.seconds[-1]
                if n > 1:
                    counter.seconds[-1] = (second, n - 1)
                else:
                    counter.seconds.pop()
                counter.window_total -= 1
                left = counter.hours.get(hour, 0) - 1
                if left > 0:
                    counter.hours[hour] = left
                else:
                    counter.hours.pop(hour, None)

    def busiest(self, now_ms: int, top: int) -> list[dict[str, Any]]:
        """The users and devices that sent in the last 24 h, busiest first (at most ``top``):
        their EPS over the window, their events in 24 h, and whether their next event would be
        refused (what ``/_ampkit/stats`` shows as the current throttles)."""
        out = []
        for (kind, ident), counter in self._counters.items():
            daily = self._daily(counter, now_ms, 0)
            if not daily:
                continue
            eps = self._eps(counter, now_ms // 1000, 0)
            refused = (self._eps(counter, now_ms // 1000, 1) > self.eps
                       or daily + 1 > self.config.daily_quota)
            out.append({"kind": "user" if kind == "u" else "device", "id": ident,
                        "eps": round(eps, 2), "last_24h": daily, "throttled": refused})
        out.sort(key=lambda row: (row["throttled"], row["eps"], row["last_24h"]), reverse=True)
        return out[:top]

    def reset(self) -> None:
        self._counters.clear()
