"""Chart annotations — list and create, v2 and v3 (reference §11)."""

from __future__ import annotations

import orjson

from ampkit.core.flow import Flow, one
from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.endpoint import Endpoint, register
from ampkit.models.dashboard.annotations import (
    Annotation,
    AnnotationsQuery,
    AnnotationsResult,
    CreateAnnotation,
)

LIST_V2 = register(Endpoint("annotations", "GET", "/api/2/annotations", AnnotationsResult))
LIST_V3 = register(Endpoint("annotations_v3", "GET", "/api/3/annotations", AnnotationsResult))
GET_V3 = register(
    Endpoint("annotation_v3", "GET", "/api/3/annotations/{annotation_id}", AnnotationsResult)
)
CREATE_V2 = register(Endpoint("create_annotation", "POST", "/api/2/annotations", Annotation))
CREATE_V3 = register(Endpoint("create_annotation_v3", "POST", "/api/3/annotations", Annotation))
JSON_HEADERS = (("Content-Type", "application/json"),)


def request(query: AnnotationsQuery) -> RequestSpec:
    if query.api == "v2":
        return LIST_V2.spec(query.params())
    if query.id is not None:
        return GET_V3.spec(annotation_id=query.id)
    return LIST_V3.spec(query.params())


def parse(raw: RawResponse) -> AnnotationsResult:
    return LIST_V2.parse(raw)


def flow(query: AnnotationsQuery) -> Flow[AnnotationsResult]:
    return one(request(query), parse)


def create_request(new: CreateAnnotation) -> RequestSpec:
    """v2: ``POST`` with every parameter in the query string, no body; v3: a JSON body."""
    if new.api == "v2":
        return CREATE_V2.spec(new.params())
    return CREATE_V3.spec(content=orjson.dumps(new.body()), headers=JSON_HEADERS)


def create_parse(raw: RawResponse) -> Annotation:
    """``{"annotation": {...}, "success": true}`` (v2) or ``{"data": {...}}`` (v3)."""
    return CREATE_V2.parse(raw)


def create_flow(new: CreateAnnotation) -> Flow[Annotation]:
    return one(create_request(new), create_parse)
