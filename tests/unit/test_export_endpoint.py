"""Export request side: hours, windows, the splitting flow (by hand), and streamed downloads
over a real loopback HTTP server."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ampkit.config import Settings
from ampkit.core.flow import Download, Emit, Flow
from ampkit.core.policy import RetryPolicy
from ampkit.core.spec import RawResponse
from ampkit.core.transport import ERROR_BODY_CAP, AsyncTransport, SyncTransport
from ampkit.errors import AuthError, ServerError
from ampkit.export import (
    ExportProgress,
    ExportSummary,
    ExportWindow,
    ExportWindowError,
    ExportWindowTooLarge,
    WindowDone,
    aexport_archives,
    aexport_events,
    export_archives,
    export_events,
    export_flow,
    export_spec,
    format_hour,
    iter_events,
    parse_hour,
    plan_windows,
)
from ampkit.export.download import archives_flow
from ampkit.export.endpoint import window_of

ARCHIVE_FILE = "synthesized_export_archive__project636686__20250701T17.zip"
API_KEY = "test-api-key-0001"
SECRET_KEY = "test-secret-key-0002"


def raw(status: int, content: bytes = b"") -> RawResponse:
    return RawResponse(status, {}, content)


def hour(text: str) -> datetime:
    return parse_hour(text)


# --- hours and windows -------------------------------------------------------------------


def test_hours_from_datetimes_and_strings() -> None:
    assert format_hour(datetime(2025, 7, 1, 17, 59, 12)) == "20250701T17"  # naive = UTC
    paris = timezone(timedelta(hours=2))
    assert format_hour(datetime(2025, 7, 1, 19, 30, tzinfo=paris)) == "20250701T17"
    assert format_hour("20250701T05") == "20250701T05"
    assert parse_hour("20250701T05") == datetime(2025, 7, 1, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad",
    ["2025070105", "20250701T5", "2025-07-01T05", "20251301T00", "20250701T24", " 20250701T05"],
)
def test_bad_hour_strings_are_refused(bad: str) -> None:
    with pytest.raises(ExportWindowError, match="start"):
        ExportWindow.of(bad, "20250701T05")


def test_end_before_start_is_refused() -> None:
    with pytest.raises(ExportWindowError, match="before start"):
        ExportWindow.of("20250701T05", "20250701T04")


def test_spec_params_and_routing() -> None:
    spec = export_spec(ExportWindow.of("20250701T00", "20250701T23"))
    assert spec.method == "GET"
    assert spec.path == "/api/2/export"
    assert spec.family == "analytics"
    assert spec.auth == "basic"
    assert spec.limit_class == "export"
    assert spec.handled_statuses == frozenset({400, 404, 504})
    assert spec.params == (("start", "20250701T00"), ("end", "20250701T23"))
    assert window_of(spec) == ExportWindow.of("20250701T00", "20250701T23")


def test_window_hours_and_halves() -> None:
    day = ExportWindow.of("20250701T00", "20250701T23")
    assert day.hours == 24
    first, second = ExportWindow.of("20250701T00", "20250701T04").halves()
    assert (str(first), str(second)) == ("20250701T00..20250701T01", "20250701T02..20250701T04")
    with pytest.raises(ExportWindowError):
        ExportWindow.of("20250701T00", "20250701T00").halves()


def test_spans_over_365_days_are_split_up_front() -> None:
    start = datetime(2024, 1, 1)
    exactly = plan_windows(start, start + timedelta(hours=365 * 24 - 1))
    assert len(exactly) == 1
    assert exactly[0].hours == 8760
    windows = plan_windows(start, datetime(2025, 12, 31, 23))
    assert [w.hours for w in windows] == [8760, 8760, 24]  # 2024 is a leap year: 731 days
    assert all(a.end + timedelta(hours=1) == b.start for a, b in itertools.pairwise(windows))
    assert windows[-1].end == datetime(2025, 12, 31, 23, tzinfo=UTC)


# --- the flow, driven by hand ------------------------------------------------------------


def drive(
    flow: Flow[ExportSummary], answer: Callable[[ExportWindow], RawResponse]
) -> tuple[list[str], ExportSummary]:
    """Run a flow with fabricated answers; returns the windows asked for and the summary."""
    asked: list[str] = []
    spec = next(flow)
    try:
        while True:
            window = window_of(spec)
            asked.append(str(window))
            spec = flow.send(answer(window))
    except StopIteration as stop:
        summary: ExportSummary = stop.value
        return asked, summary


def test_404_is_an_empty_window() -> None:
    asked, summary = drive(export_flow(ExportWindow.of("20250701T00", "20250701T03")),
                           lambda w: raw(404, b"no data"))
    assert asked == ["20250701T00..20250701T03"]
    assert summary.empty == [ExportWindow.of("20250701T00", "20250701T03")]
    assert summary.archives == []


def test_400_on_four_hours_splits_into_halves_then_hours() -> None:
    def answer(w: ExportWindow) -> RawResponse:
        return raw(400) if w.hours > 1 else raw(200)

    asked, summary = drive(export_flow(ExportWindow.of("20250701T00", "20250701T03")), answer)
    assert asked == [
        "20250701T00..20250701T03",
        "20250701T00..20250701T01",
        "20250701T00..20250701T00",
        "20250701T01..20250701T01",
        "20250701T02..20250701T03",
        "20250701T02..20250701T02",
        "20250701T03..20250701T03",
    ]
    assert [str(w) for w in summary.archives] == asked[2:4] + asked[5:]
    assert summary.splits == 3
    assert summary.requests == 7


def test_504_splits_too_and_halves_may_be_empty() -> None:
    def answer(w: ExportWindow) -> RawResponse:
        if w.hours == 4:
            return raw(504)
        return raw(200) if w.start.hour == 0 else raw(404)

    asked, summary = drive(export_flow(ExportWindow.of("20250701T00", "20250701T03")), answer)
    assert asked == ["20250701T00..20250701T03", "20250701T00..20250701T01",
                     "20250701T02..20250701T03"]
    assert [str(w) for w in summary.archives] == ["20250701T00..20250701T01"]
    assert [str(w) for w in summary.empty] == ["20250701T02..20250701T03"]


@pytest.mark.parametrize("status", [400, 504])
def test_one_hour_still_too_large_names_the_hour(status: int) -> None:
    flow = export_flow(ExportWindow.of("20250701T17", "20250701T18"))
    with pytest.raises(ExportWindowTooLarge) as info:
        drive(flow, lambda w: raw(status) if w.start.hour == 17 else raw(200))
    assert info.value.hour == "20250701T17"
    assert info.value.status == status
    assert "hour 20250701T17" in str(info.value)
    assert "S3" in str(info.value)


def test_split_false_raises_on_the_whole_window() -> None:
    flow = export_flow(ExportWindow.of("20250701T00", "20250701T03"), split=False)
    with pytest.raises(ExportWindowTooLarge, match="split=True") as info:
        drive(flow, lambda w: raw(400))
    assert info.value.hour is None
    assert str(info.value.window) == "20250701T00..20250701T03"


def test_flow_over_a_long_span_asks_each_planned_window_in_order() -> None:
    windows = plan_windows(datetime(2024, 1, 1), datetime(2025, 6, 1))
    asked, summary = drive(export_flow(windows), lambda w: raw(200))
    assert asked == [str(w) for w in windows]
    assert len(asked) == 2
    assert summary.archives == windows


# --- a real HTTP server on loopback ----------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes = b""
    truncate: bool = False  # announce the full length, send half, close
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    authorization: str | None


class ExportServer:
    """A scripted HTTP server: ``script`` maps a request to a Reply (or pops from ``queue``)."""

    def __init__(self) -> None:
        self.queue: list[Reply] = []
        self.script: Callable[[Seen], Reply] | None = None
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                seen = Seen(url.path, parse_qs(url.query), self.headers.get("Authorization"))
                with owner.lock:
                    owner.seen.append(seen)
                    script = owner.script
                    assert owner.queue or script is not None, "no reply scripted"
                    reply = owner.queue.pop(0) if owner.queue else script(seen)
                self.send_response(reply.status)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                body = reply.body[: len(reply.body) // 2] if reply.truncate else reply.body
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"


@pytest.fixture
def server() -> Iterator[ExportServer]:
    srv = ExportServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join()


@pytest.fixture
def archive_bytes(data_dir: str) -> bytes:
    return (Path(data_dir) / "fixtures" / "export" / ARCHIVE_FILE).read_bytes()


def settings_for(server: ExportServer) -> Settings:
    return Settings(api_key=API_KEY, secret_key=SECRET_KEY, analytics_url=server.url)


@pytest.fixture
def transport(server: ExportServer) -> Iterator[SyncTransport]:
    t = SyncTransport(settings_for(server), policy=RetryPolicy.no_wait(4))
    try:
        yield t
    finally:
        t.close()


def hour17(seen: Seen, archive: bytes) -> Reply:
    """One hour holds data (2025-07-01 17 UTC); wider windows are 'too large'; others empty."""
    start, end = seen.query["start"][0], seen.query["end"][0]
    if start != end:
        return Reply(400, b"Request exceeds the 4GB limit")
    return Reply(200, archive) if start == "20250701T17" else Reply(404, b"")


def test_download_streams_into_the_sink_and_truncates_on_retry(
    server: ExportServer, transport: SyncTransport, archive_bytes: bytes
) -> None:
    server.queue = [Reply(503, b"busy"), Reply(200, archive_bytes)]
    sink = io.BytesIO(b"stale bytes from an earlier use of this sink" * 1000)
    progress: list[int] = []
    spec = export_spec(ExportWindow.of("20250701T17", "20250701T17"))
    resp = transport.download(spec, sink, on_progress=progress.append)
    assert resp.status == 200
    assert resp.content == b""
    assert sink.tell() == 0
    assert sink.getvalue() == archive_bytes
    assert progress[-1] == len(archive_bytes)
    assert len(server.seen) == 2
    assert server.seen[0].query == {"start": ["20250701T17"], "end": ["20250701T17"]}
    token = base64.b64encode(f"{API_KEY}:{SECRET_KEY}".encode()).decode()
    assert server.seen[0].authorization == f"Basic {token}"
    assert len(list(iter_events(sink))) == 13


def test_a_body_cut_short_is_retried_from_an_empty_sink(
    server: ExportServer, transport: SyncTransport, archive_bytes: bytes
) -> None:
    server.queue = [Reply(200, archive_bytes, truncate=True), Reply(200, archive_bytes)]
    sink = io.BytesIO()
    spec = export_spec(ExportWindow.of("20250701T17", "20250701T17"))
    assert transport.download(spec, sink).status == 200
    assert sink.getvalue() == archive_bytes
    assert len(server.seen) == 2


def test_download_error_statuses(server: ExportServer, transport: SyncTransport) -> None:
    spec = export_spec(ExportWindow.of("20250701T17", "20250701T17"))
    server.queue = [Reply(404, b"not found")]
    sink = io.BytesIO()
    resp = transport.download(spec, sink)
    assert (resp.status, resp.content, sink.getvalue()) == (404, b"not found", b"")
    server.queue = [Reply(403, b'{"error": "Invalid API key: ' + API_KEY.encode() + b'"}')]
    with pytest.raises(AuthError) as info:
        transport.download(spec, io.BytesIO())
    assert API_KEY not in str(info.value)
    assert SECRET_KEY not in str(info.value)
    server.queue = [Reply(503, b"down")] * 4
    with pytest.raises(ServerError):
        transport.download(spec, io.BytesIO())


def test_send_still_reads_whole_bodies(server: ExportServer, transport: SyncTransport) -> None:
    server.queue = [Reply(502, b"bad gateway"), Reply(200, b'{"ok": true}')]
    resp = transport.send(export_spec(ExportWindow.of("20250701T17", "20250701T17")))
    assert resp.status == 200
    assert resp.json() == {"ok": True}
    assert transport.requests_sent == 2


def test_export_events_end_to_end(
    server: ExportServer, transport: SyncTransport, archive_bytes: bytes, tmp_path: Path
) -> None:
    server.script = lambda seen: hour17(seen, archive_bytes)
    done: list[WindowDone] = []
    progress: list[ExportProgress] = []
    events = list(
        export_events(
            transport,
            datetime(2025, 7, 1, 16),
            "20250701T19",
            on_window=done.append,
            on_progress=progress.append,
            directory=tmp_path,
        )
    )
    assert len(events) == 13
    assert all(e.server_upload_time and e.server_upload_time.startswith("2025-07-01 17")
               for e in events)
    asked = [(s.query["start"][0], s.query["end"][0]) for s in server.seen]
    assert asked == [
        ("20250701T16", "20250701T19"),
        ("20250701T16", "20250701T17"),
        ("20250701T16", "20250701T16"),
        ("20250701T17", "20250701T17"),
        ("20250701T18", "20250701T19"),
        ("20250701T18", "20250701T18"),
        ("20250701T19", "20250701T19"),
    ]
    assert [(str(d.window), d.outcome) for d in done] == [
        ("20250701T16..20250701T16", "empty"),
        ("20250701T17..20250701T17", "archive"),
        ("20250701T18..20250701T18", "empty"),
        ("20250701T19..20250701T19", "empty"),
    ]
    assert done[1].size == len(archive_bytes)
    last = progress[-1]
    assert (last.hours_done, last.hours_total, last.windows_done) == (4, 4, 4)
    assert last.bytes_downloaded == len(archive_bytes)
    assert list(tmp_path.iterdir()) == []  # spooled archives are gone


def test_export_archives_hands_out_files_and_cleans_up(
    server: ExportServer, transport: SyncTransport, archive_bytes: bytes, tmp_path: Path
) -> None:
    server.script = lambda seen: hour17(seen, archive_bytes)
    gen = export_archives(transport, "20250701T17", "20250701T18", directory=tmp_path)
    window, path = next(gen)
    assert str(window) == "20250701T17..20250701T17"
    assert path.read_bytes() == archive_bytes
    assert path.parent == tmp_path
    assert list(gen) == []
    assert not path.exists()

    kept = list(export_archives(transport, "20250701T17", "20250701T17", directory=tmp_path,
                                keep=True))
    assert len(kept) == 1
    assert kept[0][1].read_bytes() == archive_bytes


def test_one_hour_too_large_over_http_names_the_hour(
    server: ExportServer, transport: SyncTransport, tmp_path: Path
) -> None:
    server.script = lambda seen: Reply(400, b"too big")
    with pytest.raises(ExportWindowTooLarge, match="hour 20250701T16"):
        list(export_events(transport, "20250701T16", "20250701T17", directory=tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_async_twin_gives_the_same_events(
    server: ExportServer, archive_bytes: bytes, tmp_path: Path
) -> None:
    server.queue = [Reply(503, b"busy")]
    server.script = lambda seen: hour17(seen, archive_bytes)

    async def main() -> tuple[list[str | None], list[str]]:
        transport = AsyncTransport(settings_for(server), policy=RetryPolicy.no_wait(4))
        try:
            ids = [e.insert_id async for e in aexport_events(
                transport, "20250701T16", "20250701T17", directory=tmp_path)]
            windows = [str(w) async for w, _ in aexport_archives(
                transport, "20250701T17", "20250701T17", directory=tmp_path)]
        finally:
            await transport.aclose()
        return ids, windows

    ids, windows = asyncio.run(main())
    assert len(ids) == 13
    assert windows == ["20250701T17..20250701T17"]
    assert list(tmp_path.iterdir()) == []


# --- the export as one flow (Download and Emit steps), either driver ------------------------


def test_archives_flow_driven_by_hand_spools_emits_and_deletes(
    archive_bytes: bytes, tmp_path: Path
) -> None:
    done: list[WindowDone] = []
    flow = archives_flow("20250701T16", "20250701T17", on_window=done.append,
                         directory=tmp_path)
    step = next(flow)
    asked, emitted = [], []
    try:
        while True:
            if isinstance(step, Emit):
                window, path = step.item
                emitted.append(str(window))
                assert path.read_bytes() == archive_bytes
                step = flow.send(None)
                assert not path.exists()  # gone once the flow is resumed
                continue
            assert isinstance(step, Download)
            window = window_of(step.spec)
            asked.append(str(window))
            if window.hours > 1:
                step = flow.send(raw(400, b"too large"))
            elif window.start.hour == 17:
                step.sink.write(archive_bytes)
                step = flow.send(raw(200))
            else:
                step = flow.send(raw(404))
    except StopIteration as stop:
        summary: ExportSummary = stop.value
    assert asked == ["20250701T16..20250701T17", "20250701T16..20250701T16",
                     "20250701T17..20250701T17"]
    assert emitted == ["20250701T17..20250701T17"]
    assert [d.outcome for d in done] == ["empty", "archive"]
    assert summary.splits == 1
    assert list(tmp_path.iterdir()) == []


def test_closing_the_flow_deletes_the_archive_in_hand(archive_bytes: bytes, tmp_path: Path) -> None:
    flow = archives_flow("20250701T17", "20250701T17", directory=tmp_path, keep=False)
    step = next(flow)
    assert isinstance(step, Download)
    step.sink.write(archive_bytes)
    emit = flow.send(raw(200))
    assert isinstance(emit, Emit) and emit.item[1].exists()
    flow.close()  # what either driver does when its caller stops iterating
    assert list(tmp_path.iterdir()) == []


def test_error_bodies_are_capped(server: ExportServer, transport: SyncTransport) -> None:
    server.queue = [Reply(404, b"x" * (ERROR_BODY_CAP + 5000))]
    sink = io.BytesIO()
    resp = transport.download(export_spec(ExportWindow.of("20250701T17", "20250701T17")), sink)
    assert (resp.status, len(resp.content), sink.getvalue()) == (404, ERROR_BODY_CAP, b"")


def test_async_download_streams_into_the_sink_and_truncates_on_retry(
    server: ExportServer, archive_bytes: bytes
) -> None:
    server.queue = [Reply(503, b"busy"), Reply(200, archive_bytes, truncate=True),
                    Reply(200, archive_bytes)]
    sink = io.BytesIO(b"stale" * 1000)
    progress: list[int] = []

    async def main() -> RawResponse:
        transport = AsyncTransport(settings_for(server), policy=RetryPolicy.no_wait(4))
        try:
            spec = export_spec(ExportWindow.of("20250701T17", "20250701T17"))
            return await transport.download(spec, sink, on_progress=progress.append)
        finally:
            await transport.aclose()

    resp = asyncio.run(main())
    assert (resp.status, resp.content, sink.tell()) == (200, b"", 0)
    assert sink.getvalue() == archive_bytes
    assert progress[-1] == len(archive_bytes)
    assert len(server.seen) == 3


def test_async_events_are_decoded_off_the_event_loop(
    server: ExportServer, archive_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script = lambda seen: hour17(seen, archive_bytes)
    decoded_in: set[int] = set()

    def watched(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for event in iter_events(*args, **kwargs):
            decoded_in.add(threading.get_ident())
            yield event

    monkeypatch.setattr("ampkit.export.download.iter_events", watched)

    async def main() -> tuple[int, list[str | None]]:
        transport = AsyncTransport(settings_for(server), policy=RetryPolicy.no_wait(4))
        try:
            ids = [e.insert_id async for e in aexport_events(
                transport, "20250701T17", "20250701T17", directory=tmp_path)]
        finally:
            await transport.aclose()
        return threading.get_ident(), ids

    loop_thread, ids = asyncio.run(main())
    assert len(ids) == 13
    assert decoded_in and loop_thread not in decoded_in
    assert list(tmp_path.iterdir()) == []


def test_async_events_closed_early_close_the_decoder_and_the_file(
    server: ExportServer, archive_bytes: bytes, tmp_path: Path
) -> None:
    server.script = lambda seen: hour17(seen, archive_bytes)

    async def main() -> str | None:
        transport = AsyncTransport(settings_for(server), policy=RetryPolicy.no_wait(4))
        try:
            async with aclosing(aexport_events(transport, "20250701T17", "20250701T17",
                                               directory=tmp_path)) as events:
                async for event in events:
                    assert len(list(tmp_path.iterdir())) == 1  # the archive being decoded
                    return event.insert_id
        finally:
            await transport.aclose()
        return None

    assert asyncio.run(main()) is not None
    assert list(tmp_path.iterdir()) == []


def test_windows_reach_the_calendars_end_and_year_one_keeps_four_digits() -> None:
    """365-day steps from 9998 passed year 9999 (an OverflowError); year 1 was written '1…'."""
    windows = plan_windows("99980101T00", "99991231T23")
    assert [str(w) for w in windows] == ["99980101T00..99981231T23", "99990101T00..99991231T23"]
    first = ExportWindow.of("00010101T00", "00010101T05")
    assert first.params() == (("start", "00010101T00"), ("end", "00010101T05"))
    assert format_hour("00010101T03") == "00010101T03"
