"""``/_ampkit/*``: read back what the server stored, inject faults, reset — for tests and
for people checking their tracking code.  Basic auth with a project's key pair; bad input is
a 400 in the Dashboard envelope whose ``metadata.details`` names the field."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from typing import Annotated, Literal, Self
from urllib.parse import unquote_to_bytes

from pydantic import ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.server.config import FaultConfig, ProjectConfig
from ampkit.server.filters import EPOCH, STEPS, EventFilter, Interval, TimeField, floor
from ampkit.server.routes.common import (
    LATEST,
    BadInput,
    Query,
    authed,
    backend,
    bad_input,
    dotted,
    found_or_404,
    instant,
    integer_between,
    json_response,
    parse_query,
)
from ampkit.server.services import admin

MAX_PAGE = 100_000
INT64_MAX = 2**63 - 1
CURSOR = "Ampkit-Cursor"
"""The header of ``/_ampkit/events`` answers: the page's cursor (see ``after_seq``)."""
MAX_BUCKETS = 10_000
DEFAULT_BUCKETS = 60


class EventFilters(Query):
    """What ``/_ampkit/events`` and ``/_ampkit/events/counts`` select: exact fields, and a
    ``since`` (inclusive) … ``until`` (exclusive) range on ``time_field``."""

    event_type: str | None = None
    user_id: str | None = None
    device_id: str | None = None
    insert_id: str | None = None
    since: Annotated[dt.datetime | None, instant()] = None
    until: Annotated[dt.datetime | None, instant()] = None
    time_field: TimeField = "server_received_time"

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise BadInput("until", "until: must be later than since")
        return self

    def match(self, after_seq: int = 0) -> EventFilter:
        return EventFilter(self.event_type, self.user_id, self.device_id, self.insert_id,
                           self.since, self.until, self.time_field, after_seq)


class EventsPage(EventFilters):
    """``GET /_ampkit/events``."""

    limit: Annotated[int, integer_between(0, MAX_PAGE)] = 1000
    offset: Annotated[int, integer_between(0, INT64_MAX)] = 0
    order: Literal["asc", "desc"] = "asc"
    after_seq: Annotated[int, integer_between(0, INT64_MAX)] = 0


class EventCounts(EventFilters):
    """``GET /_ampkit/events/counts``: the window is ``since`` (rounded down to the interval)
    … ``until`` (default: now); without ``since``, the 60 intervals up to ``until``."""

    interval: Interval = "minute"
    by: Literal["event_type"] | None = None

    @model_validator(mode="after")
    def _window(self) -> Self:
        step = STEPS[self.interval]
        if self.until is None:
            self.until = min(floor(dt.datetime.now(dt.UTC).replace(tzinfo=None),
                                   self.interval) + step, LATEST)
        if self.since is None:  # the 60 buckets up to the one until falls in
            top = floor(self.until, self.interval)
            top = top if top == self.until else top + step
            self.since = max(EPOCH, top - DEFAULT_BUCKETS * step)
        self.since = floor(self.since, self.interval)
        if self.until <= self.since:
            raise BadInput("since", "since: must be earlier than until (default: now)")
        if (self.until - self.since) / step > MAX_BUCKETS:
            raise BadInput("since", f"since: the window holds more than {MAX_BUCKETS} "
                                    f"{self.interval}s; pick a later since or a longer interval")
        return self


def _bad_input() -> AbstractContextManager[None]:
    return bad_input("Invalid request", parameter=False)


@authed
async def events(request: Request, project: ProjectConfig) -> Response:
    """The stored events that match the filters, a page of them; the ``Ampkit-Cursor``
    header is the arrival number of the newest one (``after_seq`` for the next poll)."""
    with bad_input("Invalid request"):
        page = parse_query(EventsPage, request.query_params, dotted)
    found = await backend(request).call(admin.find_events, project.project_id,
                                        page.match(page.after_seq), page.limit, page.offset,
                                        page.order == "desc")
    response = json_response(found.events)
    response.headers[CURSOR] = str(found.cursor)
    return response


@authed
async def event(request: Request, project: ProjectConfig) -> Response:
    """The last event to arrive with the ``insert_id`` of the path."""
    return found_or_404(await backend(request).call(
        admin.event_by_insert_id, project.project_id, request.path_params["insert_id"]),
        "insert_id")


@authed
async def counts(request: Request, project: ProjectConfig) -> Response:
    """Events per minute, hour or day over a window, each bucket listed."""
    with bad_input("Invalid request"):
        query = parse_query(EventCounts, request.query_params, dotted)
    body = await backend(request).call(admin.counts, project.project_id, query.match(),
                                       query.interval, query.by == "event_type")
    return json_response(body)


@authed
async def stats(request: Request, project: ProjectConfig) -> Response:
    body = await backend(request).call(admin.stats, project.project_id)
    return JSONResponse(body)  # this project's own: another's are not a key pair away


@authed
async def user(request: Request, project: ProjectConfig) -> Response:
    return found_or_404(await backend(request).call(
        admin.user, project.project_id, request.path_params["user_id"]), "user_id")


GROUPS_PREFIX = b"/_ampkit/groups/"


def _group_path(request: Request) -> tuple[str, str]:
    """The group type and value of ``/_ampkit/groups/{type}/{value}``, split at the first ``/``
    of the path as sent: a type holding ``/`` comes percent-encoded (``te%2Fam``), which the
    decoded path could not tell from the separator."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and GROUPS_PREFIX in raw:
        rest = raw.split(GROUPS_PREFIX, 1)[1].split(b"?", 1)[0]
        kind, _, value = rest.partition(b"/")
        return (unquote_to_bytes(kind).decode("utf-8", "replace"),
                unquote_to_bytes(value).decode("utf-8", "replace"))
    return request.path_params["group_type"], request.path_params["group_value"]


@authed
async def group(request: Request, project: ProjectConfig) -> Response:
    return found_or_404(await backend(request).call(
        admin.group, project.project_id, *_group_path(request)), "group", JSONResponse)


def _fault_config(raw: bytes) -> FaultConfig:
    try:
        return FaultConfig.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise BadInput("body", dotted(exc.errors()[0])) from None


@authed
async def faults(request: Request, project: ProjectConfig) -> Response:
    """``GET``: this project's faults, which apply to its own requests only (the operator's
    server-wide faults come from ``--faults``, the config file or the Python API)."""
    current = backend(request).faults.project(project.project_id)
    return JSONResponse(current.model_dump(mode="json"))


@authed
async def set_faults(request: Request, project: ProjectConfig) -> Response:
    """``POST``: replace this project's faults (see :func:`faults`)."""
    with _bad_input():
        config = _fault_config(await request.body())
    backend(request).faults.set_project(project.project_id, config)
    return JSONResponse(config.model_dump(mode="json"))


@authed
async def reset(request: Request, project: ProjectConfig) -> Response:
    await backend(request).call(admin.reset, project.project_id)
    backend(request).faults.set_project(project.project_id, FaultConfig())
    return JSONResponse({"reset": project.project_id})
