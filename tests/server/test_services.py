"""The server's services without HTTP: each function on a real in-memory DuckDB with the
server's tables (annotations, cohorts, taxonomy, profile look-ups, saved charts)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import duckdb
import pytest

from ampkit.server import catalog
from ampkit.server.config import ProjectConfig
from ampkit.server.query.common import QueryParams
from ampkit.server.schema import DDL
from ampkit.server.services import annotations, cohorts, dashboard, profile, taxonomy
from ampkit.server.services.annotations import Category, New, Update
from ampkit.server.state import ProjectState

P1, P2 = 1, 2


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(":memory:")
    for ddl in DDL:
        connection.execute(ddl)
    catalog.install(connection)
    yield connection
    connection.close()


def users() -> ProjectState:
    """Project 1 with user-1 (device-1, plan pro) and user-2 (plan free)."""
    state = ProjectState(P1)
    one, _ = state.resolve("user-1", "device-1", 101)
    one.user_properties.update(plan="pro", age=31)
    two, _ = state.resolve("user-2", None, 102)
    two.user_properties.update(plan="free")
    return state


# --- annotations ---------------------------------------------------------------------------
def test_annotations_are_numbered_per_project_and_keep_their_category(
    con: duckdb.DuckDBPyConnection,
) -> None:
    plain = annotations.create(con, P1, New("v1", "2024-03-01T00:00:00+00:00", details="d"))
    assert plain.id == annotations.FIRST_ID and plain.category is None
    with pytest.raises(annotations.UnknownCategory):
        annotations.create(con, P1, New("x", "2024-03-01T00:00:00+00:00", category="Nope"))
    cat = annotations.create_category(con, P1, "Releases")
    assert cat == Category(annotations.FIRST_CATEGORY_ID, "Releases")
    with pytest.raises(annotations.CategoryExists):
        annotations.create_category(con, P1, "Releases")
    tagged = annotations.create(con, P1, New("v2", "2024-03-05T00:00:00+00:00",
                                             "2024-03-06T00:00:00+00:00", category="Releases",
                                             chart_id="c1"))
    assert tagged.id == annotations.FIRST_ID + 1 and tagged.category == cat
    assert annotations.list_annotations(con, P1) == [plain, tagged]
    assert annotations.find(con, P1, tagged.id) == tagged
    assert annotations.list_annotations(con, P2) == []
    other = annotations.create(con, P2, New("p2", "2024-03-01T00:00:00+00:00"))
    assert other.id == annotations.FIRST_ID  # ids are per project


def test_annotation_search_filters(con: duckdb.DuckDBPyConnection) -> None:
    annotations.create_category(con, P1, "R")
    early = annotations.create(con, P1, New("a", "2024-03-01T00:00:00+00:00", category="R"))
    late = annotations.create(con, P1, New("b", "2024-03-10T00:00:00+00:00",
                                           "2024-03-12T00:00:00+00:00", chart_id="c"))
    assert annotations.search(con, P1, category="R") == [early]
    assert annotations.search(con, P1, chart_id="c") == [late]
    assert annotations.search(con, P1, start="2024-03-02T00:00:00+00:00") == [late]
    # an annotation without an end ends at its start; another time zone is the same instant
    assert annotations.search(con, P1, end="2024-03-01T01:00:00+01:00") == [early]
    assert annotations.search(con, P1, end="2024-03-11T00:00:00+00:00") == [early]


def test_annotation_update_changes_only_the_given_fields(
    con: duckdb.DuckDBPyConnection,
) -> None:
    annotations.create_category(con, P1, "R")
    made = annotations.create(con, P1, New("a", "2024-03-01T00:00:00+00:00",
                                           "2024-03-02T00:00:00+00:00", "d", "R", "c"))
    renamed = annotations.update(con, P1, made.id, Update(frozenset({"label"}), label="b"))
    assert renamed is not None and (renamed.label, renamed.details, renamed.end,
                                    renamed.category) == ("b", "d", made.end, made.category)
    cleared = annotations.update(con, P1, made.id, Update(
        frozenset({"end", "category", "chart_id", "details"})))
    assert cleared == annotations.Annotation(made.id, made.start, None, "b")
    assert annotations.find(con, P1, made.id) == cleared
    with pytest.raises(annotations.UnknownCategory):
        annotations.update(con, P1, made.id, Update(frozenset({"category"}), category="Nope"))
    assert annotations.update(con, P1, 1, Update(frozenset({"label"}), label="x")) is None
    assert annotations.update(con, P2, made.id, Update()) is None  # another project's id
    assert annotations.delete(con, P1, made.id) is True
    assert annotations.delete(con, P1, made.id) is False
    assert annotations.find(con, P1, made.id) is None


def test_annotation_categories_rename_and_delete(con: duckdb.DuckDBPyConnection) -> None:
    first = annotations.create_category(con, P1, "A")
    second = annotations.create_category(con, P1, "B")
    assert second.id == first.id + 1
    with pytest.raises(annotations.CategoryExists):
        annotations.rename_category(con, P1, second.id, "A")
    assert annotations.rename_category(con, P1, second.id, "B") == second  # its own name
    assert annotations.rename_category(con, P1, second.id, "C") == Category(second.id, "C")
    assert annotations.rename_category(con, P1, 1, "D") is None
    tagged = annotations.create(con, P1, New("x", "2024-03-01T00:00:00+00:00", category="C"))
    assert annotations.delete_category(con, P1, second.id) is True
    assert annotations.delete_category(con, P1, second.id) is False
    assert annotations.categories(con, P1) == [first]
    assert annotations.category(con, P1, second.id) is None
    found = annotations.find(con, P1, tagged.id)
    assert found is not None and found.category is None  # the annotation stays, uncategorised


# --- cohorts -------------------------------------------------------------------------------
def upload(**change: object) -> cohorts.Upload:
    spec: dict[str, object] = {"name": "Pros", "ids": ["user-1", "nobody"], "by_user_id": True,
                               "owner": "me", "published": True, **change}
    return cohorts.Upload(**spec)  # type: ignore[arg-type]


def test_cohort_upload_resolves_ids(con: duckdb.DuckDBPyConnection) -> None:
    state = users()
    done = cohorts.upload(con, state, P1, upload(), now=1000)
    assert (done.matched, done.totals, done.invalid_sample) == (1, 2, ["nobody"])
    assert done.cohort_id is not None
    by_amp = cohorts.upload(con, state, P1, upload(ids=["102", "999", "x"], by_user_id=False))
    assert (by_amp.matched, by_amp.invalid_sample) == (1, ["999", "x"])
    listed = {c.id: c for c in cohorts.cohorts(con, P1)}
    assert listed[done.cohort_id].size == 1 and listed[done.cohort_id].count_group == "User"
    assert cohorts.cohorts(con, P2) == []
    with pytest.raises(cohorts.UnknownIds) as refused:
        cohorts.upload(con, state, P1, upload(skip_invalid=False))
    assert refused.value.invalid == ["nobody"]
    with pytest.raises(cohorts.UnknownCohort):
        cohorts.upload(con, state, P1, upload(existing_id="missing"))
    unsaved = cohorts.upload(con, state, P1, upload(skip_save=True))
    assert unsaved.cohort_id is None and len(cohorts.cohorts(con, P1)) == 2


def test_cohort_reupload_replaces_members_and_keeps_its_creation(
    con: duckdb.DuckDBPyConnection,
) -> None:
    state = users()
    cid = cohorts.upload(con, state, P1, upload(), now=1000).cohort_id
    assert cid is not None
    cohorts.upload(con, state, P1, upload(ids=["user-2"], existing_id=cid, name="Free"),
                   now=2000)
    (again,) = cohorts.cohorts(con, P1)
    assert (again.name, again.created_at, again.last_mod, again.size) == ("Free", 1000, 2000, 1)
    assert cohorts.member_cohorts(con, P1, 102) == [cid]
    assert cohorts.member_cohorts(con, P1, 101) == []


def test_cohort_membership_changes(con: duckdb.DuckDBPyConnection) -> None:
    state = users()
    cid = cohorts.upload(con, state, P1, upload(ids=["user-1"])).cohort_id
    assert cid is not None
    skipped = cohorts.change_members(con, state, P1, cid, [
        cohorts.Change(["102", "404"], by_name=False, add=True),
        cohorts.Change(["user-1"], by_name=True, add=False)])
    assert skipped == [["404"], []]
    assert cohorts.member_cohorts(con, P1, 102) == [cid]
    assert cohorts.member_cohorts(con, P1, 101) == []
    with pytest.raises(cohorts.UnknownCohort):
        cohorts.change_members(con, state, P1, "nope", [])
    with pytest.raises(cohorts.UnknownIds):
        cohorts.change_members(con, state, P1, cid, [cohorts.Change(["x"], True, True)],
                               skip_invalid=False)


def test_cohort_download_flow(con: duckdb.DuckDBPyConnection) -> None:
    state = users()
    cid = cohorts.upload(con, state, P1, upload(ids=["user-1", "user-2"])).cohort_id
    assert cid is not None
    assert cohorts.request_download(con, P1, "nope", True, []) is None
    rid = cohorts.request_download(con, P1, cid, True, ["plan"])
    assert rid is not None
    assert cohorts.poll(con, P2, rid) is None  # another project's request
    with pytest.raises(cohorts.NotReady):
        cohorts.download(con, state, P1, rid)
    assert cohorts.poll(con, P1, rid) == (cid, False)
    assert cohorts.poll(con, P1, rid) == (cid, True)
    text = cohorts.download(con, state, P1, rid)
    assert text is not None
    assert list(csv.reader(io.StringIO(text))) == [
        ["amplitude_id", "user_id", "user_properties"], ["101", "user-1", '{"plan":"pro"}'],
        ["102", "user-2", '{"plan":"free"}']]
    assert cohorts.download(con, state, P1, "nope") is None


# --- taxonomy ------------------------------------------------------------------------------
def test_taxonomy_names_come_from_the_events(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("INSERT INTO events (project_id, event_type, event_properties, user_properties) "
                "VALUES (1, 'open', '{\"screen\": 1}', '{\"plan\": 1}'), "
                "(1, 'buy', '{\"sku\": 1}', '{\"age\": 1}'), (2, 'other', '{\"x\": 1}', '{}')")
    assert taxonomy.event_types(con, P1) == ["buy", "open"]
    assert taxonomy.property_names(con, P1, "event_properties") == ["screen", "sku"]
    assert taxonomy.property_names(con, P1, "event_properties", "open") == ["screen"]
    assert taxonomy.property_names(con, P1, "event_properties", "") == ["screen", "sku"]
    assert taxonomy.property_names(con, P1, "user_properties") == ["age", "plan"]
    with pytest.raises(ValueError, match="not a property column"):
        taxonomy.property_names(con, P1, "extra")  # type: ignore[arg-type]


def test_taxonomy_categories(con: duckdb.DuckDBPyConnection) -> None:
    core = taxonomy.create_category(con, P1, "Core")
    assert core == taxonomy.Category(taxonomy.FIRST_CATEGORY_ID, "Core")
    with pytest.raises(taxonomy.CategoryExists):
        taxonomy.create_category(con, P1, "Core")
    assert taxonomy.create_category(con, P2, "Core").id == core.id  # per project
    assert taxonomy.rename_category(con, P1, str(core.id), "Main") is True
    assert taxonomy.rename_category(con, P1, "4999", "X") is False
    assert taxonomy.categories(con, P1) == [taxonomy.Category(core.id, "Main")]
    assert taxonomy.delete_category(con, P1, str(core.id)) is True
    assert taxonomy.delete_category(con, P1, str(core.id)) is False
    assert taxonomy.categories(con, P1) == []


# --- profile, saved charts -----------------------------------------------------------------
def test_profile_lookup(con: duckdb.DuckDBPyConnection) -> None:
    state = users()
    cid = cohorts.upload(con, state, P1, upload()).cohort_id
    by_user = profile.lookup(con, state, P1, "user-1", None, with_cohorts=True)
    assert by_user is not None and by_user.amplitude_id == 101
    assert by_user.user_properties == {"plan": "pro", "age": 31} and by_user.cohort_ids == [cid]
    by_device = profile.lookup(con, state, P1, None, "device-1", with_cohorts=False)
    assert by_device is not None and by_device.user_id == "user-1"
    assert by_device.cohort_ids is None
    unknown_user = profile.lookup(con, state, P1, "nobody", "device-1", with_cohorts=False)
    assert unknown_user is not None and unknown_user.amplitude_id == 101  # the device's user
    assert profile.lookup(con, state, P1, "nobody", "nothing", with_cohorts=False) is None


def test_saved_charts(con: duckdb.DuckDBPyConnection) -> None:
    project = ProjectConfig(project_id=P1, api_key="k" * 10, secret_key="s" * 10)
    params = QueryParams([("start", "20240301"), ("end", "20240302")])
    dashboard.save_chart(con, P1, "c1", "/api/2/events/list", params)
    assert dashboard.saved_chart(con, P1, "c1") == (
        "/api/2/events/list", '[["start","20240301"],["end","20240302"]]')
    assert dashboard.saved_chart(con, P2, "c1") is None
    assert dashboard.chart(con, project, "c1", QueryParams()) == {"data": []}
    with pytest.raises(dashboard.UnknownChart):
        dashboard.chart(con, project, "c2", QueryParams())
