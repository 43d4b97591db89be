"""Chart annotations — list and create, v2 and v3 (reference §11)."""

from __future__ import annotations

import orjson

from ampkit.core.spec import RequestSpec
from ampkit.dashboard.endpoint import Endpoint, one_request, register
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


parse = LIST_V2.parse
flow = one_request(request, parse)


def create_request(new: CreateAnnotation) -> RequestSpec:
    """v2: ``POST`` with every parameter in the query string, no body; v3: a JSON body."""
    if new.api == "v2":
        return CREATE_V2.spec(new.params())
    return CREATE_V3.spec(content=orjson.dumps(new.body()), headers=JSON_HEADERS)


create_parse = CREATE_V2.parse
"""``{"annotation": {...}, "success": true}`` (v2) or ``{"data": {...}}`` (v3)."""
create_flow = one_request(create_request, create_parse)
