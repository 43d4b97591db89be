"""Behavioral cohorts: the list, and the 3-step download as one flow (reference §13.1–13.2).

Download: ``GET /api/5/cohorts/request/{id}`` (202) → poll
``/api/5/cohorts/request-status/{request_id}`` (202 ``JOB INPROGRESS`` while running, 200 ``JOB
COMPLETED`` when done) → ``GET /api/5/cohorts/request/{request_id}/file``, which may 302 to a
1-minute S3 link: the transport follows redirects (and httpx drops the Authorization header
when the host changes), so the flow sees the file itself.
"""

from __future__ import annotations

from ampkit.core.flow import Flow, pause, send
from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.endpoint import Endpoint, one_request, register
from ampkit.errors import APIStatusError, APITimeoutError, error_for
from ampkit.models.dashboard.cohorts import (
    CohortDownloadQuery,
    CohortMembers,
    CohortRequestStatus,
    CohortsQuery,
    CohortsResult,
)

LIST = register(Endpoint("cohorts", "GET", "/api/3/cohorts", CohortsResult))
REQUEST = register(
    Endpoint("cohort_request", "GET", "/api/5/cohorts/request/{cohort_id}", CohortRequestStatus)
)
STATUS = register(
    Endpoint(
        "cohort_status",
        "GET",
        "/api/5/cohorts/request-status/{request_id}",
        CohortRequestStatus,
    )
)
FILE = register(
    Endpoint(
        "cohort_file",
        "GET",
        "/api/5/cohorts/request/{request_id}/file",
        CohortMembers,
        timeout=300.0,
    )
)
DEFAULT_POLL_INTERVAL = 10.0
"""Seconds between status polls (cohort downloads allow 60 requests per 10 minutes)."""
DEFAULT_MAX_WAIT = 3600.0


def request(query: CohortsQuery) -> RequestSpec:
    return LIST.spec(query.params())


parse = LIST.parse
flow = one_request(request, parse)


def download_request(query: CohortDownloadQuery) -> RequestSpec:
    return REQUEST.spec(query.params(), cohort_id=query.cohort_id)


def status_request(request_id: str) -> RequestSpec:
    return STATUS.spec(request_id=request_id)


def file_request(request_id: str) -> RequestSpec:
    return FILE.spec(request_id=request_id)


parse_status = STATUS.parse


def parse_file(raw: RawResponse, request_id: str, cohort_id: str) -> CohortMembers:
    if raw.status >= 300:
        raise error_for(raw.status, raw.content, endpoint=FILE.path, headers=raw.headers)
    text = raw.content.decode("utf-8-sig", "replace")
    return CohortMembers.from_text(request_id, cohort_id, text)


def download_flow(
    query: CohortDownloadQuery,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_wait: float = DEFAULT_MAX_WAIT,
    max_polls: int = 1000,
) -> Flow[CohortMembers]:
    """Request, poll every ``poll_interval`` seconds (a :class:`~ampkit.core.flow.Wait`
    step, so tests never sleep) until done, then fetch the file.

    Gives up with :class:`~ampkit.errors.APITimeoutError` after ``max_wait`` seconds of waiting
    or ``max_polls`` polls; a failure status (undocumented strings: anything naming a failure,
    error, cancellation or abort — unconfirmed) raises :class:`~ampkit.errors.APIStatusError`.
    """
    raw = yield from send(download_request(query))
    started = REQUEST.parse(raw)
    request_id = started.request_id
    if not request_id:
        raise APIStatusError(
            "cohort request answered without a request_id", status=raw.status,
            endpoint=REQUEST.path,
        )
    cohort_id = started.cohort_id or query.cohort_id
    waited, polls = 0.0, 0
    while True:
        yield from pause(poll_interval)
        waited += poll_interval
        polls += 1
        raw = yield from send(status_request(request_id))
        status = parse_status(raw)
        if status.failed:
            raise APIStatusError(
                f"cohort {cohort_id} download failed: {status.async_status}",
                status=raw.status, endpoint=STATUS.path,
            )
        if status.completed or (raw.status == 200 and not status.async_status):
            break
        if waited >= max_wait or polls >= max_polls:
            raise APITimeoutError(
                f"cohort {cohort_id} still {status.async_status or 'running'} after "
                f"{polls} polls / {waited:g} s — call again later (request {request_id})",
                endpoint=STATUS.path,
            )
    raw = yield from send(file_request(request_id))
    return parse_file(raw, request_id, cohort_id)
