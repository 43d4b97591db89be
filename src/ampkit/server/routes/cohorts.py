"""Behavioral cohorts (reference §13): list, upload, incremental membership, and the
asynchronous download (request → poll → file).

Cohorts are created through the upload API (or ``ampkit seed``).  A download request answers
202 for the first ``cohort_polls`` status polls (default 1) and 200 after, so clients exercise
their polling loop; the file is CSV (``amplitude_id,user_id`` plus the requested user
properties as JSON text) — Amplitude's format is not documented.

Upload and membership bodies are checked against :class:`UploadBody` and
:class:`MembershipBody`: a field of the wrong type is a 400 in the Dashboard envelope whose
``metadata.parameter`` names it (an object where a string belongs used to reach DuckDB: a 500).
"""

from __future__ import annotations

import csv
import io
import time
import uuid
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ampkit.server.routes.common import error_response, require_project
from ampkit.server.store import Store

COHORT_POLLS = 1
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


class Membership(_Body):
    ids: list[_Id] = Field(default_factory=list)
    id_type: Literal["BY_ID", "BY_NAME"]
    operation: Literal["ADD", "REMOVE"]


class MembershipBody(_Body):
    """``POST /api/3/cohorts/membership``."""

    cohort_id: str
    memberships: list[Membership]
    skip_invalid_ids: StrictBool = True


B = TypeVar("B", bound=_Body)


def parse_body(model: type[B], raw: bytes, message: str) -> B | Response:
    """The body as ``model``, or the 400 naming the first bad field."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return error_response(400, message, "the body must be JSON", parameter="body")
    if not isinstance(data, dict):
        return error_response(400, message, "the body must be an object", parameter="body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        rule = "is required" if err["type"] == "missing" else err["msg"]
        return error_response(400, message, f"{field or 'body'} {rule}",
                              parameter=str(loc[0]) if loc else "body")


def routes(store: Store) -> list[BaseRoute]:
    def cohort(pid: int, cid: str) -> tuple[Any, ...] | None:
        return store.cursor().execute(
            "SELECT id, name, description, owner, published, count_group, created_at, "
            "last_mod, archived FROM cohorts WHERE project_id = ? AND id = ?",
            [pid, cid]).fetchone()

    def resolve(pid: int, ids: list[str], by_user_id: bool) -> tuple[list[int], list[str]]:
        state = store.states[pid]
        found: list[int] = []
        invalid: list[str] = []
        with store.lock:
            for raw in ids:
                if by_user_id:
                    amp = state.by_user.get(raw)
                else:
                    amp = int(raw) if raw.isascii() and raw.isdigit() and \
                        int(raw) in state.users else None
                if amp is None:
                    invalid.append(raw)
                else:
                    found.append(amp)
        return found, invalid

    async def list_cohorts(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid = project.project_id
        rows = store.cursor().execute(
            "SELECT c.id, c.name, c.description, c.owner, c.published, c.count_group, "
            "c.created_at, c.last_mod, c.archived, count(m.amplitude_id) FROM cohorts c "
            "LEFT JOIN cohort_members m ON m.project_id = c.project_id AND m.cohort_id = c.id "
            "WHERE c.project_id = ? GROUP BY ALL ORDER BY c.id", [pid]).fetchall()
        sync = request.query_params.get("includeSyncInfo", "").lower() == "true"
        out = []
        for cid, name, desc, owner, published, cg, created, mod, archived, size in rows:
            item: dict[str, Any] = {
                "appId": pid, "archived": archived, "definition": {
                    "version": 3, "countGroup": {"name": cg, "is_computed": False},
                    "cohortType": "UNIQUES", "andClauses": [], "referenceFrameTimeParams": {}},
                "description": desc, "finished": True, "id": cid, "name": name,
                "owners": [owner] if owner else [], "viewers": [], "published": published,
                "size": size, "type": "uploaded", "lastMod": mod, "createdAt": created,
                "lastComputed": mod, "hidden": False, "metadata": None, "view_count": None,
                "popularity": None, "last_viewed": None, "chart_id": None, "edit_id": None,
                "is_predictive": False, "is_official_content": False, "location_id": None,
                "shortcut_ids": []}
            if sync:
                item["syncMetadata"] = []
            out.append(item)
        return JSONResponse({"cohorts": out})

    async def upload(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid = project.project_id
        body = parse_body(UploadBody, await request.body(), "Invalid cohort upload")
        if isinstance(body, Response):
            return body
        if str(body.app_id) != str(pid):
            return error_response(400, "Invalid cohort upload",
                                  "app_id does not match the project of the key pair",
                                  parameter="app_id")
        ids = [str(i) for i in body.ids]
        found, invalid = resolve(pid, ids, body.id_type == "BY_USER_ID")
        if invalid and not body.skip_invalid_ids:
            return error_response(400, "Invalid ids", f"{len(invalid)} ids are unknown",
                                  invalid_ids_sample=invalid[:10], parameter="ids")
        meta = {"matched": len(found), "totals": len(ids), "invalid_ids_sample": invalid[:10]}
        cid = body.existing_cohort_id or uuid.uuid4().hex[:7]
        if body.skip_save:
            return JSONResponse({"cohortId": None, "metadata": meta})
        now = int(time.time())
        with store.transaction() as con:
            existing = con.execute("SELECT created_at FROM cohorts WHERE project_id = ? AND "
                                   "id = ?", [pid, cid]).fetchone()
            if body.existing_cohort_id and existing is None:
                return error_response(404, "Cohort not found", str(cid),
                                      parameter="existing_cohort_id")
            con.execute("INSERT OR REPLACE INTO cohorts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [pid, cid, body.name, body.description, body.owner,
                         body.published, body.cg or "User",
                         existing[0] if existing else now, now, False])
            con.execute("DELETE FROM cohort_members WHERE project_id = ? AND cohort_id = ?",
                        [pid, cid])
            if found:
                con.execute("INSERT OR IGNORE INTO cohort_members SELECT ?, ?, "
                            "UNNEST($3::BIGINT[])", [pid, cid, sorted(set(found))])
        return JSONResponse({"cohortId": cid, "metadata": meta})

    async def membership(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid = project.project_id
        body = parse_body(MembershipBody, await request.body(), "Invalid membership update")
        if isinstance(body, Response):
            return body
        cid = body.cohort_id
        if cohort(pid, cid) is None:
            return error_response(404, "Cohort not found", str(cid), parameter="cohort_id")
        results = []
        for entry in body.memberships:
            id_type, op = entry.id_type, entry.operation
            found, invalid = resolve(pid, [str(i) for i in entry.ids], id_type == "BY_NAME")
            if invalid and not body.skip_invalid_ids:
                return error_response(400, "Invalid ids", f"{len(invalid)} ids are unknown",
                                      parameter="memberships")
            with store.lock:
                for amp in found:
                    if op == "ADD":
                        store.con.execute("INSERT OR IGNORE INTO cohort_members VALUES (?, ?, ?)",
                                          [pid, cid, amp])
                    else:
                        store.con.execute("DELETE FROM cohort_members WHERE project_id = ? AND "
                                          "cohort_id = ? AND amplitude_id = ?", [pid, cid, amp])
            results.append({"skipped_ids": invalid, "id_type": id_type, "operation": op})
        return JSONResponse({"cohort_id": cid, "memberships_result": results})

    async def request_download(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid, cid = project.project_id, request.path_params["cohort_id"]
        if cohort(pid, cid) is None:
            return error_response(404, "Cohort not found", cid)
        rid = uuid.uuid4().hex
        keys = request.query_params.getlist("propKeys")
        with store.lock:
            store.con.execute("INSERT INTO cohort_requests VALUES (?, ?, ?, ?, ?, 0)",
                              [pid, rid, cid, request.query_params.get("props") == "1",
                               orjson.dumps(keys).decode()])
        return JSONResponse({"request_id": rid, "cohort_id": cid}, status_code=202)

    def job(pid: int, rid: str) -> tuple[Any, ...] | None:
        return store.cursor().execute(
            "SELECT cohort_id, props, prop_keys, polls FROM cohort_requests WHERE "
            "project_id = ? AND request_id = ?", [pid, rid]).fetchone()

    async def status(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid, rid = project.project_id, request.path_params["request_id"]
        found = job(pid, rid)
        if found is None:
            return error_response(404, "Request not found", rid)
        polls = found[3] + 1
        with store.lock:
            store.con.execute("UPDATE cohort_requests SET polls = ? WHERE project_id = ? AND "
                              "request_id = ?", [polls, pid, rid])
        done = polls > COHORT_POLLS
        return JSONResponse({"request_id": rid, "cohort_id": found[0],
                             "async_status": "JOB COMPLETED" if done else "JOB INPROGRESS"},
                            status_code=200 if done else 202)

    async def download(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid, rid = project.project_id, request.path_params["request_id"]
        found = job(pid, rid)
        if found is None:
            return error_response(404, "Request not found", rid)
        cid, props, prop_keys, polls = found
        if polls <= COHORT_POLLS:
            return error_response(400, "The cohort is not ready yet",
                                  "poll request-status until it answers 200")
        members = store.cursor().execute(
            "SELECT amplitude_id FROM cohort_members WHERE project_id = ? AND cohort_id = ? "
            "ORDER BY amplitude_id", [pid, cid]).fetchall()
        keys: list[str] = orjson.loads(prop_keys)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["amplitude_id", "user_id", *(["user_properties"] if props else [])])
        state = store.states[pid]
        with store.lock:
            for (amp,) in members:
                user = state.users.get(amp)
                row: list[Any] = [amp, user.user_id if user else ""]
                if props:
                    values = dict(user.user_properties) if user else {}
                    if keys:
                        values = {k: v for k, v in values.items() if k in keys}
                    row.append(orjson.dumps(values).decode())
                writer.writerow(row)
        return Response(out.getvalue(), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="cohort_{rid}.csv"'})

    return [
        Route("/api/3/cohorts", list_cohorts, methods=["GET"]),
        Route("/api/3/cohorts/upload", upload, methods=["POST"]),
        Route("/api/3/cohorts/membership", membership, methods=["POST"]),
        Route("/api/5/cohorts/request/{cohort_id}", request_download, methods=["GET"]),
        Route("/api/5/cohorts/request-status/{request_id}", status, methods=["GET"]),
        Route("/api/5/cohorts/request/{request_id}/file", download, methods=["GET"]),
    ]
