"""Behavioral cohorts (reference §13): list, upload, incremental membership, and the
asynchronous download (request → poll → file).

Ids are resolved against the project's in-memory identities (a user id, or an Amplitude ID
the project has), so these functions take the :class:`ProjectState` beside the connection and
run under the store's lock.  A download request is done after ``COHORT_POLLS`` status polls
(default 1); the file is CSV: ``amplitude_id,user_id`` plus the requested user properties as
JSON text (Amplitude's format is not documented)."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import orjson

from ampkit.server.state import ProjectState

Connection = duckdb.DuckDBPyConnection
COHORT_POLLS = 1


@dataclass(frozen=True)
class Cohort:
    id: str
    name: str
    description: str | None
    owner: str | None
    published: bool
    count_group: str
    created_at: int
    last_mod: int
    archived: bool
    size: int


@dataclass(frozen=True)
class Upload:
    """A cohort's definition and members (``ids``: user ids, or Amplitude IDs as text)."""

    name: str
    ids: Sequence[str]
    by_user_id: bool
    owner: str
    published: bool
    description: str | None = None
    count_group: str | None = None
    existing_id: str | None = None
    skip_invalid: bool = True
    skip_save: bool = False


@dataclass(frozen=True)
class Matched:
    cohort_id: str | None
    """``None`` when the upload was not saved (``skip_save``)."""
    matched: int
    totals: int
    invalid_sample: list[str]


@dataclass(frozen=True)
class Change:
    """Members to add (or remove): user ids (``by_name``) or Amplitude IDs as text."""

    ids: Sequence[str]
    by_name: bool
    add: bool


class UnknownIds(ValueError):
    """Ids the project does not know, with ``skip_invalid`` off."""

    def __init__(self, invalid: list[str]) -> None:
        super().__init__(f"{len(invalid)} ids are unknown")
        self.invalid = invalid


class UnknownCohort(LookupError):
    def __init__(self, cohort_id: str) -> None:
        super().__init__(cohort_id)
        self.cohort_id = cohort_id


class NotReady(Exception):
    """The download was asked for before its request-status answered done."""


def resolve(state: ProjectState, ids: Sequence[str],
            by_user_id: bool) -> tuple[list[int], list[str]]:
    """``(Amplitude IDs found, ids not found)``."""
    found: list[int] = []
    invalid: list[str] = []
    for raw in ids:
        if by_user_id:
            amp = state.by_user.get(raw)
        else:
            amp = int(raw) if raw.isascii() and raw.isdigit() and int(raw) in state.users \
                else None
        if amp is None:
            invalid.append(raw)
        else:
            found.append(amp)
    return found, invalid


def cohorts(cur: Connection, project_id: int) -> list[Cohort]:
    rows = cur.execute(
        "SELECT c.id, c.name, c.description, c.owner, c.published, c.count_group, "
        "c.created_at, c.last_mod, c.archived, count(m.amplitude_id) FROM cohorts c "
        "LEFT JOIN cohort_members m ON m.project_id = c.project_id AND m.cohort_id = c.id "
        "WHERE c.project_id = ? GROUP BY ALL ORDER BY c.id", [project_id]).fetchall()
    return [Cohort(*row) for row in rows]


def exists(cur: Connection, project_id: int, cohort_id: str) -> bool:
    row = cur.execute("SELECT count(*) FROM cohorts WHERE project_id = ? AND id = ?",
                      [project_id, cohort_id]).fetchone()
    return bool(row and row[0])


def upload(con: Connection, state: ProjectState, project_id: int, spec: Upload,
           now: int | None = None) -> Matched:
    """Save the cohort (a new one, or ``existing_id`` replaced: members and definition) unless
    ``skip_save``.  :class:`UnknownIds` when ids are unknown and ``skip_invalid`` is off,
    :class:`UnknownCohort` when ``existing_id`` names no cohort."""
    found, invalid = resolve(state, spec.ids, spec.by_user_id)
    if invalid and not spec.skip_invalid:
        raise UnknownIds(invalid)
    cid = spec.existing_id or uuid.uuid4().hex[:7]
    if spec.skip_save:
        return Matched(None, len(found), len(spec.ids), invalid[:10])
    at = int(time.time()) if now is None else now
    existing = con.execute("SELECT created_at FROM cohorts WHERE project_id = ? AND id = ?",
                           [project_id, cid]).fetchone()
    if spec.existing_id and existing is None:
        raise UnknownCohort(cid)
    con.execute("INSERT OR REPLACE INTO cohorts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [project_id, cid, spec.name, spec.description, spec.owner, spec.published,
                 spec.count_group or "User", existing[0] if existing else at, at, False])
    con.execute("DELETE FROM cohort_members WHERE project_id = ? AND cohort_id = ?",
                [project_id, cid])
    if found:
        con.execute("INSERT OR IGNORE INTO cohort_members SELECT ?, ?, UNNEST($3::BIGINT[])",
                    [project_id, cid, sorted(set(found))])
    return Matched(cid, len(found), len(spec.ids), invalid[:10])


def change_members(con: Connection, state: ProjectState, project_id: int, cohort_id: str,
                   changes: Sequence[Change], skip_invalid: bool = True) -> list[list[str]]:
    """Apply the changes in order, all or none; the ids skipped, per change.
    :class:`UnknownCohort`, or :class:`UnknownIds` (``skip_invalid`` off: nothing applied)."""
    if not exists(con, project_id, cohort_id):
        raise UnknownCohort(cohort_id)
    skipped: list[list[str]] = []
    for change in changes:
        found, invalid = resolve(state, change.ids, change.by_name)
        if invalid and not skip_invalid:
            raise UnknownIds(invalid)
        if found and change.add:
            con.execute("INSERT OR IGNORE INTO cohort_members SELECT ?, ?, "
                        "UNNEST($3::BIGINT[])", [project_id, cohort_id, sorted(set(found))])
        elif found:
            con.execute("DELETE FROM cohort_members WHERE project_id = ? AND cohort_id = ? "
                        "AND amplitude_id IN (SELECT UNNEST($3::BIGINT[]))",
                        [project_id, cohort_id, sorted(set(found))])
        skipped.append(invalid)
    return skipped


def member_cohorts(cur: Connection, project_id: int, amplitude_id: int) -> list[str]:
    """The ids of the cohorts the user belongs to."""
    rows = cur.execute("SELECT cohort_id FROM cohort_members WHERE project_id = ? AND "
                       "amplitude_id = ? ORDER BY cohort_id", [project_id, amplitude_id])
    return [r[0] for r in rows.fetchall()]


# --- the download --------------------------------------------------------------------------
def request_download(con: Connection, project_id: int, cohort_id: str, props: bool,
                     prop_keys: Sequence[str]) -> str | None:
    """A new download request's id, or ``None`` when there is no such cohort."""
    if not exists(con, project_id, cohort_id):
        return None
    rid = uuid.uuid4().hex
    con.execute("INSERT INTO cohort_requests VALUES (?, ?, ?, ?, ?, 0)",
                [project_id, rid, cohort_id, props, orjson.dumps(list(prop_keys)).decode()])
    return rid


def poll(con: Connection, project_id: int, request_id: str) -> tuple[str, bool] | None:
    """Count one status poll: ``(cohort id, done)``, or ``None`` for an unknown request."""
    found = con.execute("SELECT cohort_id, polls FROM cohort_requests WHERE project_id = ? "
                        "AND request_id = ?", [project_id, request_id]).fetchone()
    if found is None:
        return None
    polls = found[1] + 1
    con.execute("UPDATE cohort_requests SET polls = ? WHERE project_id = ? AND request_id = ?",
                [polls, project_id, request_id])
    return found[0], polls > COHORT_POLLS


def download(con: Connection, state: ProjectState, project_id: int,
             request_id: str) -> str | None:
    """The CSV file of a finished request, ``None`` for an unknown request
    (:class:`NotReady` before it is done)."""
    found = con.execute("SELECT cohort_id, props, prop_keys, polls FROM cohort_requests WHERE "
                        "project_id = ? AND request_id = ?", [project_id, request_id]).fetchone()
    if found is None:
        return None
    cid, props, prop_keys, polls = found
    if polls <= COHORT_POLLS:
        raise NotReady
    members = con.execute("SELECT amplitude_id FROM cohort_members WHERE project_id = ? AND "
                          "cohort_id = ? ORDER BY amplitude_id", [project_id, cid]).fetchall()
    keys: list[str] = orjson.loads(prop_keys)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["amplitude_id", "user_id", *(["user_properties"] if props else [])])
    for (amp,) in members:
        user = state.users.get(amp)
        row: list[Any] = [amp, user.user_id if user else ""]
        if props:
            values = dict(user.user_properties) if user else {}
            if keys:
                values = {k: v for k, v in values.items() if k in keys}
            row.append(orjson.dumps(values).decode())
        writer.writerow(row)
    return out.getvalue()
