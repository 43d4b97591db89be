"""examples/dagster_amplitude.py: one sync per Amplitude project under Dagster (dagster-dlt).

Without Dagster (the dev install): the file compiles, what it imports from ampkit exists and
takes the arguments it passes, and its dlt half (``project_source``/``project_pipeline``, run
as plain dlt pipelines) loads each project's own events from a real ``ampkit serve`` holding
two projects.  With Dagster (``pip install -e '.[dagster]'``, CI's optional step): the
example's Definitions materialise every project's assets, twice — the second run reads the
event sent in between, and nothing is doubled.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib.util
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import httpx
import pytest
from tests.lazy import Lazy, lazy_or_skip
from tests.replicate.conftest import tls

from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread

lazy_or_skip("dlt")
dlt_source = Lazy("ampkit.replicate.dlt_source")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dagster_amplitude.py"
PROJECTS = {"web": (31, "web-key-0000001", "web-secret-0000001"),
            "app": (32, "app-key-0000001", "app-secret-0000001")}
SENT = {"web": 3, "app": 2}
DLT_HALF = ("PROJECT_NAME", "projects", "project_source", "project_pipeline")


@pytest.fixture
def two_projects() -> Iterator[RunningServer]:
    config = ServerConfig(port=0, throttle_enabled=False, projects=[
        ProjectConfig(project_id=pid, api_key=key, secret_key=secret)
        for pid, key, secret in PROJECTS.values()])
    srv = serve_in_thread(config)
    for name, count in SENT.items():
        send(srv, name, count)
    yield srv
    srv.stop()


def send(srv: RunningServer, project: str, count: int, first: int = 0) -> None:
    at = int((dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).timestamp() * 1000)
    events = [{"event_type": "Open", "user_id": f"{project}-user-{i:05d}", "time": at,
               "insert_id": f"{project}-{i}", "event_properties": {"n": i}}
              for i in range(first, first + count)]
    r = httpx.post(f"{srv.url}/batch", json={"api_key": PROJECTS[project][1], "events": events},
                   timeout=30, verify=tls())
    assert r.status_code == 200, r.text


@pytest.fixture
def project_env(two_projects: RunningServer, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example's variables for both projects; dlt's files and DuckDB files in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-home"))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")  # no posts to dlthub per step
    monkeypatch.setenv("AMPKIT_PROJECTS", ",".join(PROJECTS))
    monkeypatch.setenv("AMPKIT_STREAMS", "events")
    monkeypatch.setenv("AMPKIT_EXPORT_DELAY_HOURS", "0")  # ampkit serve: the open hour too
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    monkeypatch.setenv("AMPKIT_ANCHOR_DATE", yesterday.isoformat())
    for name, (_, key, secret) in PROJECTS.items():
        monkeypatch.setenv(f"AMPLITUDE_{name.upper()}_API_KEY", key)
        monkeypatch.setenv(f"AMPLITUDE_{name.upper()}_SECRET_KEY", secret)
        monkeypatch.setenv(f"AMPLITUDE_{name.upper()}_BASE_URL", two_projects.url)
    return tmp_path


def loaded(folder: Path, project: str) -> list[str]:
    """The insert_ids in a project's DuckDB file, sorted."""
    con = duckdb.connect(str(folder / f"ampkit_{project}.duckdb"), read_only=True)
    try:
        rows = con.execute(f"SELECT insert_id FROM amplitude_{project}.events").fetchall()
    finally:
        con.close()
    return sorted(str(r[0]) for r in rows)


def sent(project: str, count: int) -> list[str]:
    return sorted(f"{project}-{i}" for i in range(count))


def test_the_example_compiles_and_calls_ampkit_as_it_is() -> None:
    tree = ast.parse(EXAMPLE.read_text(), str(EXAMPLE))
    compile(tree, str(EXAMPLE), "exec")
    imported = {(node.module, alias.name) for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert ("ampkit.replicate.dlt_source", "amplitude_source") in imported
    assert ("dagster_dlt", "dlt_assets") in imported  # dagster's own dlt integration
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "id", None) == "amplitude_source"]
    assert len(calls) == 1
    accepted = inspect.signature(dlt_source.amplitude_source).parameters
    assert {k.arg for k in calls[0].keywords} <= set(accepted)
    # one set of assets and one schedule per project
    assert re.search(r"project_assets\(p\) for p in projects\(\)", EXAMPLE.read_text())
    assert re.search(r"project_schedule\(p\) for p in projects\(\)", EXAMPLE.read_text())


def _needs_no_dagster(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        return not any(a.name.startswith("dagster") for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return not (node.module or "").startswith("dagster")
    if isinstance(node, ast.Assign):
        return any(getattr(t, "id", None) in DLT_HALF for t in node.targets)
    return getattr(node, "name", None) in DLT_HALF


def dlt_half() -> ModuleType:
    """The example's functions that need no Dagster, compiled from its own text."""
    tree = ast.parse(EXAMPLE.read_text(), str(EXAMPLE))
    keep = [node for node in tree.body if _needs_no_dagster(node)]
    module = ModuleType("dagster_amplitude_dlt_half")
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(EXAMPLE), "exec"),
         module.__dict__)
    return module


def test_one_dlt_pipeline_per_project_loads_that_projects_events(project_env: Path) -> None:
    half = dlt_half()
    assert half.projects() == list(PROJECTS)
    for project in half.projects():
        half.project_pipeline(project).run(half.project_source(project))
    for project, count in SENT.items():
        assert loaded(project_env, project) == sent(project, count)


def test_bad_project_names_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPKIT_PROJECTS", "web,Bad Name")
    with pytest.raises(ValueError, match="'Bad Name' must be lower-case"):
        dlt_half().projects()


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("dagster_amplitude_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(240)
def test_dagster_materialises_each_project_twice(
    two_projects: RunningServer, project_env: Path
) -> None:
    dg = pytest.importorskip("dagster")
    pytest.importorskip("dagster_dlt")
    example = load_example()
    assets = list(example.defs.assets)
    keys = {key.to_user_string() for a in assets for key in a.keys}
    assert keys == {f"{p}/dlt_ampkit_events" for p in PROJECTS}
    assert len(list(example.defs.schedules)) == len(PROJECTS)

    instance = dg.DagsterInstance.ephemeral()  # one instance for both runs, as in a deployment
    first = dg.materialize(assets, resources=example.defs.resources, instance=instance)
    assert first.success
    for project, count in SENT.items():
        assert loaded(project_env, project) == sent(project, count)

    send(two_projects, "web", 1, first=SENT["web"])  # one event more, in web only
    second = dg.materialize(assets, resources=example.defs.resources,  # the same assets
                            instance=instance)
    assert second.success
    assert loaded(project_env, "web") == sent("web", SENT["web"] + 1)
    assert loaded(project_env, "app") == sent("app", SENT["app"])
