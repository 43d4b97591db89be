"""The Amplitude side of a sync: one transport (retries, limits, redaction), the Dashboard
query-cost budget, and counters of requests and cost."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

from ampkit.config import Settings
from ampkit.core.flow import Driver
from ampkit.core.limits import QueryBudgets
from ampkit.core.policy import RetryPolicy
from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.core.transport import SyncTransport, WaitCallback
from ampkit.errors import error_for


class RecordingTransport(SyncTransport):
    """A transport that keeps the last error answer of a streamed download, so an export
    window refused at one hour can quote Amplitude's own message."""

    last_error: RawResponse | None = None

    def download(
        self,
        spec: RequestSpec,
        sink: IO[bytes],
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> RawResponse:
        raw = super().download(spec, sink, on_progress=on_progress)
        self.last_error = raw if raw.status >= 300 else None
        return raw


class Source:
    """Requests to Amplitude for one run."""

    def __init__(
        self,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        on_wait: WaitCallback | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.transport = RecordingTransport(settings, policy=retry, on_wait=on_wait, sleep=sleep)
        self.budgets = QueryBudgets(sleep=sleep, on_wait=on_wait)
        self.queries = Driver(self.transport, budgets=self.budgets)
        self.cost = 0

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (retries included)."""
        return self.transport.requests_sent

    def query(self, spec: RequestSpec) -> RawResponse:
        """Send a Dashboard/catalog request under the cost budget; count its cost."""
        self.cost += spec.cost
        return self.queries.send(spec)

    def last_error_message(self) -> str | None:
        """Amplitude's message for the last refused export, if it gave one."""
        raw = self.transport.last_error
        if raw is None or not raw.content.strip():
            return None
        err = error_for(raw.status, raw.content, secrets=self.settings.secrets())
        return err.message if err.message != f"HTTP {raw.status}" else None

    def close(self) -> None:
        self.transport.close()


__all__ = ["RecordingTransport", "Source"]
