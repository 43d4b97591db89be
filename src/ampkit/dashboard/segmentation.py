"""Event segmentation — ``GET /api/2/events/segmentation`` (reference §10.13)."""

from __future__ import annotations

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.driver import QueryFlow, one
from ampkit.dashboard.endpoint import Endpoint, register
from ampkit.models.dashboard.segmentation import SegmentationQuery, SegmentationResult

SEGMENTATION = register(
    Endpoint(
        "segmentation",
        "GET",
        "/api/2/events/segmentation",
        SegmentationResult,
        kind="segmentation",
    )
)


def request(query: SegmentationQuery) -> RequestSpec:
    return SEGMENTATION.spec(query.params())


def parse(raw: RawResponse) -> SegmentationResult:
    return SEGMENTATION.parse(raw)


def flow(query: SegmentationQuery) -> QueryFlow[SegmentationResult]:
    return one(request(query), parse)
