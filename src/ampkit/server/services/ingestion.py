"""Ingestion requests end to end (minus HTTP): checks, state updates and the write, under the
store's writer lock so deduplication and identities stay consistent across threads."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ampkit.models.ingest import ERR_INVALID_API_KEY, ERR_MISSING_EVENT, ERR_MISSING_FIELD
from ampkit.models.rules import (
    DEFAULT_MIN_ID_LENGTH,
    check_group_identification,
    check_identification,
)
from ampkit.server.ingest import (
    PATHS,
    Api,
    EventBuilder,
    Outcome,
    ParsedRequest,
    Prepared,
    apply_group_identification,
    apply_identification,
    check_events,
    check_limits,
    error,
    identify_sizes,
    invalid_key_message,
    parse_events_request,
    prepare,
)
from ampkit.server.planning import judge
from ampkit.server.services.plan import (
    note_flagged,
    note_identify,
    note_oversized,
    note_refused,
    note_unparsed,
    plan_of,
)
from ampkit.server.store import Store, now_ms
from ampkit.server.throttle import Throttle

log = logging.getLogger("ampkit.server")
ERR_STORE_FAILED = ("Internal Server Error: the event store failed and nothing of this request "
                    "was kept; send it again")


@dataclass
class TextAnswer:
    """Identify / Group Identify answers: ``200 success`` as text, errors as configured."""

    status: int
    text: str | None = None
    json: dict[str, Any] | None = None


@dataclass
class Held:
    """An ingestion request parsed and authenticated, held back so its route can apply the
    project's injected faults before :func:`accept` stores it."""

    project_id: int
    parsed: ParsedRequest
    size: int


def ingest_events(
    store: Store, api: Api, body: bytes, hold: Callable[[int], bool] | None = None,
    remote_ip: str | None = None,
) -> Outcome | Held:
    """``POST /2/httpapi`` or ``POST /batch`` with a JSON body.  When ``hold(project_id)`` is
    true the parsed request comes back as :class:`Held` instead of being stored.
    ``remote_ip``: where the request came from (an event's ``ip: "$remote"``)."""
    store.counters["requests"] += 1
    parsed = parse_events_request(body, api, store.config.limits)
    if isinstance(parsed, Outcome):
        note_unparsed(store, PATHS[api], body, parsed)
        return parsed
    parsed.remote_ip = remote_ip
    project = store.projects_by_key.get(parsed.api_key)
    if project is None:
        return error(400, invalid_key_message(parsed.api_key))
    store.states[project.project_id].counters["requests"] += 1
    if hold is not None and hold(project.project_id):
        return Held(project.project_id, parsed, len(body))
    return accept(store, project.project_id, parsed, api, len(body))


def accept(store: Store, project_id: int, parsed: ParsedRequest, api: Api, size: int) -> Outcome:
    """Validate and store one request: all of it or, when the store fails, none of it (the
    tables roll back and the in-memory state is taken again from them) — so what was
    acknowledged is what is stored, and a request retried later is stored then.

    What depends on the request alone (validation, the state-free columns of its rows) is
    worked out before the store's lock is taken, so other requests' writes go on meanwhile;
    the throttles, the project's state and the write happen under it, in arrival order.
    Requests that arrive while another holds the lock wait in :attr:`Store.ingest_waiting`
    and are stored together by the next holder, in one transaction (group commit: one
    statement per table and one commit for all of them, see :func:`_store_group`); each is
    answered only once that transaction has committed.

    With a tracking plan, the events are judged against it before the lock too (see
    :mod:`ampkit.server.planning`); what it flags or rejects, and a request refused by
    Amplitude's rules, goes to the bad-event bucket."""
    throttle = store.throttles[(project_id, api)]
    invalid = check_events(parsed, store.projects[project_id], throttle)
    plan = plan_of(store, project_id) if invalid is None else None
    judged = None if plan is None else judge(plan, parsed.events)
    if judged is not None and judged.refused is not None:
        invalid = judged.refused
    if invalid is not None:
        note_refused(store, project_id, PATHS[api], parsed, invalid, judged)
    prepared = prepare(parsed, api, size) if invalid is None else None
    ticket = _Ticket(project_id, throttle, prepared, invalid)
    waiting = store.ingest_waiting
    waiting.append(ticket)
    with store.lock:
        if ticket.outcome is None:  # not stored by the request that held the lock before
            group: list[_Ticket] = []
            while waiting:
                group.append(waiting.popleft())
            try:
                _store_group(store, group)
            finally:  # an unexpected error: every request of the group is answered
                for other in group:
                    if other.outcome is None:
                        other.outcome = error(500, ERR_STORE_FAILED)
    outcome = ticket.outcome
    if outcome is None:  # cannot happen: whoever took the ticket answered it
        outcome = error(500, ERR_STORE_FAILED)
    if judged is not None and outcome.status == 200:
        note_flagged(store, project_id, PATHS[api], parsed, judged)
    if outcome.oversized and outcome.status == 200:
        note_oversized(store, project_id, PATHS[api], parsed, outcome)
    return outcome


@dataclass
class _Ticket:
    """One request waiting for the store's lock, and, once stored, its answer."""

    project_id: int
    throttle: Throttle
    prepared: Prepared | None
    refused: Outcome | None
    outcome: Outcome | None = None


def _store_group(store: Store, group: list[_Ticket]) -> None:
    """Store the requests that were waiting for the lock (the caller holds it), in arrival
    order, in one transaction: each is checked against the throttles and built onto its
    project's state as if alone — a key stored by an earlier request of the group is a
    duplicate for a later one — and answered once the transaction has committed.

    If the transaction fails, nothing of it was kept: the throttles forget what they counted
    and the projects' state is taken again from the tables.  A request alone is then answered
    500; a group's requests are each stored again on their own, so one request the store
    cannot take fails alone."""
    at = now_ms()
    first_amplitude_id = store.next_amplitude_id
    built: list[tuple[_Ticket, Outcome]] = []
    answers: list[tuple[_Ticket, Outcome]] = []
    keys: dict[int, set[tuple[str, str]]] = {}
    seq = store.next_seq()
    try:
        for ticket in group:
            pid = ticket.project_id
            refused = (ticket.refused if ticket.prepared is None
                       else check_limits(ticket.prepared.ids, ticket.throttle, at))
            if refused is not None:
                answers.append((ticket, refused))
                continue
            assert ticket.prepared is not None
            earlier = keys.setdefault(pid, set())
            builder = EventBuilder(store.states[pid], store.next_amplitude_id,
                                   store.config.limits.max_user_properties_bytes)
            outcome = builder.build(ticket.prepared, at, seq,
                                    _recent(store, pid, at, earlier))
            store.next_amplitude_id = builder.next_amplitude_id
            ticket.throttle.record(outcome.accepted_ids, at)
            built.append((ticket, outcome))
            assert outcome.batch is not None
            seq += len(outcome.batch)
            earlier.update(k for k in ticket.prepared.keys if k is not None)
        if built:
            store.write_many([(t.project_id, o.batch) for t, o in built])
    except Exception:
        for ticket, outcome in built:
            ticket.throttle.forget(outcome.accepted_ids, at)
        store.next_amplitude_id = first_amplitude_id  # the IDs the failed builds handed out
        if len(group) == 1:
            group[0].outcome = _store_failed(store, group[0].project_id)
            return
        log.exception("the store failed to keep a group of %d requests; storing each alone",
                      len(group))
        for pid in {t.project_id for t in group}:
            store.recover(pid)
        for ticket in group:
            _store_group(store, [ticket])
        return
    for ticket, outcome in built:
        ticket.outcome = outcome
        store.count("duplicates", outcome.duplicates, ticket.project_id)
    for ticket, refused in answers:
        ticket.outcome = refused
        store.count("rejected", 1, ticket.project_id)


def _recent(store: Store, project_id: int, at: int, earlier: set[tuple[str, str]]
            ) -> Callable[[list[tuple[str, str]], list[int]], set[tuple[str, str]]]:
    """The deduplication look-up of a request in a group: the keys stored before, and the
    keys of the group's earlier requests (not written yet)."""
    def recent(keys: list[tuple[str, str]], hashes: list[int]) -> set[tuple[str, str]]:
        return store.recent_insert_ids(project_id, keys, hashes, at) | earlier.intersection(keys)
    return recent


def _store_failed(store: Store, project_id: int) -> Outcome:
    log.exception("the store failed; nothing of the request was kept (project %d)", project_id)
    store.recover(project_id)
    store.count("store_failures", 1, project_id)
    return error(500, ERR_STORE_FAILED)


def _identify_error(store: Store, message: str, **extra: Any) -> TextAnswer:
    if store.config.identify_error_format == "text":
        return TextAnswer(400, text=message)
    return TextAnswer(400, json={"code": 400, "error": message, **extra})


def identify_unreadable(store: Store, detail: str) -> TextAnswer:
    """``/identify`` or ``/groupidentify`` whose form body does not parse (a broken multipart
    body): a 400 in the identify format, naming the body."""
    store.counters["requests"] += 1
    return _identify_error(store, f"Invalid request body: {detail}")


def identify(store: Store, params: Mapping[str, str], group: bool) -> TextAnswer:
    """``/identify`` or ``/groupidentify``: ``api_key`` and a JSON-string ``identification``
    from a form body or the query string."""
    store.counters["requests"] += 1
    api_key = params.get("api_key")
    if not api_key:
        return _identify_error(store, ERR_MISSING_FIELD, missing_field="api_key")
    project = store.projects_by_key.get(api_key)
    if project is None:
        return _identify_error(store, f"{ERR_INVALID_API_KEY}: {api_key}")
    store.states[project.project_id].counters["requests"] += 1
    raw = params.get("identification")
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        data = None
    items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    if not items:
        note_identify(store, project.project_id, group, raw)
        return _identify_error(store, ERR_MISSING_EVENT)
    for i, item in enumerate(items):
        violations = (check_group_identification(item) if group
                      else check_identification(item, min_id_length=DEFAULT_MIN_ID_LENGTH))
        if violations:
            note_identify(store, project.project_id, group, raw, item, violations)
            v = violations[0]
            return _identify_error(store, f"{ERR_MISSING_EVENT}: identification[{i}].{v.field} "
                                   f"{v.rule}")
    limit = store.config.limits.max_user_properties_bytes
    with store.lock:
        state = store.states[project.project_id]
        too_large = identify_sizes(state, items, group, limit, DEFAULT_MIN_ID_LENGTH)
        if too_large is not None:  # refused before anything of it is applied
            i, exc = too_large
            return _identify_error(store, f"{ERR_MISSING_EVENT}: identification[{i}].{exc}")
        next_id = store.next_amplitude_id
        try:
            for item in items:
                if group:
                    apply_group_identification(state, item)
                else:
                    next_id = apply_identification(state, item, next_id, DEFAULT_MIN_ID_LENGTH)
            store.write(project.project_id, None)
        except Exception:
            failed = _store_failed(store, project.project_id)
            return TextAnswer(500, json=failed.body.model_dump(mode="json", exclude_none=True))
        store.next_amplitude_id = next_id
    return TextAnswer(200, text="success")
