"""Streaming decoders for Export API archives (reference §9.2): zip → gzip → lines → records.

An archive is a ZIP whose ``*.json.gz`` entries each hold gzip-compressed JSON lines.  Entries
are read in (date, hour, partition) order, a line at a time: neither an entry nor the archive
is ever held in memory whole, so memory stays flat however large the archive is.  Anything
unreadable raises :class:`~ampkit.errors.ExportDecodeError` naming the entry (and the line,
when known).
"""

from __future__ import annotations

import gzip
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from typing import IO, Any

import orjson
from pydantic import ValidationError

from ampkit.errors import ExportDecodeError
from ampkit.models import ExportEvent

Archive = str | os.PathLike[str] | IO[bytes]
"""A path to a ZIP file, or a seekable binary file object holding one."""

DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024
ENTRY_SUFFIX = ".json.gz"
DRIFT_KEY = "_drift"
"""Extra key of an :class:`ExportEvent` holding top-level values that did not fit their field."""

_READ_ERRORS = (
    zipfile.BadZipFile,
    gzip.BadGzipFile,
    zlib.error,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
)


def _open_zip(archive: Archive, stack: ExitStack) -> zipfile.ZipFile | None:
    """The archive as an open ZipFile, or ``None`` for an empty (zero-byte) body."""
    if isinstance(archive, str | os.PathLike):
        if os.path.getsize(archive) == 0:
            return None
    else:
        if not archive.seekable():
            raise ExportDecodeError("the archive file object must be seekable")
        start = archive.tell()
        end = archive.seek(0, os.SEEK_END)
        archive.seek(start)
        if end == start:
            return None
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ExportDecodeError(
            f"not a readable ZIP archive ({exc}) — download the window again"
        ) from exc
    return stack.enter_context(zf)


def _entry_lines(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    max_line_bytes: int,
    budget: list[int | None],
) -> Iterator[tuple[int, bytes]]:
    """(line number, stripped line) for every non-blank line of one gzip entry."""
    name = info.filename

    def broken(exc: BaseException) -> ExportDecodeError:
        return ExportDecodeError(
            f"corrupt entry ({type(exc).__name__}: {exc}) — download the window again",
            entry=name,
        )

    try:
        raw = zf.open(info)
    except _READ_ERRORS as exc:
        raise broken(exc) from exc
    limit = max_line_bytes + 1  # room for the newline
    with raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
        number = 0
        while True:
            try:
                line = gz.readline(limit)
            except _READ_ERRORS as exc:
                raise broken(exc) from exc
            if not line:
                return
            number += 1
            if len(line) == limit and not line.endswith(b"\n"):
                raise ExportDecodeError(
                    f"line longer than max_line_bytes={max_line_bytes}", entry=name, line=number
                )
            left = budget[0]
            if left is not None:
                left -= len(line)
                if left < 0:
                    raise ExportDecodeError(
                        "archive larger than max_archive_bytes once uncompressed",
                        entry=name,
                        line=number,
                    )
                budget[0] = left
            stripped = line.strip()
            if stripped:
                yield number, stripped


def iter_entry_lines(
    archive: Archive,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
) -> Iterator[tuple[str, int, bytes]]:
    """(entry name, line number, line) for every non-blank line, entries in name order.

    Entries not ending ``.json.gz`` are skipped.  Line numbers count from 1 and include blank
    lines.  ``max_archive_bytes`` caps the uncompressed size of the whole archive (``None``: no
    cap).  A zero-byte archive is empty.
    """
    if max_line_bytes < 1:
        raise ValueError("max_line_bytes must be at least 1")
    budget: list[int | None] = [max_archive_bytes]
    with ExitStack() as stack:
        zf = _open_zip(archive, stack)
        if zf is None:
            return
        infos = sorted(
            (i for i in zf.infolist() if i.filename.endswith(ENTRY_SUFFIX) and not i.is_dir()),
            key=lambda i: entry_order(i.filename),
        )
        for info in infos:
            for number, line in _entry_lines(zf, info, max_line_bytes, budget):
                yield info.filename, number, line


_ENTRY_NAME = re.compile(r"_(\d{4}-\d{2}-\d{2})_(\d{1,2})#(\d+)\.json\.gz$")


def entry_order(name: str) -> tuple[str, int, int, str]:
    """Sort key of a zip entry: (date, hour, partition) — hours are not zero-padded, so a
    plain name sort would put ``_10#0`` before ``_9#0``."""
    match = _ENTRY_NAME.search(name)
    if match is None:
        return ("", -1, -1, name)
    return (match.group(1), int(match.group(2)), int(match.group(3)), name)


def iter_lines(
    archive: Archive,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
) -> Iterator[bytes]:
    """Every non-blank JSON line of the archive, without its line end."""
    for _, _, line in iter_entry_lines(
        archive, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes
    ):
        yield line


def parse_line(
    line: bytes, *, entry: str | None = None, number: int | None = None
) -> dict[str, Any]:
    """One export line as a dict; anything but a JSON object raises ExportDecodeError."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ExportDecodeError(f"not valid JSON ({exc})", entry=entry, line=number) from exc
    if not isinstance(value, dict):
        raise ExportDecodeError(
            f"expected a JSON object, got {type(value).__name__}", entry=entry, line=number
        )
    return value


def iter_records(
    archive: Archive,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Every line of the archive as a plain dict (keys exactly as Amplitude wrote them)."""
    for entry, number, line in iter_entry_lines(
        archive, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes
    ):
        yield parse_line(line, entry=entry, number=number)


def to_event(
    record: dict[str, Any], *, entry: str | None = None, number: int | None = None
) -> ExportEvent:
    """A record as an :class:`ExportEvent`; drift never fails.

    A top-level value that does not fit its field (say ``data`` arriving as a string) leaves the
    field ``None`` and is kept, unchanged, under the extra key ``_drift``.
    """
    try:
        return ExportEvent.model_validate(record)
    except ValidationError as exc:
        keys = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    rest = {k: v for k, v in record.items() if k not in keys}
    rest[DRIFT_KEY] = {k: record[k] for k in sorted(keys) if k in record}
    try:
        return ExportEvent.model_validate(rest)
    except ValidationError as exc:  # pragma: no cover - every remaining value fits
        raise ExportDecodeError(
            f"event does not fit ExportEvent ({exc.error_count()} errors)", entry=entry, line=number
        ) from exc


def iter_events(
    archive: Archive,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
) -> Iterator[ExportEvent]:
    """Every line of the archive as an :class:`ExportEvent` (unknown keys kept as extras)."""
    for entry, number, line in iter_entry_lines(
        archive, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes
    ):
        yield to_event(parse_line(line, entry=entry, number=number), entry=entry, number=number)


__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "DRIFT_KEY",
    "Archive",
    "iter_entry_lines",
    "iter_events",
    "iter_lines",
    "iter_records",
    "parse_line",
    "to_event",
]
