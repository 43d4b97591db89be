"""The README stays true: its runnable examples run, and it documents every command and
public name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import typer.main

import ampkit
from ampkit.server import ProjectConfig, ServerConfig, serve_in_thread

README = (Path(__file__).parent.parent / "README.md").read_text()


def _blocks(fence: str) -> list[str]:
    return re.findall(rf"```{fence}\n(.*?)```", README, flags=re.S)


def test_quick_start_runs_against_a_local_server() -> None:
    (snippet,) = re.findall(r"<<'PY'\n(.*?)\nPY\n", README, flags=re.S)
    config = ServerConfig(port=0, throttle_enabled=False, projects=[ProjectConfig()])
    with serve_in_thread(config) as server:
        env = {**os.environ, "AMPLITUDE_API_KEY": "ampkit-demo-api-key",
               "AMPLITUDE_SECRET_KEY": "ampkit-demo-secret-key",
               "AMPLITUDE_BASE_URL": server.url}
        done = subprocess.run([sys.executable, "-c", snippet], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        types = sorted(e["event_type"] for e in server.store.events_page(100000, 100, 0))
    assert types == ["$identify", "Signed Up", "revenue_amount"]


def test_server_python_example_runs() -> None:
    (snippet,) = [b for b in _blocks("python") if "serve_in_thread" in b]
    done = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_pytest_plugin_example_runs(tmp_path: Path) -> None:
    section = README.split("## Testing your tracking code: the pytest plugin\n", 1)[1]
    section = section.split("\n## ", 1)[0].split("\n### ", 1)[0]  # subsections: their own tests
    (snippet,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    (tmp_path / "test_tracking.py").write_text(snippet)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMPLITUDE_", "PYTEST_"))}
    done = subprocess.run([sys.executable, "-m", "pytest", "test_tracking.py", "-q",
                           "-p", "no:randomly", "-p", "no:cacheprovider"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_every_cli_command_is_documented() -> None:
    from ampkit.cli import (
        app,
        serve,  # noqa: F401
    )
    from ampkit.cli.app import main  # noqa: F401  (registers the commands)

    group = typer.main.get_command(app)
    names = sorted(group.commands)  # type: ignore[attr-defined]
    assert names
    for name in names:
        assert f"ampkit {name}" in README, name


def test_every_public_name_is_documented() -> None:
    for name in ampkit.__all__:
        if not name.startswith("__"):
            assert name in README, name


def test_public_api_is_exactly_all() -> None:
    for name in ampkit.__all__:
        assert getattr(ampkit, name) is not None
    exported = {n for n in dir(ampkit) if not n.startswith("_") and n[0].isupper()}
    assert exported <= set(ampkit.__all__), exported - set(ampkit.__all__)
