"""Saved charts: ``POST /_ampkit/charts`` stores a Dashboard query definition, and
``GET /api/3/chart/{chart_id}/query`` / ``/csv`` answer it (reference §10.6).

A chart is ``(endpoint, params)``: the Dashboard path it stands for (``/api/2/funnels``, or a
short name such as ``funnels`` or ``events/segmentation``) and its query parameters as a JSON
object: a string is sent as is, anything else as JSON text; a list under ``e`` repeats ``e``
(funnel steps), a list of lists under ``s`` repeats ``s`` (several segments).  Saving runs
the query once, so a bad definition is refused with the usual 400; the parameters are stored
as a JSON list of ``[name, value]`` pairs.  ``/query`` answers exactly what the endpoint
answers (``{"data": …}``); ``start``/``end`` given to ``/query`` or ``/csv`` replace the saved
ones (a local extension).

CSV layout (Amplitude's is undocumented), UTF-8, header row first:

- time series (``xValues`` + ``series``): ``label, <x value>…``, one line per row;
- funnels: ``segment, group, step, event, users, cumulative, stepByStep, medianTransTime,
  avgTransTime``;
- retention: ``segment, group, cohort, size, Day 0, Day 1…`` (one column per retention cell:
  per bracket with ``rm=bracket``);
- revenue LTV: ``label, date, count, paid, total_amount, r1d…``;
- events list: its field names, one line per event type.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import orjson

from ampkit.server.query.common import Ctx, QueryError, QueryParams
from ampkit.server.query.endpoints import CHARTABLE, ENDPOINTS

ID = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


def endpoint_path(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise QueryError("endpoint", "is required: a Dashboard path such as "
                                     "/api/2/events/segmentation")
    path = name.strip()
    if not path.startswith("/"):
        path = "/api/2/" + path.removeprefix("api/2/")
    if path not in CHARTABLE:
        raise QueryError("endpoint", f"{name!r} is not a chartable Dashboard endpoint; known: "
                                     + ", ".join(sorted(CHARTABLE)))
    return path


def params_from_json(value: object) -> QueryParams:
    if value is None:
        return QueryParams()
    if not isinstance(value, dict):
        raise QueryError("params", "must be a JSON object of query parameters")
    pairs: list[tuple[str, str]] = []
    for key, item in value.items():
        repeated = isinstance(item, list) and (
            key == "e" or (key == "s" and bool(item) and all(isinstance(x, list) for x in item)))
        for one in item if repeated else [item]:
            pairs.append((str(key), one if isinstance(one, str) else orjson.dumps(one).decode()))
    return QueryParams(pairs)


def definition(body: bytes) -> tuple[str | None, str, QueryParams]:
    """``(chart_id or None, endpoint path, params)`` from a ``POST /_ampkit/charts`` body."""
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise QueryError("body", "must be a JSON object {chart_id?, endpoint, params}") from None
    if not isinstance(data, dict):
        raise QueryError("body", "must be a JSON object {chart_id?, endpoint, params}")
    chart_id = data.get("chart_id")
    if chart_id is not None and (not isinstance(chart_id, str) or not ID.match(chart_id)):
        raise QueryError("chart_id", "1-100 letters, digits, '_', '.' or '-'")
    return chart_id, endpoint_path(data.get("endpoint")), params_from_json(data.get("params"))


def new_id() -> str:
    return uuid.uuid4().hex[:8]


def stored_params(raw: str) -> QueryParams:
    pairs = orjson.loads(raw)
    return QueryParams((str(k), str(v)) for k, v in pairs)


def as_json(params: QueryParams) -> str:
    return orjson.dumps([list(p) for p in params.items]).decode()


def run(ctx: Ctx, endpoint: str, params: QueryParams, overrides: QueryParams) -> Any:
    values = {k: v for k in ("start", "end") if (v := overrides.get(k))}
    return ENDPOINTS[endpoint](ctx, params.replace(**values) if values else params)


# --- CSV -------------------------------------------------------------------------------------


def _label(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("groupValue", value.get("segmentIndex", "")))
    return "" if value is None else str(value)


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.get("value") if isinstance(value, dict) else value


def to_csv(body: Any) -> str:
    data = body.get("data") if isinstance(body, dict) else body
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    if isinstance(data, dict) and "xValues" in data:
        labels = data.get("seriesLabels") or data.get("seriesMeta") or []
        w.writerow(["label", *data["xValues"]])
        for i, row in enumerate(data.get("series") or []):
            w.writerow([_label(labels[i] if i < len(labels) else i), *map(_cell, row)])
    elif isinstance(data, list) and data and isinstance(data[0], dict) and "cumulativeRaw" in \
            data[0]:
        w.writerow(["segment", "group", "step", "event", "users", "cumulative", "stepByStep",
                    "medianTransTime", "avgTransTime"])
        for g in data:
            for k, name in enumerate(g["events"]):
                w.writerow([g["meta"].get("segmentIndex"), g["meta"].get("groupValue", ""), k,
                            name, g["cumulativeRaw"][k], g["cumulative"][k],
                            g["stepByStep"][k], g["medianTransTimes"][k],
                            g["avgTransTimes"][k]])
    elif isinstance(data, dict) and "seriesLabels" in data and "series" in data:
        keys = [k for k in next((v for s in data["series"] for v in s["values"].values()), {})]
        w.writerow(["label", "date", *keys])
        for label, s in zip(data["seriesLabels"], data["series"], strict=False):
            for date in s["dates"]:
                w.writerow([_label(label), date, *(s["values"][date].get(k) for k in keys)])
    elif isinstance(data, dict) and "series" in data:
        series, meta = data["series"], data.get("seriesMeta") or []
        width = max((len(c) for s in series for c in s["values"].values()), default=1) - 1
        w.writerow(["segment", "group", "cohort", "size", *[f"Day {k}" for k in range(width)]])
        for i, s in enumerate(series):
            m = meta[i] if i < len(meta) else {}
            for date in s["dates"]:
                cells = s["values"][date]
                w.writerow([m.get("segmentIndex", i), m.get("groupValue", ""), date,
                             *(c["count"] for c in cells)])
    elif isinstance(data, list):
        keys = list(data[0]) if data else ["value", "totals"]
        w.writerow(keys)
        for item in data:
            w.writerow([_cell(item.get(k)) for k in keys])
    return out.getvalue()
