"""The README stays true: its runnable examples run, and it documents every command and
public name."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
import typer.main

import ampkit
from ampkit.server import ProjectConfig, ServerConfig, serve_in_thread

README = (Path(__file__).parent.parent / "README.md").read_text()


def _blocks(fence: str) -> list[str]:
    return re.findall(rf"```{fence}\n(.*?)```", README, flags=re.S)


def run_as_main(snippet: str) -> None:
    """``snippet`` run as ``python -c`` runs it (as ``__main__``), in this interpreter: a fresh
    one would only import again what this one holds.  An exception fails the test as a non-zero
    exit would; a thread the snippet leaves running, other than a daemon, must end, as the
    interpreter waits for it at exit (the subprocess's timeout, here a join's)."""
    before = set(threading.enumerate())
    exec(compile(snippet, "README.md", "exec"), {"__name__": "__main__"})
    for thread in set(threading.enumerate()) - before:
        if not thread.daemon:
            thread.join(timeout=120)
            assert not thread.is_alive(), f"the snippet left {thread} running"


def test_quick_start_runs_against_a_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    (snippet,) = re.findall(r"<<'PY'\n(.*?)\nPY\n", README, flags=re.S)
    config = ServerConfig(port=0, throttle_enabled=False, projects=[ProjectConfig()])
    with serve_in_thread(config) as server:
        monkeypatch.setenv("AMPLITUDE_API_KEY", "ampkit-demo-api-key")
        monkeypatch.setenv("AMPLITUDE_SECRET_KEY", "ampkit-demo-secret-key")
        monkeypatch.setenv("AMPLITUDE_BASE_URL", server.url)
        run_as_main(snippet)
        types = sorted(e["event_type"] for e in server.store.events_page(100000, 100, 0))
    assert types == ["$identify", "Signed Up", "revenue_amount"]


def test_server_python_example_runs() -> None:
    (snippet,) = [b for b in _blocks("python") if "serve_in_thread" in b]
    run_as_main(snippet)


def test_pytest_plugin_example_runs(pytester: pytest.Pytester,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The example run by pytest as its README line says, in this process (pytester): the
    plugin still comes from its entry point, as in a run of its own."""
    section = README.split("## Testing your tracking code: the pytest plugin\n", 1)[1]
    section = section.split("\n## ", 1)[0].split("\n### ", 1)[0]  # subsections: their own tests
    (snippet,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    pytester.makepyfile(test_tracking=snippet)
    for name in [k for k in os.environ if k.startswith(("AMPLITUDE_", "PYTEST_"))]:
        monkeypatch.delenv(name)
    done = pytester.runpytest("test_tracking.py", "-q", "-p", "no:randomly",
                              "-p", "no:cacheprovider")
    assert done.ret == 0, done.stdout.str() + done.stderr.str()
    assert "3 passed" in done.stdout.str()


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
