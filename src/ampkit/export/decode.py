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


BLOCK_BYTES = 1 << 20
"""Uncompressed bytes read from a gzip entry at a time; lines are split out of each block."""

CHUNK_LINES = 512
"""Lines parsed together by :func:`parse_lines` callers (small enough to stay in cache)."""


def corrupt_entry(name: str, exc: BaseException) -> ExportDecodeError:
    """The error for an entry that cannot be read (zip or gzip level)."""
    return ExportDecodeError(
        f"corrupt entry ({type(exc).__name__}: {exc}) — download the window again", entry=name
    )


def _entry_blocks(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    max_line_bytes: int,
    budget: list[int | None],
) -> Iterator[tuple[int, list[bytes]]]:
    """(number of the first line, physical lines) for one gzip entry, a block at a time.

    Lines come without their newline but otherwise as written: they may be blank or end in CR.
    Numbers count every physical line from 1.  When a line is too long or the archive budget runs
    out, the lines before it are yielded first, then ExportDecodeError names the line.  A line is
    never held beyond ``max_line_bytes``, so memory stays bounded whatever the entry holds.
    """
    name = info.filename

    def too_long(number: int) -> ExportDecodeError:
        return ExportDecodeError(
            f"line longer than max_line_bytes={max_line_bytes}", entry=name, line=number
        )

    try:
        raw = zf.open(info)
    except _READ_ERRORS as exc:
        raise corrupt_entry(name, exc) from exc
    with raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
        number = 0  # lines yielded so far
        parts: list[bytes] = []  # the unfinished last line, in pieces
        parts_len = 0
        while True:
            try:
                block = gz.read(BLOCK_BYTES)
            except _READ_ERRORS as exc:
                raise corrupt_entry(name, exc) from exc
            if not block:
                if not parts:
                    return
                lines = [b"".join(parts)]  # a last line without its newline
                ends = 0
                parts = []
                parts_len = 0
            else:
                lines = block.split(b"\n")
                tail = lines.pop()
                if not lines:  # no newline in the block: the line goes on
                    parts.append(tail)
                    parts_len += len(tail)
                    if parts_len > max_line_bytes:
                        raise too_long(number + 1)
                    continue
                if parts:
                    parts.append(lines[0])
                    lines[0] = b"".join(parts)
                parts = [tail] if tail else []
                parts_len = len(tail)
                ends = len(lines)  # every complete line had a newline
            bad = None
            if max(map(len, lines)) > max_line_bytes:
                bad = next(i for i, line in enumerate(lines) if len(line) > max_line_bytes)
            left = budget[0]
            if left is not None:
                size = sum(map(len, lines)) + ends
                if size > left:  # find the line that runs out of budget
                    remaining = left
                    for i in range(len(lines) if bad is None else bad):
                        remaining -= len(lines[i]) + (i < ends)
                        if remaining < 0:
                            if i:
                                yield number + 1, lines[:i]
                            raise ExportDecodeError(
                                "archive larger than max_archive_bytes once uncompressed",
                                entry=name,
                                line=number + i + 1,
                            )
                budget[0] = left - size
            if bad is not None:
                if bad:
                    yield number + 1, lines[:bad]
                raise too_long(number + bad + 1)
            yield number + 1, lines
            number += len(lines)
            if parts_len > max_line_bytes:
                raise too_long(number + 1)


def _sorted_entries(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return sorted(
        (i for i in zf.infolist() if i.filename.endswith(ENTRY_SUFFIX) and not i.is_dir()),
        key=lambda i: entry_order(i.filename),
    )


def iter_line_blocks(
    archive: Archive,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
) -> Iterator[tuple[str, int, list[bytes]]]:
    """(entry name, number of the first line, physical lines) a decompressed block at a time.

    The fast path under :func:`iter_entry_lines`: the same entries, order, limits and errors, but
    lines come unstripped (possibly blank or ending in CR) and in lists, so callers can work
    on many lines per Python call.  Feed them to :func:`parse_lines`.
    """
    if max_line_bytes < 1:
        raise ValueError("max_line_bytes must be at least 1")
    budget: list[int | None] = [max_archive_bytes]
    with ExitStack() as stack:
        zf = _open_zip(archive, stack)
        if zf is None:
            return
        for info in _sorted_entries(zf):
            for first, lines in _entry_blocks(zf, info, max_line_bytes, budget):
                yield info.filename, first, lines


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
    for entry, first, lines in iter_line_blocks(
        archive, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes
    ):
        for number, line in enumerate(lines, first):
            stripped = line.strip()
            if stripped:
                yield entry, number, stripped


_ENTRY_NAME = re.compile(r"_(\d{4}-\d{2}-\d{2})_(\d{1,2})#(\d+)\.json\.gz$")


def entry_order(name: str) -> tuple[str, int, int, str]:
    """Sort key of a zip entry: (date, hour, partition) — hours are not zero-padded, so a
    plain name sort would put ``_10#0`` before ``_9#0``."""
    match = _ENTRY_NAME.search(name)
    if match is None:
        return ("", -1, -1, name)
    return (match.group(1), int(match.group(2)), int(match.group(3)), name)


def iter_lines(archive: Archive, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
               max_archive_bytes: int | None = None) -> Iterator[bytes]:
    """Every non-blank JSON line of the archive, without its line end."""
    lines = iter_entry_lines(archive, max_line_bytes=max_line_bytes,
                             max_archive_bytes=max_archive_bytes)
    return (line for _, _, line in lines)


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


def parse_lines(
    lines: list[bytes], *, entry: str | None = None, first: int = 1
) -> list[dict[str, Any]]:
    """Physical lines (numbered from ``first``) as dicts, blank lines skipped.

    The same result as :func:`parse_line` on every stripped non-blank line, and the same error
    for the first line that is not a JSON object; the common case (every line an object) costs one
    Python call per line.
    """
    try:
        records = list(map(orjson.loads, lines))  # JSON whitespace (CR, spaces) is fine as is
    except orjson.JSONDecodeError:
        pass
    else:
        if all(map(dict.__instancecheck__, records)):
            return records
    out = []
    for number, line in enumerate(lines, first):
        stripped = line.strip()
        if stripped:
            out.append(parse_line(stripped, entry=entry, number=number))
    return out


def iter_records(
    archive: Archive,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Every line of the archive as a plain dict (keys exactly as Amplitude wrote them)."""
    for entry, first, lines in iter_line_blocks(
        archive, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes
    ):
        for start in range(0, len(lines), CHUNK_LINES):
            yield from parse_lines(
                lines[start : start + CHUNK_LINES], entry=entry, first=first + start
            )


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
    "iter_line_blocks",
    "iter_lines",
    "iter_records",
    "parse_line",
    "parse_lines",
    "to_event",
]
