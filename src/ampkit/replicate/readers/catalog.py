"""Catalog streams (full refresh only): events list, cohorts, annotations and the taxonomy.

Each is read whole and replaces the table in one transaction.  Answers are read as plain JSON
(not through the strict result models) so that a field Amplitude changes lands in
``_raw_extra`` instead of failing the sync.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard import annotations as annotation_api
from ampkit.dashboard import cohorts, taxonomy
from ampkit.dashboard.endpoint import decode
from ampkit.dashboard.queries import request
from ampkit.errors import APIStatusError
from ampkit.models.dashboard.annotations import AnnotationsQuery
from ampkit.models.dashboard.cohorts import CohortsQuery
from ampkit.models.dashboard.events import EventsListQuery
from ampkit.models.dashboard.taxonomy import TaxonomyQuery
from ampkit.replicate.plan import StreamPlan
from ampkit.replicate.readers.base import StreamRun
from ampkit.replicate.schema import records_to_table
from ampkit.replicate.source import Source

Records = list[dict[str, Any]]


def _list(body: Any, key: str, endpoint: str) -> Records:
    items = body.get(key) if isinstance(body, dict) else body
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise APIStatusError(f"expected a list under {key!r}", status=200, endpoint=endpoint)
    for index, item in enumerate(items):
        if not isinstance(item, dict):  # a shape we do not know: never a table emptied by it
            raise APIStatusError(f"expected objects in the list under {key!r}; item {index} "
                                 f"is {type(item).__name__}", status=200, endpoint=endpoint)
    return items


def _listed(request: Callable[[], RequestSpec], key: str) -> Callable[[Source], Records]:
    """A catalog read as the list under ``key`` of one Dashboard answer."""

    def fetch(source: Source) -> Records:
        spec = request()
        return _list(decode(source.query(spec), spec.path), key, spec.path)

    return fetch


def _taxonomy(source: Source, spec: RequestSpec, parse: Callable[[RawResponse], Any]) -> Records:
    raw = source.query(spec)
    if raw.status >= 300:
        parse(raw)  # raises the documented failure with Amplitude's message
    return _list(decode(raw, spec.path), "data", spec.path)


def _event_types(source: Source) -> Records:
    return _taxonomy(source, taxonomy.event_types_request(TaxonomyQuery()),
                     taxonomy.event_types_parse)


def _user_properties(source: Source) -> Records:
    return _taxonomy(source, taxonomy.user_properties_request(TaxonomyQuery()),
                     taxonomy.user_properties_parse)


def _event_properties(source: Source) -> Records:
    """Shared properties (no event type: ``event_type`` ``""``), then each event type's."""
    out: Records = []
    typed = {str(e["event_type"]) for e in _event_types(source) if e.get("event_type")}
    names = ["", *sorted(typed)]
    for name in names:
        spec = taxonomy.event_properties_request(TaxonomyQuery(event_type=name or None))
        for item in _taxonomy(source, spec, taxonomy.event_properties_parse):
            out.append({**item, "event_type": item.get("event_type") or name})
    return out


FETCHERS: dict[str, Callable[[Source], Records]] = {
    "events_list": _listed(lambda: request(EventsListQuery()), "data"),
    "cohorts": _listed(lambda: cohorts.request(CohortsQuery()), "cohorts"),
    "annotations": _listed(lambda: annotation_api.request(AnnotationsQuery(api="v2")), "data"),
    "taxonomy_event_types": _event_types,
    "taxonomy_event_properties": _event_properties,
    "taxonomy_user_properties": _user_properties,
}


class CatalogRun(StreamRun):
    """Reads one catalog whole and replaces the table."""

    def plan(self) -> StreamPlan:
        note = "whole list, replaced in one transaction"
        requests = 1
        if self.stream.name == "taxonomy_event_properties":
            requests = 2
            note += "; + 1 request per event type"
        return StreamPlan(stream=self.opts.label, mode=self.mode_label(), unit="list",
                          units=1, windows=["all"], requests=requests, cost=requests,
                          note=note)

    def execute(self) -> None:
        records = FETCHERS[self.stream.name](self.source)
        table = self.table()
        self.dest.prepare(table)
        state = self.base_state()
        with self.dest.transaction(table, replace=True) as tx:
            tx.write(records_to_table(records, self.stream.columns))
            tx.save_state(state)
        self.result.rows = tx.rows
        self.result.windows = 1
        self.ctx.reporter.committed(self.opts.label, "all", tx.rows, None)
        self.ctx.reporter.advanced(self.opts.label, 1, tx.rows)


__all__ = ["FETCHERS", "CatalogRun"]
