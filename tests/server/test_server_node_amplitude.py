"""The node ``amplitude`` package (seed 004) against a real ``ampkit serve``, with nothing pointed
at the server but ``https_proxy``/``HTTPS_PROXY``: its hard-coded ``https://api.amplitude.com``
and ``https://amplitude.com/api/2`` reach the server as absolute-form targets
(:mod:`ampkit.server.proxy`), and every call keeps the promise of the package's README.

Needs node and ``npm ci`` in ``tests/node`` (``.ci/run`` does it); skipped otherwise."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.server.conftest import KEY, SECRET, Api

from ampkit.server import ProjectConfig, ServerConfig, serve_in_thread
from ampkit.server.config import ThrottleConfig

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
MODULES = NODE_DIR / "node_modules"
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()

# the package's README: what userActivity of an unknown Amplitude ID resolves with
EMPTY_USER_DATA = {
    "num_sessions": 0, "purchases": 0, "revenue": 0, "merged_amplitude_ids": [],
    "num_events": 0, "canonical_amplitude_id": 1, "user_id": None, "last_location": None,
    "usage_time": 0, "last_device_id": None, "device_ids": [],
}


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed: the node `amplitude` package cannot run")
    if not (MODULES / "amplitude" / "package.json").is_file():
        pytest.skip(f"the node `amplitude` package is not installed: run `npm ci` in {NODE_DIR}")
    return found


def proxied_env(variable: str, url: str) -> dict[str, str]:
    """This environment with the one proxy variable, and nothing else that could point the
    package at the server (or past the proxy)."""
    others = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "amplitude_token_endpoint"}
    env = {k: v for k, v in os.environ.items() if k.lower() not in others}
    return {**env, variable: url, "NODE_PATH": str(MODULES)}


def archive_events(path: Path) -> list[dict[str, Any]]:
    """The events of an export archive (a zip of gzipped JSON lines)."""
    with zipfile.ZipFile(path) as zf:
        return [orjson.loads(line) for name in zf.namelist()
                for line in gzip.decompress(zf.read(name)).splitlines() if line.strip()]


def utc_hour(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%dT%H")


@pytest.mark.parametrize("variable", ["https_proxy", "HTTPS_PROXY"])
def test_every_call_of_the_package_through_the_proxy_variable(
    api: Api, tmp_path: Path, variable: str
) -> None:
    executable = node()
    event_time = dt.datetime(2023, 3, 15, 14, 10, tzinfo=dt.UTC)
    before = dt.datetime.now(dt.UTC)  # export windows are by upload time (reference §9)
    archive = tmp_path / "export.zip"
    args = {"key": KEY, "secret": SECRET, "user": "node-user-1",
            "time": int(event_time.timestamp() * 1000), "start": "20230315", "end": "20230316",
            "exportStart": utc_hour(before), "exportEnd": utc_hour(before + dt.timedelta(hours=1)),
            "exportFile": str(archive)}
    done = subprocess.run(
        [executable, str(NODE_DIR / "amplitude_via_proxy.js"), orjson.dumps(args).decode()],
        env=proxied_env(variable, api.running.url), capture_output=True, text=True, timeout=120,
        cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = orjson.loads(done.stdout)
    for name, result in out.items():  # every answer came from the server, none from elsewhere
        assert result["ok"] or result["status"] is not None, (name, result)

    # track (one event, then an array in camelCase) and identify, to the hard-coded api host
    assert out["track"]["value"]["code"] == 200
    assert out["track"]["value"]["events_ingested"] == 1
    assert out["trackArray"]["value"]["events_ingested"] == 2
    assert out["identify"] == {"ok": True, "value": "success"}
    stored = [e for e in api.stored() if e["event_type"] != "$identify"]
    assert sorted(e["event_type"] for e in stored) == ["node_purchase", "node_signup",
                                                       "node_signup"]
    assert {e["user_id"] for e in stored} == {"node-user-1"}

    # userSearch: the README's match types
    search = out["userSearch"]["value"]
    assert search["type"] == "match_user_or_device_id"
    (match,) = search["matches"]
    assert match["user_id"] == "node-user-1" and isinstance(match["amplitude_id"], int)
    assert out["userSearchNone"]["value"] == {"matches": [], "type": "nomatch"}

    # userActivity: the user's summary and events; an unknown id resolves with empty userData
    activity = out["userActivity"]["value"]
    assert activity["userData"]["user_id"] == "node-user-1"
    assert activity["userData"]["canonical_amplitude_id"] == match["amplitude_id"]
    assert activity["userData"]["properties"] == {"plan": "pro", "logins": 1}
    assert sorted(e["event_type"] for e in activity["events"]
                  if e["event_type"] != "$identify") == ["node_purchase", "node_signup",
                                                         "node_signup"]
    unknown = out["userActivityUnknown"]["value"]
    assert {k: unknown["userData"][k] for k in EMPTY_USER_DATA} == EMPTY_USER_DATA
    assert unknown["events"] == []

    # eventSegmentation: res.data in the README's shape; an unknown event is a 400
    data = out["eventSegmentation"]["value"]["data"]
    assert data["xValues"] == ["2023-03-15", "2023-03-16"]
    assert data["series"] == [[1, 0]] and data["seriesLabels"] == [0]
    refused = out["eventSegmentationUnknown"]
    assert (refused["ok"], refused["status"]) == (False, 400)
    assert refused["data"]["error"]["metadata"]["parameter"] == "e"

    # export: a zip of the hour's gzipped JSON lines
    assert out["export"]["value"] == {"status": 200, "contentType": "application/zip"}
    lines = archive_events(archive)
    assert sorted(e["event_type"] for e in lines if e["event_type"] != "$identify") == [
        "node_purchase", "node_signup", "node_signup"]

    # a wrong secret key is Amplitude's 401, through the proxy as directly
    assert (out["wrongSecret"]["ok"], out["wrongSecret"]["status"]) == (False, 401)


def test_the_readme_example_runs_through_the_proxy(tmp_path: Path) -> None:
    executable = node()
    section = README.split("## Coming from the node `amplitude` package", 1)[1]
    (example,) = re.findall(r"```js\n(.*?)```", section.split("\n## ", 1)[0], flags=re.S)
    (tmp_path / "example.js").write_text(example)
    config = ServerConfig(port=0, throttle=ThrottleConfig(enabled=False),
                          projects=[ProjectConfig()])
    with serve_in_thread(config) as server:
        done = subprocess.run([executable, "example.js"], cwd=tmp_path, capture_output=True,
                              env=proxied_env("https_proxy", server.url), text=True,
                              timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["match_user_or_device_id node-user-1 pro", "[ [ 1 ] ]"]
    assert "Signed Up" in {e["event_type"] for e in archive_events(tmp_path / "export.zip")}
