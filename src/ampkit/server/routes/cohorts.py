"""Behavioral cohorts (reference §13): list, upload, incremental membership, and the
asynchronous download (request → poll → file).

Cohorts are created through the upload API (or ``ampkit seed``).  A download request answers
202 for the first ``cohort_polls`` status polls (default 1) and 200 after, so clients exercise
their polling loop; the file is CSV (``amplitude_id,user_id`` plus the requested user
properties as JSON text) — Amplitude's format is not documented.
"""

from __future__ import annotations

import csv
import io
import time
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ampkit.server.routes.common import error_response, require_project
from ampkit.server.store import Store

COHORT_POLLS = 1


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
                    amp = int(raw) if raw.isdigit() and int(raw) in state.users else None
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
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return error_response(400, "Invalid cohort upload", "the body must be JSON")
        if not isinstance(body, dict):
            return error_response(400, "Invalid cohort upload", "the body must be an object")
        for field in ("name", "app_id", "id_type", "ids", "owner", "published"):
            if field not in body:
                return error_response(400, "Invalid cohort upload", f"{field} is required")
        if body["id_type"] not in ("BY_AMP_ID", "BY_USER_ID"):
            return error_response(400, "Invalid cohort upload",
                                  "id_type must be BY_AMP_ID or BY_USER_ID")
        if str(body["app_id"]) != str(pid):
            return error_response(400, "Invalid cohort upload",
                                  "app_id does not match the project of the key pair")
        ids = [str(i) for i in body["ids"]] if isinstance(body["ids"], list) else None
        if ids is None:
            return error_response(400, "Invalid cohort upload", "ids must be a list")
        found, invalid = resolve(pid, ids, body["id_type"] == "BY_USER_ID")
        if invalid and body.get("skip_invalid_ids", True) is False:
            return error_response(400, "Invalid ids", f"{len(invalid)} ids are unknown",
                                  invalid_ids_sample=invalid[:10])
        meta = {"matched": len(found), "totals": len(ids), "invalid_ids_sample": invalid[:10]}
        cid = body.get("existing_cohort_id") or uuid.uuid4().hex[:7]
        if body.get("skip_save"):
            return JSONResponse({"cohortId": None, "metadata": meta})
        now = int(time.time())
        with store.transaction() as con:
            existing = con.execute("SELECT created_at FROM cohorts WHERE project_id = ? AND "
                                   "id = ?", [pid, cid]).fetchone()
            if body.get("existing_cohort_id") and existing is None:
                return error_response(404, "Cohort not found", str(cid))
            con.execute("INSERT OR REPLACE INTO cohorts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [pid, cid, body["name"], body.get("description"), body["owner"],
                         bool(body["published"]), body.get("cg") or "User",
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
        try:
            body = orjson.loads(await request.body())
            cid = body["cohort_id"]
            entries = body["memberships"]
            assert isinstance(entries, list)
        except (orjson.JSONDecodeError, KeyError, TypeError, AssertionError):
            return error_response(400, "Invalid membership update",
                                  "cohort_id and a memberships list are required")
        if cohort(pid, cid) is None:
            return error_response(404, "Cohort not found", str(cid))
        results = []
        for entry in entries:
            ids = [str(i) for i in entry.get("ids", [])]
            id_type, op = entry.get("id_type"), entry.get("operation")
            if id_type not in ("BY_ID", "BY_NAME") or op not in ("ADD", "REMOVE"):
                return error_response(400, "Invalid membership update",
                                      "id_type must be BY_ID/BY_NAME, operation ADD/REMOVE")
            found, invalid = resolve(pid, ids, id_type == "BY_NAME")
            if invalid and body.get("skip_invalid_ids", True) is False:
                return error_response(400, "Invalid ids", f"{len(invalid)} ids are unknown")
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
