"""Amplitude's own Dashboard REST API documentation (seed 002): each of its ``curl`` commands,
as printed there, against ``ampkit serve``.

The commands are read from the seed document itself.  Only what the documentation asks its
reader to fill in is filled in (``STARTDATE``, ``PROPERTY``, ``{api_key}``, ``:chart_id`` …) and
the host becomes the local server's.  One change is needed for curl itself, not for the API:
curl reads ``{…}`` in a URL as a glob, so the commands whose URL carries an event as JSON need
``--globoff`` (``-g``); without it curl drops the braces and Amplitude (and ampkit) answer 400.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import KEY, SECRET, config

from ampkit.server import RunningServer, serve_in_thread

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seeds" / "002_f7da6d0dc5d4e81f.txt"
CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="curl is not installed")

DAY0 = 1_709_294_400_000  # 2024-03-01 12:00 UTC
FILL = {  # what the documentation asks the reader to put in
    "STARTDATE": "20240301", "ENDDATE": "20240310", "&end=DATE": "&end=20240310",
    "start=&end=": "start=20240301&end=20240310", "PROPERTY": "country",
    "YOUR%20EVENT": "Play%20Song", "EVENT_1": "Sign%20Up", "EVENT_2": "Play%20Song",
    "STARTEVENT": "Sign%20Up", "RETURNEVENT": "Play%20Song", "USER_ID": "user-00001",
}


def documented_commands() -> list[str]:
    """Every ``curl`` command of the seed: its lines, joined where they end in a backslash —
    and where the ``-u`` line follows without one (three commands of the page lack it: pasted
    as printed, curl sends no credentials and the answer is a 401, from Amplitude as from
    ampkit; a reader joins the lines)."""
    text = SEED.read_text()
    commands = re.findall(r"^(curl --location .*?(?:\\\n.*?)*)$(?:\n(-u .*)$)?", text, flags=re.M)
    return [(c + " " + u).strip().replace("\\\n", " ") for c, u in commands]


def test_the_seed_shows_fourteen_commands() -> None:
    commands = documented_commands()
    assert len(commands) == 14
    assert all("https://amplitude.com/api/" in c for c in commands)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    srv = serve_in_thread(config(throttle_enabled=False))
    events = []
    for u in range(1, 4):
        for k, etype in enumerate(["Sign Up", "Play Song", "Play Song"]):
            events.append({"event_type": etype, "user_id": f"user-{u:05d}",
                           "time": DAY0 + u * 86_400_000 + k * 60_000,
                           "session_id": DAY0 + u * 86_400_000, "country": "France",
                           "price": 2.0, "quantity": 1} if k == 2 and u == 1 else
                          {"event_type": etype, "user_id": f"user-{u:05d}",
                           "time": DAY0 + u * 86_400_000 + k * 60_000,
                           "session_id": DAY0 + u * 86_400_000, "country": "France"})
    with httpx.Client(base_url=srv.url, timeout=30) as http:
        http.post("/2/httpapi", json={"api_key": KEY, "events": events}).raise_for_status()
        chart = http.post("/_ampkit/charts", auth=(KEY, SECRET), json={
            "endpoint": "/api/2/users", "params": {"start": "20240301", "end": "20240310"}})
        chart.raise_for_status()
        srv.app.state_chart_id = chart.json()["chart_id"]  # type: ignore[attr-defined]
        found = http.get("/api/2/usersearch", params={"user": "user-00001"}, auth=(KEY, SECRET))
        srv.app.state_amplitude_id = found.json()["matches"][0]["amplitude_id"]  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def as_run_here(command: str, srv: RunningServer) -> list[str]:
    """The documented command with the reader's values and the local host; ``-g`` where the URL
    holds JSON (see the module's docstring)."""
    for placeholder, value in FILL.items():
        command = command.replace(placeholder, value)
    command = (command.replace("{api_key}:{secret_key}", f"{KEY}:{SECRET}")
               .replace("{api-key}:{secret-key}", f"{KEY}:{SECRET}")
               .replace(":chart_id", srv.app.state_chart_id)  # type: ignore[attr-defined]
               .replace("{amplitude_id}", str(srv.app.state_amplitude_id))  # type: ignore[attr-defined]
               .replace("https://amplitude.com", srv.url))
    argv = shlex.split(command)
    if "{" in command.split("-u", 1)[0] and "-g" not in argv:
        argv.insert(1, "--globoff")
    return [*argv, "--silent", "--show-error", "--write-out", "\n%{http_code}"]


@pytest.mark.parametrize("command", documented_commands(),
                         ids=lambda c: re.search(r"/api/\d/([\w/:]+)", c).group(1))  # type: ignore[union-attr]
def test_each_documented_command_answers(server: RunningServer, command: str) -> None:
    done = subprocess.run(as_run_here(command, server), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    assert status == "200", body
    if "/csv" in command:
        assert body.splitlines()[0].strip(), body  # a CSV with a header row
        return
    answer = json.loads(body)
    if "usersearch" in command:
        assert answer["matches"][0]["user_id"] == "user-00001"
    elif "useractivity" in command:
        assert answer["userData"]["user_id"] == "user-00001" and len(answer["events"]) == 3
    elif "events/list" in command:
        assert {e["value"] for e in answer["data"]} == {"Sign Up", "Play Song"}
    elif "segmentation" in command:
        assert sum(answer["data"]["series"][0]) == 3  # three users played a song
    else:
        assert "data" in answer, answer


def test_without_globoff_curl_drops_the_braces_and_the_answer_names_the_parameter(
        server: RunningServer) -> None:
    (command,) = [c for c in documented_commands() if "segmentation" in c]
    argv = [a for a in as_run_here(command, server) if a != "--globoff"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    body, _, status = done.stdout.rpartition("\n")
    assert status == "400", body
    assert json.loads(body)["error"]["metadata"]["parameter"] == "e"
