"""The OpenAPI 3.1 document of every route ``ampkit serve`` answers (``GET /openapi.json``).

One declarative table (:func:`_paths`): per path and method, the parameters, the request body,
the security and every answer with its status and body.  Schemas come from the pydantic
models that already describe the data — the Dashboard query models the server reads each
request with (:data:`ampkit.models.endpoints.DEFS`: ranges, enums and rules stay in one place;
a parameter is found by its wire name, :class:`~ampkit.models.wire.Wire`) for Dashboard
parameters, :mod:`ampkit.models` for events and answers,
:class:`~ampkit.server.config.FaultConfig` for the fault body — and are written here only where
no model describes them (error envelopes, small admin bodies).

Conventions:

- JSON inside the query string (``e``, ``se``, ``re``, ``s``, ``rb``) is a parameter with
  ``content: application/json`` and the model's schema; funnel steps (``e`` repeated) are an
  array of strings with ``contentMediaType``/``contentSchema``.
- Two formats of ours: ``yyyymmdd`` (a day, ``20240301``) and ``yyyymmddThh`` (an hour,
  ``20240301T05``).
- Answer models from :mod:`ampkit.models` accept snake_case and camelCase keys
  (:class:`~ampkit.models.base.AmpModel`), so their schemas list both spellings.
- Security: HTTP Basic ``api_key:secret_key`` (Dashboard, export, annotations, cohorts,
  taxonomy, ``/_ampkit/*``), ``Authorization: Api-Key <secret key>`` (User Profile API), the
  ``api_key`` inside the request (ingestion, identify).
- Faults injected on purpose (``--faults``, ``POST /_ampkit/faults``) add 429/500/503/504
  answers and cut connections on the routes they apply to; they are off by default and are not
  listed per operation.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from ampkit.models.dashboard.annotations import Annotation, AnnotationCategory
from ampkit.models.dashboard.cohorts import Cohort, CohortRequestStatus
from ampkit.models.dashboard.common import (
    FIRST_DAY,
    LAST_DAY,
    DateRangeQuery,
    EventDef,
    SegmentCondition,
)
from ampkit.models.dashboard.composition import CompositionResult
from ampkit.models.dashboard.events import EventTypeSummary
from ampkit.models.dashboard.funnels import MAX_STEPS, FunnelGroup, FunnelQuery
from ampkit.models.dashboard.realtime import RealtimeResult
from ampkit.models.dashboard.retention import RetentionQuery, RetentionResult
from ampkit.models.dashboard.revenue import RevenueLtvQuery, RevenueLtvResult
from ampkit.models.dashboard.segmentation import SegmentationQuery, SegmentationResult
from ampkit.models.dashboard.sessions import (
    SessionAverageResult,
    SessionLengthQuery,
    SessionLengthResult,
    SessionsPerUserResult,
)
from ampkit.models.dashboard.taxonomy import (
    TaxonomyCategory,
    TaxonomyEventProperty,
    TaxonomyEventType,
    TaxonomyUserProperty,
)
from ampkit.models.dashboard.user_activity import UserActivityQuery, UserActivityResult
from ampkit.models.dashboard.user_search import UserSearchResult
from ampkit.models.dashboard.users import UsersQuery, UsersResult
from ampkit.models.endpoints import BY_PATH
from ampkit.models.events import Event, GroupIdentification, Identification
from ampkit.models.ingest import IngestErrorBody, SuccessSummary
from ampkit.models.plan import BAD_EVENT_KINDS, BadEventsPage, BadRequest, TrackingPlan
from ampkit.models.profile import UserProfile
from ampkit.models.wire import wire_fields
from ampkit.server.config import FaultConfig
from ampkit.server.query.endpoints import CHARTABLE
from ampkit.server.routes.annotations import AnnotationBody
from ampkit.server.routes.cohorts import MembershipBody, UploadBody

Schema = dict[str, Any]
_REF = "#/components/schemas/{model}"
_NAME = re.compile(r"[^A-Za-z0-9._-]")

BASIC: list[dict[str, list[str]]] = [{"basicAuth": []}]
PROFILE_KEY: list[dict[str, list[str]]] = [{"profileApiKey": []}]
IN_BODY: list[dict[str, list[str]]] = []
"""No header: the project's API key travels in the body or the query string."""


class _Schemas:
    """``components.schemas``: model schemas lifted out of their ``$defs``."""

    def __init__(self) -> None:
        self.defs: dict[str, Schema] = {}

    def _add(self, name: str, schema: Schema, camel: bool) -> None:
        schema = _with_camel(schema) if camel else schema
        if self.defs.setdefault(name, schema) != schema:
            raise ValueError(f"two different schemas are both named {name!r}")

    def _schema(self, model: type[BaseModel], camel: bool) -> Schema:
        schema = model.model_json_schema(ref_template=_REF)
        for name, sub in schema.pop("$defs", {}).items():
            self._add(name, sub, camel)
        return schema

    def ref(self, model: type[BaseModel], camel: bool = False) -> Schema:
        """``{"$ref": …}`` to the model (``camel``: list camelCase keys too)."""
        name = _NAME.sub("_", model.__name__)
        self._add(name, self._schema(model, camel), camel)
        return {"$ref": _REF.format(model=name)}

    def field(self, model: type[BaseModel], name: str, **extra: Any) -> Schema:
        """One field's schema (by its alias when it has one), plus ``extra`` keywords."""
        props = self._schema(model, False)["properties"]
        info = model.model_fields[name]
        key = info.alias if info.alias is not None and info.alias in props else name
        return {**props[key], **extra}

    def wire(self, model: type[BaseModel], param: str) -> Schema:
        """The schema of a query model's wire parameter ``param``: a ``day`` is ``yyyymmdd``
        text; an optional value is its value's schema (absent when not given)."""
        name, wire = next((n, w) for n, w in wire_fields(model) if w.name == param)
        if wire.codec == "day":
            return dict(DAY)
        schema = self.field(model, name)
        options = [o for o in schema.get("anyOf", ()) if o != {"type": "null"}]
        if len(options) == 1:
            rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
            schema = {**options[0], **rest}
        return {k: v for k, v in schema.items() if k != "title"}


def _with_camel(schema: Schema) -> Schema:
    props = schema.get("properties")
    if not isinstance(props, dict):
        return schema
    both = dict(props)
    for key, sub in props.items():
        both.setdefault(to_camel(key), sub)
    return {**schema, "properties": both}


# --- small builders --------------------------------------------------------------------------


def _param(name: str, where: str, schema: Schema, required: bool = False,
           description: str = "", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "in": where, "required": required or where == "path",
                           "schema": schema, **extra}
    if description:
        out["description"] = description
    return out


def query(name: str, schema: Schema, required: bool = False, description: str = "",
          **extra: Any) -> dict[str, Any]:
    """A query parameter; an optional one given empty (``x=``) counts as absent."""
    if not required:
        extra.setdefault("allowEmptyValue", True)
    return _param(name, "query", schema, required, description, **extra)


def path(name: str, schema: Schema | None = None, description: str = "",
         **extra: Any) -> dict[str, Any]:
    return _param(name, "path", schema or {"type": "string", "minLength": 1}, True,
                  description, **extra)


def json_query(name: str, schema: Schema, required: bool = False,
               description: str = "") -> dict[str, Any]:
    """A query parameter holding JSON text."""
    out: dict[str, Any] = {"name": name, "in": "query", "required": required,
                           "content": {"application/json": {"schema": schema}}}
    if description:
        out["description"] = description
    return out


def json_body(schema: Schema, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def form_body(schema: Schema) -> dict[str, Any]:
    return {"required": False, "content": {"application/x-www-form-urlencoded": {
        "schema": schema}}}


def answer(description: str, schema: Schema | None = None,
           media: str = "application/json", **headers: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {media: {"schema": schema}}
    if headers:
        out["headers"] = {name.replace("_", "-"): {"schema": s} for name, s in headers.items()}
    return out


def obj(required: tuple[str, ...] = (), **props: Schema) -> Schema:
    out: Schema = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def data(schema: Schema) -> Schema:
    """``{"data": …}``"""
    return obj(("data",), data=schema)


def op(summary: str, tag: str, responses: dict[int, dict[str, Any]],
       security: list[dict[str, list[str]]] = BASIC, params: tuple[dict[str, Any], ...] = (),
       body: dict[str, Any] | None = None, description: str = "") -> dict[str, Any]:
    if any(p["in"] == "path" for p in params):  # a value the router can't match (a newline)
        routed = responses.get(404, {"description": "Not found"})
        responses = {**responses, 404: {**routed, "content": {
            **routed.get("content", {}), "text/plain": {"schema": STRING}}}}
    out: dict[str, Any] = {"summary": summary, "tags": [tag], "security": security,
                           "responses": {str(k): v for k, v in sorted(responses.items())}}
    if description:
        out["description"] = description
    if params:
        out["parameters"] = list(params)
    if body is not None:
        out["requestBody"] = body
    return out


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN_FLAG: Schema = {"type": "string", "description": "true when `true`, `1` or empty"}
ID: Schema = {"type": "string", "pattern": "^[0-9]{1,18}$"}
DAY: Schema = {"type": "string", "format": "yyyymmdd", "pattern": r"^[0-9]{8}$",
               "description": f"YYYYMMDD, a day from {FIRST_DAY:%Y%m%d} to {LAST_DAY:%Y%m%d} "
                              "in the project's time zone"}


def _event_filters() -> tuple[dict[str, Any], ...]:
    """The filters of ``/_ampkit/events`` and ``/_ampkit/events/counts``."""
    instant = {"type": "string", "description": "ISO-8601 (no zone: UTC) or epoch ms"}
    return (*(query(name, STRING, description="Exact match") for name in (
                "event_type", "user_id", "device_id", "insert_id")),
            query("since", instant, description="Inclusive"),
            query("until", instant, description="Exclusive"),
            query("time_field", {"enum": ["server_received_time", "event_time"]},
                  description="What since/until bound: arrival (default) or the event's time"))


# --- the document ----------------------------------------------------------------------------


def _paths(s: _Schemas) -> dict[str, dict[str, Any]]:
    envelope = obj(("error",), error=obj(("http_code", "type", "message"),
                                         http_code=INTEGER, type=STRING, message=STRING,
                                         metadata={"type": "object"}))
    s.defs["DashboardError"] = envelope
    error = {"$ref": _REF.format(model="DashboardError")}
    bad = answer("A parameter breaks a rule: `metadata.parameter` names it, "
                 "`metadata.details` says the rule", error)
    denied = answer("Missing or wrong Basic `api_key:secret_key`", error,
                    WWW_Authenticate=STRING)
    missing = answer("Not found", error)
    dash_limited = answer("A Dashboard rate, concurrency or cost limit; `metadata.limit` "
                          "names it", error, Retry_After=INTEGER)
    plain_error = obj(("error",), error={})
    admin_bad = answer("Bad parameter or body", plain_error)
    ingest_error = s.ref(IngestErrorBody)
    tax_fail = obj(("success", "errors"), success={"const": False},
                   errors=array(obj(("message",), message=STRING)))
    tax_ok = obj(("success",), success={"const": True})
    success = obj(("success",), success={"const": True})
    text_ok = answer("`success`", STRING, "text/plain")

    def camel(model: type[BaseModel]) -> Schema:
        return s.ref(model, camel=True)

    def dashboard(summary: str, result: Schema, *params: dict[str, Any],
                  description: str = "") -> dict[str, Any]:
        return {"get": op(summary, "dashboard", {200: answer("The result", result), 400: bad,
                                                 401: denied, 429: dash_limited},
                          params=params, description=description)}

    start = query("start", s.wire(DateRangeQuery, "start"), True)
    end = query("end", s.wire(DateRangeQuery, "end"), True)
    dates = (start, end)
    segment = json_query("s", array(s.ref(SegmentCondition)),
                         description="A segment (conditions that must all hold); repeat `s` "
                                     "for more segments")
    group = query("g", STRING, description="Group-by user property (one segment only)")
    event = s.ref(EventDef)
    event_text = {"type": "string", "contentMediaType": "application/json",
                  "contentSchema": event}

    def ingest(api: str) -> dict[str, Any]:
        body = obj(("api_key", "events"), api_key=STRING, events=array(s.ref(Event)),
                   options=obj(min_id_length=INTEGER))
        return {"post": op(
            f"Send events ({api})", "ingestion", security=IN_BODY, body=json_body(body),
            responses={200: answer("Stored", s.ref(SuccessSummary)),
                       400: answer("Invalid request, key, events or fields", ingest_error),
                       413: answer("Payload too large", ingest_error),
                       429: answer("Throttled devices or users, or a daily quota",
                                   ingest_error)})}

    def identify(group: bool) -> dict[str, Any]:
        model = GroupIdentification if group else Identification
        ident = {"type": "string", "contentMediaType": "application/json",
                 "contentSchema": {"oneOf": [s.ref(model), array(s.ref(model))]},
                 "description": "One identification object, or a list, as JSON text"}
        fields = (query("api_key", STRING), query("identification", ident))
        responses = {200: text_ok,
                     400: {"description": "Missing key, unknown key or bad identification "
                                          "(JSON, or text with `identify_error_format: text`)",
                           "content": {"application/json": {"schema": ingest_error},
                                       "text/plain": {"schema": STRING}}}}
        what = "group properties" if group else "user properties"
        return {"get": op(f"Set {what} (query string)", "ingestion", responses,
                          security=IN_BODY, params=fields),
                "post": op(f"Set {what} (form body)", "ingestion", responses,
                           security=IN_BODY, body=form_body(obj(
                               ("api_key", "identification"), api_key=STRING,
                               identification=ident)))}

    def tax_list(model: type[BaseModel], *params: dict[str, Any]) -> dict[str, Any]:
        return {"get": op("List", "taxonomy", {200: answer("All", {**tax_ok, "properties": {
            "success": {"const": True}, "data": array(camel(model))}}), 401: denied},
                          params=params)}

    def tax_one(model: type[BaseModel], name: str) -> dict[str, Any]:
        return {"get": op("Get one", "taxonomy", {
            200: answer("Found", {**tax_ok, "properties": {"success": {"const": True},
                                                           "data": camel(model)}}),
            401: denied, 404: answer("Unknown", tax_fail)}, params=(path(name),))}

    tax_form = form_body(obj(category_name=STRING))
    annotation = camel(Annotation)
    category = camel(AnnotationCategory)
    category_body = json_body(obj(("category",), category={"type": "string", "minLength": 1}))
    chart = {"get": op("A saved chart's result", "dashboard", {
        200: answer("The endpoint's answer", {}), 400: bad, 401: denied, 404: missing},
        params=(path("chart_id"), query("start", s.wire(DateRangeQuery, "start")),
                query("end", s.wire(DateRangeQuery, "end"))))}
    csv_chart = {"get": {**chart["get"], "summary": "A saved chart's result as CSV",
                         "responses": {**chart["get"]["responses"],
                                       "200": answer("CSV", STRING, "text/csv")}}}

    return {
        "/health": {"get": op("Liveness", "server", {200: answer("Up", obj(
            ("status",), status={"const": "ok"}))},
            security=IN_BODY)},
        "/openapi.json": {"get": op("This document", "server", {
            200: answer("OpenAPI 3.1", {"type": "object"})}, security=IN_BODY)},
        # ingestion (reference §2–5)
        "/2/httpapi": ingest("HTTP V2"),
        "/batch": ingest("Batch"),
        "/identify": identify(False),
        "/groupidentify": identify(True),
        # local admin
        "/_ampkit/events": {"get": op("Stored events, in arrival order", "admin", {
            200: answer("A page of stored events", array({"type": "object"}),
                        Ampkit_Cursor={"type": "string", "pattern": "^[0-9]+$"}),
            400: admin_bad, 401: denied},
            params=(query("limit", {"type": "integer", "minimum": 0, "maximum": 100_000}),
                    query("offset", {"type": "integer", "minimum": 0,
                                     "maximum": 2**63 - 1}),
                    query("order", {"enum": ["asc", "desc"]}),
                    query("after_seq", {"type": "integer", "minimum": 0,
                                        "maximum": 2**63 - 1},
                          description="Only events that arrived after this cursor"),
                    *_event_filters()))},
        "/_ampkit/events/counts": {"get": op("Stored events per minute, hour or day", "admin", {
            200: answer("Every bucket of the window", obj(
                ("interval", "time_field", "since", "until", "total", "buckets"),
                interval=STRING, time_field=STRING, since=STRING, until=STRING, total=INTEGER,
                buckets=array(obj(("start", "count"), start=STRING, count=INTEGER,
                                  event_types={"type": "object"})))),
            400: admin_bad, 401: denied},
            params=(query("interval", {"enum": ["minute", "hour", "day"]}),
                    query("by", {"enum": ["event_type"]}), *_event_filters()))},
        "/_ampkit/events/{insert_id}": {"get": op("The last event stored with an insert_id",
                                                  "admin", {
            200: answer("The event", {"type": "object"}), 401: denied,
            404: answer("No such event", plain_error)}, params=(path("insert_id"),))},
        "/_ampkit/ui": {"get": op("The event inspector (a web page)", "admin", {
            200: answer("HTML", STRING, media="text/html"), 401: denied})},
        "/_ampkit/ui/app.js": {"get": op("The event inspector's script", "admin", {
            200: answer("JavaScript", STRING, media="text/javascript")}, security=IN_BODY)},
        "/_ampkit/ui/style.css": {"get": op("The event inspector's style sheet", "admin", {
            200: answer("CSS", STRING, media="text/css")}, security=IN_BODY)},
        "/_ampkit/stats": {"get": op("Counters", "admin", {
            200: answer("Counts", {"type": "object"}), 401: denied})},
        "/_ampkit/users/{user_id}": {"get": op("A user's state", "admin", {
            200: answer("The user", {"type": "object"}), 401: denied,
            404: answer("Unknown user", plain_error)}, params=(path("user_id"),))},
        "/_ampkit/groups/{group_type}/{group_value}": {"get": op("A group's state", "admin", {
            200: answer("The group", {"type": "object"}), 401: denied,
            404: answer("Unknown group", plain_error)},
            params=(path("group_type"), path("group_value")))},
        "/_ampkit/faults": {
            "get": op("This project's injected faults", "admin", {
                200: answer("The configuration", s.ref(FaultConfig)), 401: denied}),
            "post": op("Inject faults into this project's requests", "admin", {
                200: answer("The new configuration", s.ref(FaultConfig)), 400: admin_bad,
                401: denied}, body=json_body(s.ref(FaultConfig), required=False))},
        "/_ampkit/reset": {"post": op("Forget the project's data", "admin", {
            200: answer("Reset", obj(("reset",), reset=INTEGER)), 401: denied})},
        "/_ampkit/bad-events": {"get": op("The bad-event bucket, newest first", "admin", {
            200: answer("Events that broke the tracking plan and requests refused by "
                        "Amplitude's rules", s.ref(BadEventsPage)), 400: bad, 401: denied},
            params=(query("limit", {"type": "integer", "minimum": 0, "maximum": 10_000}),
                    query("offset", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}),
                    query("kind", {"enum": list(BAD_EVENT_KINDS)}),
                    query("event_type", {"type": "string", "maxLength": 1024}),
                    query("since", {"type": "string"},
                          description="ISO 8601 (no zone: UTC) or epoch ms; inclusive")))},
        "/_ampkit/bad-requests/{request_id}": {"get": op(
            "A request kept with its bad events", "admin", {
                200: answer("Its body (the API key replaced by ***)", s.ref(BadRequest)),
                401: denied, 404: answer("Not kept", plain_error)},
            params=(path("request_id"),))},
        "/_ampkit/plan": {"get": op("The project's tracking plan", "admin", {
            200: answer("The plan, or {\"plan\": null}", {"oneOf": [
                s.ref(TrackingPlan), obj(("plan",), plan={"type": "null"})]}),
            401: denied})},
        "/_ampkit/charts": {"post": op("Save a chart", "dashboard", {
            200: answer("Saved", obj(("chart_id", "endpoint"), chart_id=STRING,
                                     endpoint={"enum": sorted(CHARTABLE)})),
            400: bad, 401: denied}, body=json_body(obj(
                ("endpoint",), chart_id={"type": "string", "pattern": "^[A-Za-z0-9_.\\-]{1,100}$"},
                endpoint=STRING, params={"type": "object"})))},
        # export (§9)
        "/api/2/export": {"get": op("Raw events by upload hour", "export", {
            200: answer("ZIP of per-hour gzipped JSON lines", {
                "type": "string", "contentMediaType": "application/zip"}, "application/zip"),
            400: bad, 401: denied, 404: answer("No event in the range", error)},
            params=tuple(query(n, {"type": "string", "format": "yyyymmddThh",
                                   "pattern": "^[0-9]{8}T[0-9]{2}$"}, True,
                               f"YYYYMMDDTHH, {FIRST_DAY:%Y%m%d}T00 … {LAST_DAY:%Y%m%d}T23")
                         for n in ("start", "end")))},
        # user profile (§12)
        "/v1/userprofile": {"get": op("A user's profile", "profile", {
            200: answer("The profile", obj(("userData",), userData=camel(UserProfile))),
            400: answer("No id, or an unknown one", obj(("error",), error=STRING)),
            401: answer("Missing or unknown Api-Key", STRING, "text/plain"),
            429: answer("Over 600 requests a minute", obj(("error",), error=STRING),
                        Retry_After=INTEGER)}, security=PROFILE_KEY,
            params=(query("user_id", STRING), query("device_id", STRING),
                    *(query(f, BOOLEAN_FLAG) for f in (
                        "get_amp_props", "get_cohort_ids", "get_computations", "get_recs",
                        "get_propensity")),
                    query("comp_id", STRING, description="Comma-separated computation ids"),
                    query("rec_id", STRING, description="Comma-separated recommendation ids")))},
        # annotations (§11)
        "/api/2/annotations": {
            "get": op("List annotations (v2)", "annotations", {
                200: answer("Annotations", data(array(annotation))), 400: bad, 401: denied},
                params=(query("id", ID),)),
            "post": op("Create an annotation (v2, query parameters)", "annotations", {
                200: answer("Created", obj(("annotation", "success"), annotation=annotation,
                                           success={"const": True})),
                400: bad, 401: denied},
                params=(query("app_id", STRING, True, "The project id"),
                        query("date", {"type": "string", "format": "date"}, True),
                        query("label", {"type": "string", "minLength": 1}, True),
                        query("details", STRING), query("chart_id", STRING)))},
        "/api/3/annotations": {
            "get": op("List annotations (v3)", "annotations", {
                200: answer("Annotations", data(array(annotation))), 400: bad, 401: denied},
                params=(query("category", STRING), query("chart_id", STRING),
                        query("start", {"type": "string", "format": "date-time"}),
                        query("end", {"type": "string", "format": "date-time"}))),
            "post": op("Create an annotation (v3)", "annotations", {
                200: answer("Created", data(annotation)), 400: bad, 401: denied,
                404: answer("Unknown category", error)},
                body=json_body(s.ref(AnnotationBody)))},
        "/api/3/annotations/{annotation_id}": {
            "get": op("One annotation", "annotations", {
                200: answer("Found", data(annotation)), 400: bad, 401: denied,
                404: missing}, params=(path("annotation_id", ID, example="50000"),)),
            "put": op("Update an annotation", "annotations", {
                200: answer("Updated", data(annotation)), 400: bad, 401: denied,
                404: missing}, params=(path("annotation_id", ID, example="50000"),),
                body=json_body(s.ref(AnnotationBody))),
            "delete": op("Delete an annotation", "annotations", {
                200: answer("Deleted", success), 400: bad, 401: denied, 404: missing},
                params=(path("annotation_id", ID, example="50000"),))},
        "/api/3/annotation-categories": {
            "get": op("List categories", "annotations", {
                200: answer("Categories", data(array(category))), 401: denied,
                404: missing}, params=(query("category", STRING),)),
            "post": op("Create a category", "annotations", {
                200: answer("Created", data(category)), 400: bad, 401: denied,
                409: answer("Exists", error)}, body=category_body)},
        "/api/3/annotation-categories/{category_id}": {
            "get": op("One category", "annotations", {
                200: answer("Found", data(category)), 400: bad, 401: denied, 404: missing},
                params=(path("category_id", ID, example="6000"),)),
            "put": op("Rename a category", "annotations", {
                200: answer("Renamed", data(category)), 400: bad, 401: denied,
                404: missing, 409: answer("Name taken", error)},
                params=(path("category_id", ID, example="6000"),), body=category_body),
            "delete": op("Delete a category", "annotations", {
                200: answer("Deleted", success), 400: bad, 401: denied, 404: missing},
                params=(path("category_id", ID, example="6000"),))},
        # cohorts (§13)
        "/api/3/cohorts": {"get": op("List cohorts", "cohorts", {
            200: answer("Cohorts", obj(("cohorts",), cohorts=array(camel(Cohort)))),
            401: denied}, params=(query("includeSyncInfo", {"enum": ["true", "false"]}),))},
        "/api/3/cohorts/upload": {"post": op("Upload a cohort", "cohorts", {
            200: answer("Saved (or matched only, with skip_save)", obj(
                ("cohortId", "metadata"), cohortId={"type": ["string", "null"]},
                metadata={"type": "object"})),
            400: bad, 401: denied, 404: missing}, body=json_body(s.ref(UploadBody)))},
        "/api/3/cohorts/membership": {"post": op("Add or remove members", "cohorts", {
            200: answer("Applied", obj(("cohort_id", "memberships_result"), cohort_id=STRING,
                                       memberships_result=array({"type": "object"}))),
            400: bad, 401: denied, 404: missing}, body=json_body(s.ref(MembershipBody)))},
        "/api/5/cohorts/request/{cohort_id}": {"get": op("Request a download", "cohorts", {
            202: answer("Requested", camel(CohortRequestStatus)), 401: denied,
            404: missing}, params=(path("cohort_id"), query("props", {"enum": ["0", "1"]}),
                                   query("propKeys", array(STRING), style="form",
                                         explode=True)))},
        "/api/5/cohorts/request-status/{request_id}": {"get": op("Poll a download", "cohorts", {
            200: answer("Done", camel(CohortRequestStatus)),
            202: answer("Running", camel(CohortRequestStatus)), 401: denied, 404: missing},
            params=(path("request_id"),))},
        "/api/5/cohorts/request/{request_id}/file": {"get": op("Download", "cohorts", {
            200: answer("CSV: amplitude_id, user_id[, user_properties]", STRING, "text/csv"),
            400: answer("Not ready yet", error), 401: denied, 404: missing},
            params=(path("request_id"),))},
        # taxonomy (§14)
        "/api/2/taxonomy/event": tax_list(TaxonomyEventType),
        "/api/2/taxonomy/event/{event_type}": tax_one(TaxonomyEventType, "event_type"),
        "/api/2/taxonomy/event-property": tax_list(TaxonomyEventProperty,
                                                   query("event_type", STRING)),
        "/api/2/taxonomy/event-property/{event_property}": tax_one(TaxonomyEventProperty,
                                                                   "event_property"),
        "/api/2/taxonomy/user-property": tax_list(TaxonomyUserProperty),
        "/api/2/taxonomy/user-property/{user_property}": tax_one(TaxonomyUserProperty,
                                                                 "user_property"),
        "/api/2/taxonomy/category": {
            "get": tax_list(TaxonomyCategory)["get"],
            "post": op("Create a category", "taxonomy", {
                200: answer("Created", tax_ok), 400: answer("No name", tax_fail),
                401: denied, 409: answer("Exists", tax_fail)}, body=tax_form)},
        "/api/2/taxonomy/category/{category_name}": {
            "get": tax_one(TaxonomyCategory, "category_name")["get"],
            "put": op("Rename a category (by id)", "taxonomy", {
                200: answer("Renamed", tax_ok), 400: answer("No name", tax_fail),
                401: denied, 409: answer("No such id", tax_fail)},
                params=(path("category_name", description="The category id"),),
                body=tax_form),
            "delete": op("Delete a category (by id)", "taxonomy", {
                200: answer("Deleted", tax_ok), 401: denied,
                409: answer("No such id", tax_fail)},
                params=(path("category_name", description="The category id"),))},
        # Dashboard (§10)
        "/api/3/chart/{chart_id}/query": chart,
        "/api/3/chart/{chart_id}/csv": csv_chart,
        "/api/2/users": dashboard(
            "Active or new users", data(camel(UsersResult)), *dates,
            query("m", s.wire(UsersQuery, "m")), query("i", s.wire(UsersQuery, "i")),
            segment, group),
        "/api/2/composition": dashboard(
            "User composition", data(camel(CompositionResult)), *dates,
            query("p", {"type": "string", "minLength": 1}, True)),
        "/api/2/realtime": dashboard(
            "Real-time active users", data(camel(RealtimeResult)),
            query("i", {"enum": ["5"]})),
        "/api/2/events/segmentation": dashboard(
            "Event segmentation", data(camel(SegmentationResult)),
            json_query("e", event, True, "The event (formula letter A)"),
            json_query("e2", event, description="A second series, formula letter B"),
            *dates, *(query(n, s.wire(SegmentationQuery, n)) for n in ("m", "n", "i")),
            segment, group, query("g2", STRING),
            query("limit", s.wire(SegmentationQuery, "limit")),
            query("formula", STRING, description="With m=formula, e.g. UNIQUES(A)/UNIQUES(B)"),
            *(query(n, s.wire(SegmentationQuery, n))
              for n in ("rollingWindow", "rollingAverage"))),
        "/api/2/events/list": dashboard("Event types", data(array(camel(EventTypeSummary)))),
        "/api/2/sessions/length": dashboard(
            "Session length distribution", data(camel(SessionLengthResult)), *dates,
            query("timeHistogramConfigBinTimeUnit",
                  s.wire(SessionLengthQuery, "timeHistogramConfigBinTimeUnit")),
            *(query(f"timeHistogramConfigBin{n}", {"type": "number"})
              for n in ("Min", "Max", "Size"))),
        "/api/2/sessions/average": dashboard(
            "Average session length", data(camel(SessionAverageResult)), *dates),
        "/api/2/sessions/peruser": dashboard(
            "Sessions per user", data(camel(SessionsPerUserResult)), *dates),
        "/api/2/funnels": dashboard(
            "Funnel", data(array(camel(FunnelGroup))),
            query("e", array(event_text, minItems=1, maxItems=MAX_STEPS), True,
                  "One event per step, in order", style="form", explode=True),
            *dates, *(query(n, s.wire(FunnelQuery, n)) for n in ("mode", "n", "i")),
            segment, group, query("cs", s.wire(FunnelQuery, "cs")),
            query("limit", s.wire(FunnelQuery, "limit"))),
        "/api/2/retention": dashboard(
            "Retention", data(camel(RetentionResult)),
            json_query("se", event, True, "Starting event (also `_new`, `_active`)"),
            json_query("re", event, True, "Returning event (also `_all`, `_active`)"),
            *dates, query("rm", {"enum": ["bracket", "rolling", "unbounded", "n-day"]}),
            json_query("rb", s.wire(RetentionQuery, "rb"),
                       description="Brackets `[[start, endExclusive], …]` in intervals"),
            query("i", s.wire(RetentionQuery, "i")), segment, group),
        "/api/2/revenue/ltv": dashboard(
            "Revenue LTV", data(camel(RevenueLtvResult)), *dates,
            query("m", s.wire(RevenueLtvQuery, "m")), query("i", s.wire(RevenueLtvQuery, "i")),
            segment, group),
        "/api/2/usersearch": dashboard(
            "Find users", camel(UserSearchResult),
            query("user", {"type": "string", "minLength": 1}, True,
                  "A user ID, device ID, Amplitude ID or user-ID prefix")),
        "/api/2/useractivity": dashboard(
            "A user's events", camel(UserActivityResult),
            query("user", s.wire(UserActivityQuery, "user"), True, "The Amplitude ID"),
            *(query(n, s.wire(UserActivityQuery, n)) for n in ("offset", "limit", "direction"))),
    }


def _declared_parameters(s: _Schemas, paths: dict[str, dict[str, Any]]) -> None:
    """Every wire parameter a Dashboard query model declares is documented: one the table
    above does not list is added from its model (a new optional parameter needs no line
    here)."""
    for path, definition in BY_PATH.items():
        model, operation = definition.query, paths[path]["get"]
        listed = {p["name"] for p in operation.get("parameters", ())}
        for name, wire in wire_fields(model):
            if wire.name in listed:
                continue
            info = model.model_fields[name]
            text = info.description or ""
            param = (json_query(wire.name, s.wire(model, wire.name), info.is_required(), text)
                     if wire.codec == "json" else
                     query(wire.name, s.wire(model, wire.name), info.is_required(), text))
            operation.setdefault("parameters", []).append(param)


def document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document (a new dict on each call)."""
    schemas = _Schemas()
    paths = _paths(schemas)
    _declared_parameters(schemas, paths)
    out: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "ampkit serve", "version": "1",
                 "description": "A local Amplitude-compatible server: ingestion, Dashboard "
                                "REST, export, user profile, taxonomy, cohorts, annotations, "
                                "and /_ampkit admin routes. Dates lie in "
                                f"{FIRST_DAY} … {LAST_DAY}."},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.defs.items())), "securitySchemes": {
            "basicAuth": {"type": "http", "scheme": "basic",
                          "description": "A project's `api_key:secret_key`"},
            "profileApiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                              "description": "`Api-Key <secret key>`"}}},
    }
    if server_url:
        out["servers"] = [{"url": server_url}]
    return out
