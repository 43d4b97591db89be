"""Concurrency caps per limit class, for sync (threads) and async (tasks) callers alike."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_CAPS: dict[str, int] = {
    "ingest": 16,
    "dashboard": 5,  # Dashboard REST: 5 concurrent requests per project
    "user": 10,  # user search / user activity: 10 concurrent
    "export": 2,
    "profile": 10,
}


@dataclass
class Limits:
    """How many requests of each limit class may run at once (per client)."""

    caps: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPS))
    _sync: dict[str, threading.BoundedSemaphore] = field(default_factory=dict, repr=False)
    _async: dict[tuple[int, str], asyncio.Semaphore] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cap(self, limit_class: str) -> int:
        return int(self.caps.get(limit_class, 4))

    def sync_slot(self, limit_class: str) -> threading.BoundedSemaphore:
        with self._lock:
            sem = self._sync.get(limit_class)
            if sem is None:
                sem = self._sync[limit_class] = threading.BoundedSemaphore(self.cap(limit_class))
            return sem

    def async_slot(self, limit_class: str) -> asyncio.Semaphore:
        loop_id = id(asyncio.get_running_loop())
        key = (loop_id, limit_class)
        with self._lock:
            sem = self._async.get(key)
            if sem is None:
                sem = self._async[key] = asyncio.Semaphore(self.cap(limit_class))
            return sem

    def reset_after_fork(self) -> None:
        """Locks held by threads of the parent process are meaningless in the child."""
        self._lock = threading.Lock()
        self._sync = {}
        self._async = {}
