"""Project-level actions: behavioral cohorts, saved charts, annotations, and a raw request."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from ampkit.actions.base import ActionInput, ActionOutput, Day
from ampkit.actions.registry import REGISTRY
from ampkit.client import Amplitude
from ampkit.models.dashboard import Annotation, Cohort
from ampkit.models.dashboard.common import rule_error
from ampkit.models.inputs import Native, amplitude_url, header_pairs

ID = r"^[A-Za-z0-9_.\-]+$"
MAX_TEXT = 20_000
"""Characters of a non-JSON body returned by custom_request (the rest is cut)."""


class CohortsInput(ActionInput):
    include_sync_info: bool = Field(default=False, description="Include each cohort's sync "
                                    "destinations.")


class CohortsOutput(ActionOutput):
    cohorts: list[Cohort] = Field(default_factory=list, description="Every behavioral cohort.")


@REGISTRY.action("list_cohorts", title="List cohorts", read_only=True, idempotent=True)
def list_cohorts(client: Amplitude, args: CohortsInput) -> CohortsOutput:
    """Every behavioral cohort of the project: id, name, size, owners, definition
    (GET /api/3/cohorts). Needs the secret key."""
    return CohortsOutput(cohorts=client.cohorts(include_sync_info=args.include_sync_info).cohorts)


class CohortMembersInput(ActionInput):
    cohort_id: str = Field(min_length=1, max_length=100, pattern=ID,
                           description="The cohort's id (from list_cohorts).")
    props: bool = Field(default=False, description="Include the members' user properties.")
    prop_keys: list[str] = Field(default_factory=list, description="With props: only these "
                                 "properties.")
    max_members: int = Field(default=100, ge=0, le=10_000, description="How many members to "
                             "return (the rest are only counted).")
    max_wait: float = Field(default=300, ge=1, le=3600, description="Seconds to wait for "
                            "Amplitude to compute the cohort.")
    poll_interval: float = Field(default=5, ge=0.05, le=60, description="Seconds between "
                                 "checks while waiting.")


class CohortMembersOutput(ActionOutput):
    total: int = Field(default=0, description="Members of the cohort.")
    members: list[dict[str, str]] = Field(default_factory=list, description="The first "
                                          "members: amplitude_id, user_id and properties.")
    truncated: bool = Field(default=False, description="True when total > len(members).")


@REGISTRY.action("cohort_members", title="Cohort members", read_only=True, idempotent=True)
def cohort_members(client: Amplitude, args: CohortMembersInput) -> CohortMembersOutput:
    """The members of a behavioral cohort: asks Amplitude for the cohort, waits until it is
    ready (up to max_wait seconds) and reads the file. Needs the secret key."""
    rows = client.cohort_members(args.cohort_id, props=args.props, prop_keys=args.prop_keys,
                                 poll_interval=min(args.poll_interval, args.max_wait),
                                 max_wait=args.max_wait).rows()
    return CohortMembersOutput(total=len(rows), members=rows[: args.max_members],
                               truncated=len(rows) > args.max_members)


CHART_TYPES = {"json": "json", "query": "json", "csv": "csv"}
"""A chart's format by name: ampkit's (json, csv) and Appsmith's (Query, CSV)."""


class ChartInput(ActionInput):
    chart_id: str = Field(min_length=1, max_length=100, pattern=ID,
                          description="The saved chart's id (the end of its URL).")
    format: Annotated[Literal["json", "csv"], Native("type")] = Field(
        default="json", description="JSON data or the CSV export of the chart (also "
        "type=Query or type=CSV, Appsmith's names).")

    @field_validator("format", mode="before")
    @classmethod
    def _appsmith_type(cls, value: object) -> object:
        """Appsmith's chart "Type" choices: Query (the JSON results) and CSV, any case."""
        if isinstance(value, str):
            return CHART_TYPES.get(value.strip().lower(), value)
        return value


class ChartOutput(ActionOutput):
    data: Any = Field(default=None, description="format 'json': the chart's data (its shape "
                      "depends on the chart type).")
    csv: str | None = Field(default=None, description="format 'csv': the CSV text.")


@REGISTRY.action("chart_results", title="Saved chart results", read_only=True,
                 idempotent=True)
def chart_results(client: Amplitude, args: ChartInput) -> ChartOutput:
    """The results of a saved chart, as JSON data or CSV text
    (GET /api/3/chart/{id}/query or /csv). Needs the secret key."""
    if args.format == "csv":
        return ChartOutput(csv=client.chart_csv(args.chart_id).text)
    return ChartOutput(data=client.chart(args.chart_id).data)


class AnnotationsInput(ActionInput):
    api: Literal["v2", "v3"] = Field(default="v2", description="v2 lists every annotation; "
                                     "v3 adds categories and time filters.")
    annotation_id: int | None = Field(default=None, ge=0, description="Only this one.")
    category: str | None = Field(default=None, description="v3: only this category.")
    chart_id: str | None = Field(default=None, description="v3: only this chart's.")
    start: dt.datetime | None = Field(default=None, description="v3: from (ISO 8601).")
    end: dt.datetime | None = Field(default=None, description="v3: until (ISO 8601).")


class AnnotationsOutput(ActionOutput):
    annotations: list[Annotation] = Field(default_factory=list, description="The annotations.")


@REGISTRY.action("list_annotations", title="List annotations", read_only=True,
                 idempotent=True)
def list_annotations(client: Amplitude, args: AnnotationsInput) -> AnnotationsOutput:
    """Chart annotations of the project (GET /api/2/annotations, or /api/3/annotations with
    api 'v3'). Needs the secret key."""
    result = client.annotations(api=args.api, annotation_id=args.annotation_id,
                                category=args.category, chart_id=args.chart_id,
                                start=args.start, end=args.end)
    return AnnotationsOutput(annotations=result.annotations)


class CreateAnnotationInput(ActionInput):
    label: str = Field(min_length=1, max_length=500, description="The annotation's text.")
    date: Day | None = Field(default=None, description="v2: the day (with app_id).")
    app_id: int | None = Field(default=None, ge=0, description="v2: the project id.")
    start: dt.datetime | None = Field(default=None, description="v3: when (ISO 8601).")
    end: dt.datetime | None = Field(default=None, description="v3: until (a time range).")
    category: str | None = Field(default=None, description="v3: category name.")
    chart_id: str | None = Field(default=None, description="Only on this chart (default: "
                                 "every chart).")
    details: str | None = Field(default=None, description="Longer description.")


class AnnotationOutput(ActionOutput):
    annotation: Annotation | None = Field(default=None, description="The new annotation.")


@REGISTRY.action("create_annotation", title="Create an annotation", read_only=False)
def create_annotation(client: Amplitude, args: CreateAnnotationInput) -> AnnotationOutput:
    """Add an annotation to the project's charts: date + app_id (v2), or start and optionally
    end, category (v3). Needs the secret key."""
    return AnnotationOutput(annotation=client.create_annotation(
        args.label, date=args.date, app_id=args.app_id, start=args.start, end=args.end,
        category=args.category, chart_id=args.chart_id, details=args.details))


class CustomInput(ActionInput):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        default="GET", description="HTTP method (any case: 'get' is GET).")

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value
    path: Annotated[str, Native("url")] = Field(
        min_length=1, max_length=2000, pattern=r"^(/|https?://)",
        description="Path on the API host, e.g. '/api/2/events/list', or an Amplitude URL "
        "such as 'https://amplitude.com/api/2/realtime' (also as url; its host gives the "
        "family; the request goes to the configured host).")
    params: dict[str, str | list[str]] | None = Field(default=None, description="Query "
                                                       "parameters (a list repeats the key).")
    body: Any = Field(default=None, description="JSON body.")
    headers: dict[str, str] | None = Field(default=None, description="Extra request headers "
                                           "(not Authorization: auth comes from the keys).")
    family: Literal["analytics", "ingest", "profile"] | None = Field(
        default=None, description="Which host and auth: analytics (Dashboard, Basic auth; the "
        "default), ingest (API key in the body), profile (User Profile API); default: the "
        "URL's host, else analytics.")

    @field_validator("path")
    @classmethod
    def _amplitude_url(cls, value: str) -> str:
        amplitude_url(value)  # a URL must be on an Amplitude host, without credentials
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        header_pairs(value)
        return value

    @model_validator(mode="after")
    def _family_of_url(self) -> Self:
        url = amplitude_url(self.path)
        if url is not None and self.family is not None and self.family != url.family:
            raise rule_error("family", f"{self.family} does not match the URL's host, an "
                             f"{url.family} host")
        return self


class CustomOutput(ActionOutput):
    data: Any = Field(default=None, description="The answer's JSON, when it is JSON.")
    text: str | None = Field(default=None, description="The answer's text when it is not JSON "
                             f"(at most {MAX_TEXT:,} characters).")
    truncated: bool = Field(default=False, description=(
        f"True when text holds only the first {MAX_TEXT:,} characters of a longer answer."))
    binary_bytes: int | None = Field(default=None, description=(
        "The size of an answer that is binary (an Export ZIP), which text does not hold: use "
        "export_events for events, or ampkit request to a file."))
    content_type: str | None = Field(default=None, description="The answer's Content-Type.")


@REGISTRY.action("custom_request", title="Custom API request", read_only=False,
                 destructive=True)
def custom_request(client: Amplitude, args: CustomInput) -> CustomOutput:
    """Any Amplitude API request ampkit has no action for, with the project's auth, retries and
    limits. Error statuses come back as success false with the status in code."""
    pairs = [(k, v) for k, vs in (args.params or {}).items()
             for v in ([vs] if isinstance(vs, str) else vs)]
    answer = client.request(args.method, args.path, params=pairs or None, json=args.body,
                            family=args.family, headers=args.headers)
    kind = answer.headers.get("content-type")
    if answer.data is not None:
        return CustomOutput(code=answer.status, data=answer.data, content_type=kind)
    if answer.binary:  # decoded as text, a ZIP would come back corrupted
        return CustomOutput(code=answer.status, binary_bytes=len(answer.raw.content),
                            content_type=kind)
    text = answer.text
    return CustomOutput(code=answer.status, text=text[:MAX_TEXT] or None,
                        truncated=len(text) > MAX_TEXT, content_type=kind)
