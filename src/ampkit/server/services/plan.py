"""The tracking plan and the bad-event bucket: recording what broke a rule (called by
ingestion) and reading it back (``/_ampkit/bad-events``, ``/_ampkit/bad-requests/{id}``,
``/_ampkit/plan``).

Recording never fails a request: the bucket is a diagnosis, so a store error while writing it
is logged and the request answered as it would have been."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import orjson

from ampkit.models.ingest import ERR_MISSING_EVENT
from ampkit.models.plan import (
    BadEvent,
    BadEventKind,
    BadEventRequest,
    BadEventsPage,
    BadRequest,
    TrackingPlan,
)
from ampkit.models.rules import Violation
from ampkit.server.ingest import Outcome, ParsedRequest
from ampkit.server.planning import (
    Judgement,
    api_key_of,
    oversized_rows,
    plan_for,
    plan_rows,
    refusal_rows,
    request_row,
    violation_rows,
)
from ampkit.server.schema import BadEventRow
from ampkit.server.store import Store

log = logging.getLogger("ampkit.server")


def plan_of(store: Store, project_id: int) -> TrackingPlan | None:
    """The plan the project's events are checked against (its own, else the server's)."""
    return plan_for(store.projects[project_id], store.config)


def _keep(store: Store, project_id: int, path: str, body: bytes, api_key: str | None,
          rows: Sequence[BadEventRow]) -> None:
    if not rows:
        return
    try:
        store.record_bad(project_id, request_row(path, body, api_key), rows,
                         store.config.limits.bad_events_kept)
    except Exception:
        log.exception("the bad-event bucket could not be written (project %d)", project_id)


def note_unparsed(store: Store, path: str, body: bytes, refused: Outcome) -> None:
    """A request refused before its events were read (no events, too many, bad options…):
    kept when its body names a project's API key (nothing else ties it to a project)."""
    if refused.status not in (400, 413) or len(body) > store.config.limits.batch_max_bytes:
        return
    api_key = api_key_of(body)
    project = store.projects_by_key.get(api_key) if api_key else None
    if project is not None:
        _keep(store, project.project_id, path, body, api_key,
              refusal_rows(None, 0, refused))


def note_refused(store: Store, project_id: int, path: str, parsed: ParsedRequest,
                 refused: Outcome, judged: Judgement | None) -> None:
    """A request refused for its events: by Amplitude's rules or (``judged``) by the plan."""
    if judged is not None and judged.refused is refused:
        rows = plan_rows(parsed.events, judged, "rejected")
    elif refused.status == 400:
        rows = refusal_rows(parsed.events, parsed.min_id_length, refused)
    else:
        return  # throttled (429): nothing wrong with the events, they may come again
    _keep(store, project_id, path, parsed.body, parsed.api_key, rows)


def note_flagged(store: Store, project_id: int, path: str, parsed: ParsedRequest,
                 judged: Judgement) -> None:
    """A stored request whose events the plan flagged."""
    _keep(store, project_id, path, parsed.body, parsed.api_key,
          plan_rows(parsed.events, judged, "stored"))


def note_oversized(store: Store, project_id: int, path: str, parsed: ParsedRequest,
                   outcome: Outcome) -> None:
    """A stored request some of whose property updates were past the bound, not applied."""
    _keep(store, project_id, path, parsed.body, parsed.api_key,
          oversized_rows(parsed.events, outcome.oversized,
                         store.config.limits.max_user_properties_bytes))


def note_identify(store: Store, project_id: int, group: bool, raw: str | None,
                  item: Any = None, violations: Sequence[Violation] = ()) -> None:
    """A refused Identify / Group Identify request: ``item`` broke ``violations``, or (none
    given) the request had no identification object.  The body kept is its
    ``identification``."""
    rows = violation_rows(item, violations) if violations else [BadEventRow(
        "rejected_request", f"{ERR_MISSING_EVENT}: no identification object",
        "/identification", "rejected")]
    body = orjson.dumps({"identification": raw})
    _keep(store, project_id, "/groupidentify" if group else "/identify", body, None, rows)


# --- reading it back -----------------------------------------------------------------------
def plan_document(store: Store, project_id: int) -> dict[str, Any]:
    """``GET /_ampkit/plan``: the project's plan as JSON, or ``{"plan": null}``."""
    plan = plan_of(store, project_id)
    if plan is None:
        return {"plan": None}
    return plan.model_dump(mode="json", exclude_none=True)


def bad_events(store: Store, project_id: int, *, limit: int, offset: int,
               kind: BadEventKind | None = None, event_type: str | None = None,
               since: dt.datetime | None = None) -> BadEventsPage:
    """The project's bad events that match, newest first."""
    rows, total = store.bad_events_page(project_id, limit, offset, kind=kind,
                                        event_type=event_type, since=since)
    return BadEventsPage(bad_events=[_bad_event(r) for r in rows], total=total)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC)


def _bad_event(row: dict[str, Any]) -> BadEvent:
    event = row["event"]
    return BadEvent(
        id=row["id"], received_at=_utc(row["received_at"]), kind=row["kind"],
        event_type=row["event_type"], insert_id=row["insert_id"], rule=row["rule"],
        path=row["path"], disposition=row["disposition"],
        event=None if event is None else orjson.loads(event),
        request=BadEventRequest(id=row["request_id"], path=row["request_path"]))


def bad_request(store: Store, project_id: int, request_id: str) -> BadRequest | None:
    """The request body some bad events came in (``None``: no such request kept)."""
    row = store.bad_request(project_id, request_id)
    if row is None:
        return None
    return BadRequest(id=row["request_id"], path=row["path"],
                      received_at=_utc(row["received_at"]), size=row["size"],
                      truncated=row["truncated"], body=row["body"])
