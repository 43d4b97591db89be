"""``GET /api/2/export`` as data: hour windows, the request spec and the splitting flow (no I/O).

Reference §9: ``start``/``end`` are ``YYYYMMDDTHH`` hours in UTC, ``end`` inclusive, at most 365
days per request.  404 means the window holds no data (empty, not an error); 400 (the export
would pass 4 GB) and 504 (too much data to answer in time) mean "ask for less": the flow halves
the window, down to single hours.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import orjson

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.errors import AmplitudeError, APIStatusError, error_for

EXPORT_PATH = "/api/2/export"
HOUR_FORMAT = "%Y%m%dT%H"
HOUR_PATTERN = re.compile(r"^\d{8}T\d{2}$")
MAX_WINDOW_HOURS = 365 * 24
EXPORT_TIMEOUT = 300.0
"""Seconds per network operation: Amplitude may think for minutes before the first byte."""
SPLIT_STATUSES = frozenset({400, 504})
FLOW_STATUSES = frozenset({400, 404, 504})
_HOUR = timedelta(hours=1)

HourLike = datetime | str
Outcome = Literal["archive", "empty", "split", "retry"]


class ExportWindowError(AmplitudeError, ValueError):
    """``start``/``end`` are not valid export hours (nothing was sent)."""


class ExportWindowTooLarge(APIStatusError):
    """Amplitude refused a window as too large (400: over 4 GB) or too slow (504), and it can't
    be split further (a single hour, or ``split=False``)."""

    def __init__(self, window: ExportWindow, status: int, *, split: bool = True,
                 said: bytes = b"") -> None:
        what = "over Amplitude's 4 GB export cap" if status == 400 else "timed out (HTTP 504)"
        text = " ".join(said[:300].decode("utf-8", "replace").split())
        if text:  # a 400 may name another rule (a bad hour): the server's own words
            what += f" (HTTP {status}: {text})"
        if window.hours == 1:
            label = f"hour {format_hour(window.start)}"
            hint = "use Amplitude's S3 / data-warehouse export for that hour, or retry later"
        else:
            label = f"window {window}"
            hint = "pass split=True to halve it" if not split else "retry later"
        super().__init__(
            f"export of {label} {what} — {hint}", status=status, endpoint=EXPORT_PATH
        )
        self.window = window
        self.hour = format_hour(window.start) if window.hours == 1 else None


def _utc_hour(moment: datetime) -> datetime:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def parse_hour(value: HourLike, *, name: str = "hour") -> datetime:
    """An export hour as an aware UTC datetime on the hour.

    A ``datetime`` is taken as UTC when naive and truncated to its hour; a string must match
    ``YYYYMMDDTHH`` and be a real date and hour.
    """
    if isinstance(value, datetime):
        return _utc_hour(value)
    if not isinstance(value, str) or not HOUR_PATTERN.match(value):
        raise ExportWindowError(
            f"{name} must be a datetime or a 'YYYYMMDDTHH' string, got {value!r}"
        )
    try:
        return datetime.strptime(value, HOUR_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ExportWindowError(f"{name} {value!r} is not a real date and hour") from None


def format_hour(value: HourLike) -> str:
    """``YYYYMMDDTHH`` (UTC) for a datetime or an already formatted hour."""
    return _text(parse_hour(value))


def _text(hour: datetime) -> str:
    """``YYYYMMDDTHH``, the year in four digits (``strftime('%Y')`` writes year 1 as ``1``)."""
    return f"{hour.year:04d}{hour.month:02d}{hour.day:02d}T{hour.hour:02d}"


@dataclass(frozen=True, slots=True, order=True)
class ExportWindow:
    """The hours ``start``..``end`` (both included, UTC, on the hour)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ExportWindowError(
                f"end {_text(self.end)} is before start {_text(self.start)}"
            )

    @classmethod
    def of(cls, start: HourLike, end: HourLike) -> ExportWindow:
        """A window from two hours (datetimes or ``YYYYMMDDTHH`` strings)."""
        return cls(parse_hour(start, name="start"), parse_hour(end, name="end"))

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / _HOUR) + 1

    def params(self) -> tuple[tuple[str, str], ...]:
        return (
            ("start", _text(self.start)),
            ("end", _text(self.end)),
        )

    def halves(self) -> tuple[ExportWindow, ExportWindow]:
        """The first ``hours // 2`` hours and the rest; only for windows of two hours or more."""
        if self.hours < 2:
            raise ExportWindowError(f"a one-hour window ({self}) cannot be split")
        middle = self.start + _HOUR * (self.hours // 2 - 1)
        return ExportWindow(self.start, middle), ExportWindow(middle + _HOUR, self.end)

    def __str__(self) -> str:
        return f"{_text(self.start)}..{_text(self.end)}"


def plan_windows(
    start: HourLike, end: HourLike, *, max_hours: int = MAX_WINDOW_HOURS
) -> list[ExportWindow]:
    """``start``..``end`` cut into consecutive windows of at most ``max_hours`` (365 days)."""
    if max_hours < 1:
        raise ValueError("max_hours must be at least 1")
    whole = ExportWindow.of(start, end)
    windows: list[ExportWindow] = []
    first = whole.start
    while True:  # counted in hours: first + 365 days may pass year 9999
        left = int((whole.end - first) / _HOUR) + 1
        last = first + _HOUR * (min(max_hours, left) - 1)
        windows.append(ExportWindow(first, last))
        if last == whole.end:
            return windows
        first = last + _HOUR


def export_spec(window: ExportWindow) -> RequestSpec:
    """``GET /api/2/export?start=…&end=…`` with Basic auth, for a streamed download."""
    return RequestSpec("GET", EXPORT_PATH, "analytics", params=window.params(), auth="basic",
                       limit_class="export", handled_statuses=FLOW_STATUSES,
                       timeout=EXPORT_TIMEOUT, stream=True)


def window_of(spec: RequestSpec) -> ExportWindow:
    """The window an export spec asks for (read back from its parameters)."""
    params = dict(spec.params)
    return ExportWindow.of(params.get("start", ""), params.get("end", ""))


ONE_HOUR_504_ATTEMPTS = 3
"""A one-hour window answered 504 is asked again this many times in all (a 504 can be a
passing timeout; a 400 at one hour cannot get better)."""


def _names_a_parameter(body: bytes) -> bool:
    """Whether a 400's body is the Dashboard error envelope naming a parameter
    (``{"error": {"metadata": {"parameter": …}}}``) rather than the size refusal, whose body
    Amplitude does not document."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    error = data.get("error") if isinstance(data, dict) else None
    meta = error.get("metadata") if isinstance(error, dict) else None
    return isinstance(meta, dict) and isinstance(meta.get("parameter"), str)


def window_outcome(
    window: ExportWindow, raw: RawResponse, *, split: bool = True, attempt: int = 1
) -> Outcome:
    """What an answer means for a window: an archive, empty, split or retry; raises when
    stuck."""
    if raw.status < 300:
        return "archive"
    if raw.status == 404:
        return "empty"
    if raw.status == 400 and _names_a_parameter(raw.content):
        # a refused parameter (an hour out of range), not a size: halving cannot help
        raise error_for(400, raw.content, endpoint=EXPORT_PATH)
    if raw.status in SPLIT_STATUSES:
        if split and window.hours > 1:
            return "split"
        if raw.status == 504 and attempt < ONE_HOUR_504_ATTEMPTS:
            return "retry"
        raise ExportWindowTooLarge(window, raw.status, split=split, said=raw.content)
    raise APIStatusError(  # the transport raises every other status before a flow sees it
        f"unexpected HTTP {raw.status} for export window {window}",
        status=raw.status,
        endpoint=EXPORT_PATH,
    )


@dataclass
class ExportSummary:
    """What an export flow did: the windows that held archives, the empty ones, the splits."""

    archives: list[ExportWindow] = field(default_factory=list)
    empty: list[ExportWindow] = field(default_factory=list)
    splits: int = 0
    requests: int = 0


def export_flow(
    windows: Sequence[ExportWindow] | ExportWindow, *, split: bool = True
) -> Generator[RequestSpec, RawResponse, ExportSummary]:
    """Ask for each window in time order; halve a window answered 400 or 504.

    The driver keeps the body of every 2xx answer (one archive per window in
    ``summary.archives``); 404 windows are empty.  A one-hour window still refused (or any
    refused window with ``split=False``) raises :class:`ExportWindowTooLarge`.
    """
    summary = ExportSummary()
    pending = [windows] if isinstance(windows, ExportWindow) else list(windows)
    pending.reverse()
    attempts: dict[ExportWindow, int] = {}
    while pending:
        window = pending.pop()
        raw: RawResponse = yield export_spec(window)
        summary.requests += 1
        attempts[window] = attempts.get(window, 0) + 1
        outcome = window_outcome(window, raw, split=split, attempt=attempts[window])
        if outcome == "archive":
            summary.archives.append(window)
        elif outcome == "empty":
            summary.empty.append(window)
        elif outcome == "retry":
            pending.append(window)
        else:
            first, second = window.halves()
            pending.extend((second, first))
            summary.splits += 1
    return summary


__all__ = [
    "EXPORT_PATH",
    "MAX_WINDOW_HOURS",
    "ExportSummary",
    "ExportWindow",
    "ExportWindowError",
    "ExportWindowTooLarge",
    "HourLike",
    "export_flow",
    "export_spec",
    "format_hour",
    "parse_hour",
    "plan_windows",
    "window_of",
    "window_outcome",
]
