"""``RunningServer.add_project``: the operator's way to serve one more project at runtime (what
gives each test its own project).  Real server, real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ampkit.server import ProjectConfig, ServerConfig, serve_in_thread

KEY, SECRET = "plugin-srv-key-0001", "plugin-srv-secret-0001"


def _config(**kw: object) -> ServerConfig:
    return ServerConfig(host="127.0.0.1", port=0, throttle_enabled=False,
                        projects=[ProjectConfig(project_id=1, api_key=KEY, secret_key=SECRET)],
                        **kw)  # type: ignore[arg-type]


def _send(url: str, key: str, event_type: str) -> httpx.Response:
    return httpx.post(f"{url}/2/httpapi", json={"api_key": key, "events": [
        {"event_type": event_type, "user_id": "user-0001", "user_properties": {"plan": "pro"}}]})


def test_an_added_project_is_served_apart_from_the_others() -> None:
    with serve_in_thread(_config()) as srv:
        assert _send(srv.url, "added-key-0001", "Early").status_code == 400  # unknown key yet
        srv.add_project(ProjectConfig(project_id=2, api_key="added-key-0001",
                                      secret_key="added-secret-0001"))
        assert _send(srv.url, "added-key-0001", "Mine").json()["events_ingested"] == 1
        assert _send(srv.url, KEY, "Theirs").status_code == 200
        mine = httpx.get(f"{srv.url}/_ampkit/events",
                         auth=("added-key-0001", "added-secret-0001")).json()
        theirs = httpx.get(f"{srv.url}/_ampkit/events", auth=(KEY, SECRET)).json()
        assert [(e["event_type"], e["app"]) for e in mine] == [("Mine", 2)]
        assert [(e["event_type"], e["app"]) for e in theirs] == [("Theirs", 1)]
        user = httpx.get(f"{srv.url}/_ampkit/users/user-0001",
                         auth=("added-key-0001", "added-secret-0001")).json()
        assert user["user_properties"] == {"plan": "pro"}
        # one project's key pair never reads another's: a mixed pair is refused
        assert httpx.get(f"{srv.url}/_ampkit/events",
                         auth=(KEY, "added-secret-0001")).status_code == 401
        assert [p.project_id for p in srv.store.config.projects] == [1, 2]


@pytest.mark.parametrize(("project", "field"), [
    (ProjectConfig(project_id=1, api_key="new-key-0001", secret_key="new-secret-0001"),
     "project_id"),
    (ProjectConfig(project_id=3, api_key=KEY, secret_key="new-secret-0001"), "api_key"),
    (ProjectConfig(project_id=3, api_key="new-key-0001", secret_key=SECRET), "secret_key"),
])
def test_a_project_that_clashes_is_refused_naming_the_field(project: ProjectConfig,
                                                            field: str) -> None:
    with serve_in_thread(_config()) as srv:
        with pytest.raises(ValueError, match=f"^{field}: ") as err:
            srv.add_project(project)
        assert SECRET not in str(err.value) and KEY not in str(err.value)
        assert list(srv.store.projects) == [1]
        assert _send(srv.url, "new-key-0001", "X").status_code == 400


def test_no_route_adds_a_project() -> None:
    with serve_in_thread(_config()) as srv:
        for path in ("/_ampkit/projects", "/_ampkit/project"):
            r = httpx.post(f"{srv.url}{path}", auth=(KEY, SECRET),
                           json={"project_id": 9, "api_key": "k" * 12, "secret_key": "s" * 12})
            assert r.status_code in (404, 405)
        assert list(srv.store.projects) == [1]


def test_an_added_project_finds_what_the_db_file_holds_for_it(tmp_path: Path) -> None:
    db = tmp_path / "events.duckdb"
    added = ProjectConfig(project_id=7, api_key="kept-key-0001", secret_key="kept-secret-0001")
    with serve_in_thread(_config(db=db)) as srv:
        srv.add_project(added)
        assert _send(srv.url, "kept-key-0001", "Kept").status_code == 200
    with serve_in_thread(_config(db=db)) as srv:
        srv.add_project(added)
        auth = ("kept-key-0001", "kept-secret-0001")
        events = httpx.get(f"{srv.url}/_ampkit/events", auth=auth).json()
        assert [e["event_type"] for e in events] == ["Kept"]
        user = httpx.get(f"{srv.url}/_ampkit/users/user-0001", auth=auth).json()
        assert user["user_properties"] == {"plan": "pro"}
        assert user["amplitude_id"] == events[0]["amplitude_id"]
