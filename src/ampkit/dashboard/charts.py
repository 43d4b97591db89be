"""Saved chart results — ``GET /api/3/chart/{chart_id}/query`` (JSON) and ``/csv`` (§10.6).

The docs moved from ``/query`` to ``/csv`` in March 2025; both are offered.  The CSV layout is
undocumented (unconfirmed), so it is kept as text.
"""

from __future__ import annotations

from ampkit.core.flow import Flow, one
from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.endpoint import Endpoint, one_request, register
from ampkit.errors import error_for
from ampkit.models.dashboard.charts import ChartCsv, ChartQuery, ChartResult

CHART_QUERY = register(Endpoint("chart", "GET", "/api/3/chart/{chart_id}/query", ChartResult))
CHART_CSV = register(Endpoint("chart_csv", "GET", "/api/3/chart/{chart_id}/csv", ChartCsv))


def request(query: ChartQuery) -> RequestSpec:
    return CHART_QUERY.spec(query.params(), chart_id=query.chart_id)


parse = CHART_QUERY.parse
flow = one_request(request, parse)


def csv_request(query: ChartQuery) -> RequestSpec:
    return CHART_CSV.spec(query.params(), chart_id=query.chart_id)


def csv_parse(raw: RawResponse, chart_id: str) -> ChartCsv:
    if raw.status >= 300:
        raise error_for(raw.status, raw.content, endpoint=CHART_CSV.path, headers=raw.headers)
    return ChartCsv.from_text(chart_id, raw.content.decode("utf-8-sig", "replace"))


def csv_flow(query: ChartQuery) -> Flow[ChartCsv]:
    return one(csv_request(query), lambda raw: csv_parse(raw, query.chart_id))
