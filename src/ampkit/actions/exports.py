"""The raw-event export as an action: bounded, so an answer never holds a whole project.

Without ``path`` it streams every event of the window, keeps the first ``sample_size`` and
counts the rest; with ``path`` it also writes every event to a ``.jsonl`` file (written to a
temporary file beside it and renamed when complete, so a failed export leaves no half file).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any, Self

import orjson
from pydantic import Field, model_validator

from ampkit.actions.base import ActionInput, ActionOutput, Hour
from ampkit.actions.registry import REGISTRY
from ampkit.client import Amplitude
from ampkit.models.dashboard.common import rule_error

MAX_HOURS = 24 * 31
"""Longest window one action call exports (a month); split longer ones."""


class ExportInput(ActionInput):
    start: Hour = Field(description="First hour, UTC: 'YYYYMMDDTHH' or an ISO datetime.")
    end: Hour = Field(description="Last hour, UTC, included (at most 31 days after start).")
    sample_size: int = Field(default=20, ge=0, le=1000, description="How many events to "
                             "return in the answer (the rest are only counted).")
    path: str | None = Field(default=None, description="Also write every event to this "
                             "local .jsonl file (one JSON object per line).")
    overwrite: bool = Field(default=False, description="Replace the file at path if it "
                            "exists.")

    @model_validator(mode="after")
    def _window(self) -> Self:
        start, end = _utc(self.start), _utc(self.end)
        if end < start:
            raise rule_error("end", "must not be before start")
        if (end - start) > dt.timedelta(hours=MAX_HOURS - 1):
            raise rule_error("end", f"at most {MAX_HOURS} hours (31 days) per call; "
                             "export longer spans in several calls")
        if self.path is not None and not self.path.endswith(".jsonl"):
            raise rule_error("path", "must end with .jsonl")
        return self


class ExportOutput(ActionOutput):
    total: int = Field(default=0, description="Events in the window.")
    sample: list[dict[str, Any]] = Field(default_factory=list, description="The first "
                                         "events, as the Export API gives them.")
    truncated: bool = Field(default=False, description="True when total > len(sample).")
    path: str | None = Field(default=None, description="The file written, if any.")


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@REGISTRY.action("export_events", title="Export raw events", read_only=False,
                 idempotent=True)
def export_events(client: Amplitude, args: ExportInput) -> ExportOutput:
    """Raw events uploaded in a window of hours (UTC), from the Export API: the total count,
    a sample of the first events, and optionally every event written to a local .jsonl file.

    Writes a file only when path is given (never over an existing one unless overwrite).
    Needs the secret key. Amplitude makes events exportable about 2 hours after upload.
    """
    start, end = _utc(args.start), _utc(args.end)
    events = client.export_events(start, end)
    out = ExportOutput()
    if args.path is None:
        for event in events:
            _take(out, event.model_dump(mode="json", by_alias=True, exclude_none=True),
                  args.sample_size)
        return out
    target = Path(args.path).expanduser().resolve()
    if target.exists() and not args.overwrite:
        raise FileExistsError(17, "the file exists (set overwrite to replace it)", str(target))
    if not target.parent.is_dir():
        raise FileNotFoundError(2, "no such folder", str(target.parent))
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            for event in events:
                line = event.model_dump(mode="json", by_alias=True, exclude_none=True)
                file.write(orjson.dumps(line) + b"\n")
                _take(out, line, args.sample_size)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    out.path = str(target)
    return out


def _take(out: ExportOutput, line: dict[str, Any], size: int) -> None:
    out.total += 1
    if len(out.sample) < size:
        out.sample.append(line)
    else:
        out.truncated = True
