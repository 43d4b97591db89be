"""Concurrency caps per limit class, for sync (threads) and async (tasks) callers alike, and the
rolling-window query-cost budgets that keep a client under Amplitude's Dashboard limits."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field

from ampkit.errors import RateLimited

log = logging.getLogger("ampkit.limits")

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


# --- query-cost budget (Dashboard REST §10.2) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class BudgetWindow:
    """At most ``limit`` units within any ``seconds``-long rolling window; ``name`` says which
    Amplitude limit this mirrors (it is what a :class:`~ampkit.errors.RateLimited` reports)."""

    limit: float
    seconds: float
    name: str


DASHBOARD_COST_WINDOWS = (
    BudgetWindow(1_000, 300, "query cost per 5 minutes (1,000)"),
    BudgetWindow(108_000, 3_600, "query cost per hour (108,000)"),
)
USER_QUERY_WINDOWS = (
    BudgetWindow(360, 3_600, "user search/activity queries per hour (360)"),
)
TAXONOMY_COST_WINDOWS = (BudgetWindow(7_200, 3_600, "taxonomy cost per hour (7,200)"),)


@dataclass(eq=False, repr=False)
class Budget:
    """A rolling-window ledger that makes callers wait instead of provoking 429s.

    ``acquire(cost)`` returns at once when ``cost`` fits into every window, otherwise it sleeps
    (``sleep``/``asleep``, injectable) until enough earlier charges have aged out.  A single
    charge larger than a window's whole limit is admitted once that window is empty (Amplitude
    itself is the judge of such a query).  If a wait would pass ``max_wait`` seconds,
    :class:`~ampkit.errors.RateLimited` is raised instead, naming the window and carrying the
    wait as ``retry_after``.  ``on_wait(reason, seconds)`` hears of each wait before it starts.
    Thread-safe; the clock is injectable so tests never sleep.
    """

    windows: tuple[BudgetWindow, ...]
    _: KW_ONLY
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    asleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    max_wait: float | None = None
    on_wait: Callable[[str, float], None] | None = None
    _ledger: deque[tuple[float, float]] = field(default_factory=deque, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __repr__(self) -> str:
        names = ", ".join(w.name for w in self.windows)
        return f"Budget({names})"

    def spent(self, window: BudgetWindow, now: float | None = None) -> float:
        """Units charged within ``window`` as of ``now``."""
        now = self.clock() if now is None else now
        return sum(c for t, c in self._ledger if now - t < window.seconds)

    def delay(self, cost: float, now: float | None = None) -> tuple[float, BudgetWindow | None]:
        """Seconds until ``cost`` fits (0 when it fits now) and the window that is binding."""
        now = self.clock() if now is None else now
        worst: tuple[float, BudgetWindow | None] = (0.0, None)
        for window in self.windows:
            live = [(t, c) for t, c in self._ledger if now - t < window.seconds]
            used = sum(c for _, c in live)
            if not live or used + cost <= window.limit:
                continue
            wait = live[-1][0] + window.seconds - now  # over-sized charge: wait for empty
            if cost <= window.limit:
                for t, c in live:
                    used -= c
                    if used + cost <= window.limit:
                        wait = t + window.seconds - now
                        break
            if wait > worst[0]:
                worst = (wait, window)
        return worst

    def _take(self, cost: float) -> tuple[float, BudgetWindow | None]:
        with self._lock:
            now = self.clock()
            horizon = max((w.seconds for w in self.windows), default=0.0)
            while self._ledger and now - self._ledger[0][0] >= horizon:
                self._ledger.popleft()
            wait, window = self.delay(cost, now)
            if wait <= 0:
                self._ledger.append((now, cost))
            return wait, window

    def _waits(self, cost: float) -> Iterator[float]:
        """The waits before ``cost`` fits (each checked against ``max_wait`` and announced);
        ``cost`` is charged once the iterator is used up.  Both ``acquire``s sleep through it."""
        waited = 0.0
        while True:
            wait, window = self._take(cost)
            if wait <= 0:
                return
            name = window.name if window else "query budget"
            if self.max_wait is not None and waited + wait > self.max_wait:
                raise RateLimited(
                    f"client-side budget exhausted: {name}; next slot in {wait:.0f} s "
                    f"(over max_wait={self.max_wait:g} s) — wait, or lower the query's cost",
                    limit=name,
                    retry_after=wait,
                )
            if self.on_wait is not None:
                self.on_wait(f"{name} (ampkit's own budget, kept below Amplitude's limit)", wait)
            log.info("budget %s: waiting %.1fs for cost %g", window and window.name, wait, cost)
            yield wait
            waited += wait

    def acquire(self, cost: float) -> float:
        """Charge ``cost``, sleeping first if needed; returns the seconds waited."""
        waited = 0.0
        for wait in self._waits(cost):
            self.sleep(wait)
            waited += wait
        return waited

    async def aacquire(self, cost: float) -> float:
        """The async twin of :meth:`acquire`."""
        waited = 0.0
        for wait in self._waits(cost):
            await self.asleep(wait)
            waited += wait
        return waited

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()


class QueryBudgets:
    """The per-client budgets, keyed by limit class: Dashboard query cost (1,000 per 5 min and
    108,000 per hour), user search/activity queries (360 per hour) and taxonomy cost (7,200 per
    hour).  Limit classes without a budget are free."""

    def __init__(
        self,
        budgets: Mapping[str, Budget] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_wait: float | None = None,
        on_wait: Callable[[str, float], None] | None = None,
    ) -> None:
        if budgets is None:

            def make(windows: tuple[BudgetWindow, ...]) -> Budget:
                return Budget(windows, clock=clock, sleep=sleep, asleep=asleep, max_wait=max_wait,
                              on_wait=on_wait)

            budgets = {
                "dashboard": make(DASHBOARD_COST_WINDOWS),
                "user": make(USER_QUERY_WINDOWS),
                "taxonomy": make(TAXONOMY_COST_WINDOWS),
            }
        self.budgets: dict[str, Budget] = dict(budgets)

    def __repr__(self) -> str:
        return f"QueryBudgets({sorted(self.budgets)})"

    def acquire(self, limit_class: str, cost: float) -> float:
        budget = self.budgets.get(limit_class)
        return budget.acquire(cost) if budget is not None else 0.0

    async def aacquire(self, limit_class: str, cost: float) -> float:
        budget = self.budgets.get(limit_class)
        return await budget.aacquire(cost) if budget is not None else 0.0
