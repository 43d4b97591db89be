"""Behavioral cohorts (reference §13): list, upload, incremental membership, and the
asynchronous download (request → poll → file); the work is
:mod:`ampkit.server.services.cohorts`.

Cohorts are created through the upload API (or ``ampkit seed``).  A download request answers
202 for the first ``cohort_polls`` status polls (default 1) and 200 after, so clients exercise
their polling loop.

Upload and membership bodies are checked against :class:`UploadBody` and
:class:`MembershipBody`: a field of the wrong type is a 400 in the Dashboard envelope whose
``metadata.parameter`` names it (an object where a string belongs used to reach DuckDB: a 500).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from pydantic_core import ErrorDetails
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.server.config import ProjectConfig
from ampkit.server.routes.common import (
    BadInput,
    M,
    Query,
    authed,
    backend,
    bad_input,
    error_response,
    parse_json,
    parse_query,
)
from ampkit.server.services import cohorts as service

_Id = str | int
"""An id in a list of ids (user ids are strings, Amplitude ids numbers; both are read as text)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class UploadBody(_Body):
    """``POST /api/3/cohorts/upload``."""

    name: str
    app_id: int | str
    id_type: Literal["BY_AMP_ID", "BY_USER_ID"]
    ids: list[_Id]
    owner: str
    published: bool
    description: str | None = None
    cg: str | None = None
    existing_cohort_id: str | None = None
    skip_invalid_ids: StrictBool = True
    skip_save: bool = False

    def upload(self) -> service.Upload:
        return service.Upload(
            self.name, [str(i) for i in self.ids], self.id_type == "BY_USER_ID", self.owner,
            self.published, self.description, self.cg, self.existing_cohort_id,
            self.skip_invalid_ids, self.skip_save)


class Membership(_Body):
    ids: list[_Id] = Field(default_factory=list)
    id_type: Literal["BY_ID", "BY_NAME"]
    operation: Literal["ADD", "REMOVE"]


class MembershipBody(_Body):
    """``POST /api/3/cohorts/membership``."""

    cohort_id: str
    memberships: list[Membership]
    skip_invalid_ids: StrictBool = True

    def changes(self) -> list[service.Change]:
        return [service.Change([str(i) for i in m.ids], m.id_type == "BY_NAME",
                               m.operation == "ADD") for m in self.memberships]


class CohortList(Query):
    """``GET /api/3/cohorts``."""

    include_sync_info: str | None = Field(default=None, alias="includeSyncInfo")


class DownloadRequest(_Body):
    """``GET /api/5/cohorts/request/{cohort_id}``: ``props=1`` adds the user properties,
    ``propKeys`` (repeated) keeps only these."""

    props: str | None = None
    prop_keys: list[str] = Field(default_factory=list, alias="propKeys")


def _details(err: ErrorDetails) -> str:
    loc = err["loc"]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    rule = "is required" if err["type"] == "missing" else err["msg"]
    return f"{where or 'body'} {rule}"


def _body(model: type[M], raw: bytes) -> M:
    return parse_json(model, raw, _details, not_object="the body must be an object")


def _cohort(project_id: int, c: service.Cohort, sync: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "appId": project_id, "archived": c.archived, "definition": {
            "version": 3, "countGroup": {"name": c.count_group, "is_computed": False},
            "cohortType": "UNIQUES", "andClauses": [], "referenceFrameTimeParams": {}},
        "description": c.description, "finished": True, "id": c.id, "name": c.name,
        "owners": [c.owner] if c.owner else [], "viewers": [], "published": c.published,
        "size": c.size, "type": "uploaded", "lastMod": c.last_mod, "createdAt": c.created_at,
        "lastComputed": c.last_mod, "hidden": False, "metadata": None, "view_count": None,
        "popularity": None, "last_viewed": None, "chart_id": None, "edit_id": None,
        "is_predictive": False, "is_official_content": False, "location_id": None,
        "shortcut_ids": []}
    if sync:
        item["syncMetadata"] = []
    return item


@authed
async def list_cohorts(request: Request, project: ProjectConfig) -> Response:
    q = parse_query(CohortList, request.query_params, _details)
    sync = (q.include_sync_info or "").lower() == "true"
    found = await backend(request).read(service.cohorts, project.project_id)
    return JSONResponse({"cohorts": [_cohort(project.project_id, c, sync) for c in found]})


@authed
async def upload(request: Request, project: ProjectConfig) -> Response:
    pid = project.project_id
    with bad_input("Invalid cohort upload"):
        body = _body(UploadBody, await request.body())
        if str(body.app_id) != str(pid):
            raise BadInput("app_id", "app_id does not match the project of the key pair")
    try:
        done = await backend(request).with_state(pid, service.upload, pid, body.upload())
    except service.UnknownIds as exc:
        return error_response(400, "Invalid ids", str(exc),
                              invalid_ids_sample=exc.invalid[:10], parameter="ids")
    except service.UnknownCohort as exc:
        return error_response(404, "Cohort not found", exc.cohort_id,
                              parameter="existing_cohort_id")
    return JSONResponse({"cohortId": done.cohort_id, "metadata": {
        "matched": done.matched, "totals": done.totals,
        "invalid_ids_sample": done.invalid_sample}})


@authed
async def membership(request: Request, project: ProjectConfig) -> Response:
    pid = project.project_id
    with bad_input("Invalid membership update"):
        body = _body(MembershipBody, await request.body())
    try:
        skipped = await backend(request).with_state(
            pid, service.change_members, pid, body.cohort_id, body.changes(),
            body.skip_invalid_ids)
    except service.UnknownCohort as exc:
        return error_response(404, "Cohort not found", exc.cohort_id, parameter="cohort_id")
    except service.UnknownIds as exc:
        return error_response(400, "Invalid ids", str(exc), parameter="memberships")
    return JSONResponse({"cohort_id": body.cohort_id, "memberships_result": [
        {"skipped_ids": ids, "id_type": m.id_type, "operation": m.operation}
        for ids, m in zip(skipped, body.memberships, strict=True)]})


@authed
async def request_download(request: Request, project: ProjectConfig) -> Response:
    cid = request.path_params["cohort_id"]
    q = parse_query(DownloadRequest, request.query_params, _details)
    rid = await backend(request).write(service.request_download, project.project_id, cid,
                                       q.props == "1", q.prop_keys)
    if rid is None:
        return error_response(404, "Cohort not found", cid)
    return JSONResponse({"request_id": rid, "cohort_id": cid}, status_code=202)


@authed
async def status(request: Request, project: ProjectConfig) -> Response:
    rid = request.path_params["request_id"]
    found = await backend(request).write(service.poll, project.project_id, rid)
    if found is None:
        return error_response(404, "Request not found", rid)
    cid, done = found
    return JSONResponse({"request_id": rid, "cohort_id": cid,
                         "async_status": "JOB COMPLETED" if done else "JOB INPROGRESS"},
                        status_code=200 if done else 202)


@authed
async def download(request: Request, project: ProjectConfig) -> Response:
    pid, rid = project.project_id, request.path_params["request_id"]
    try:
        text = await backend(request).with_state(pid, service.download, pid, rid)
    except service.NotReady:
        return error_response(400, "The cohort is not ready yet",
                              "poll request-status until it answers 200")
    if text is None:
        return error_response(404, "Request not found", rid)
    return Response(text, media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="cohort_{rid}.csv"'})
