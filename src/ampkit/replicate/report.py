"""What a run tells its caller while it works (:class:`Reporter`) and when it is done
(:class:`StreamResult`, :class:`SyncResult`).  The CLI draws progress bars from the reporter
calls; the library default ignores them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from ampkit.errors import AmplitudeError
from ampkit.replicate.plan import StreamPlan


class StreamResult(BaseModel):
    """One stream's outcome."""

    stream: str
    mode: str
    status: Literal["ok", "failed", "up-to-date"] = "ok"
    rows: int = 0
    requests: int = 0
    cost: int | None = None
    seconds: float = 0.0
    windows: int = 0
    splits: int = 0
    cursor: str | None = None
    window_hours: int | None = None
    error: str | None = None
    note: str | None = None
    """What the run wants its reader to know (e.g. hours the export delay kept it from)."""


class SyncResult(BaseModel):
    """A whole run: the target, and each stream's plan (dry run) or result."""

    target: str
    dry_run: bool = False
    plans: list[StreamPlan] = []
    streams: list[StreamResult] = []

    @property
    def ok(self) -> bool:
        return all(s.status != "failed" for s in self.streams)

    def failures(self) -> list[StreamResult]:
        return [s for s in self.streams if s.status == "failed"]


class SyncFailed(AmplitudeError):
    """At least one stream failed (the others ran; their windows are committed)."""

    def __init__(self, result: SyncResult) -> None:
        failed = result.failures()
        first = failed[0]
        more = f" (and {len(failed) - 1} more stream(s))" if len(failed) > 1 else ""
        super().__init__(f"stream {first.stream} failed: {first.error}{more}")
        self.result = result


class Reporter:
    """Hooks a run calls; override what you need (every method is a no-op here)."""

    def stream_started(self, plan: StreamPlan) -> None:
        """A stream begins; ``plan.units`` is the total for its progress bar."""

    def advanced(self, stream: str, units: int, rows: int) -> None:
        """``units`` more hours/days of ``stream`` are committed, with ``rows`` rows."""

    def committed(self, stream: str, window: str, rows: int, cursor: str | None) -> None:
        """One window's transaction committed."""

    def note(self, stream: str, message: str) -> None:
        """Something worth telling (a window split, a size remembered)."""

    def waiting(self, reason: str, seconds: float) -> None:
        """The run waits ``seconds`` on a rate limit (``reason`` names it) before going on."""

    def stream_finished(self, result: StreamResult) -> None:
        """A stream ended (ok, up to date or failed)."""


__all__ = ["Reporter", "StreamResult", "SyncFailed", "SyncResult"]
