"""A lean install (issue 15 §5): the client never loads an optional package, ``ampkit --help``
imports no command, and a missing extra is named in one line.

Everything runs in a fresh interpreter (``sys.modules`` of this one holds everything).  A
missing package is simulated by a ``sys.meta_path`` finder that refuses it — the one fault pip
cannot produce in a venv that has every extra.  Speed itself is measured by
``bench/startup.py``, not here.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer.main
from tests.stub_http import SUCCESS, Reply, Seen, stub
from typer.testing import CliRunner

from ampkit._extras import DISTRIBUTIONS, EXTRAS, OPTIONAL
from ampkit.cli.app import COMMANDS, app

ARCHIVE = (Path(__file__).parent / "fixtures" / "export"
           / "synthesized_export_archive__project636686__20250701T17.zip")

REFUSE = """
import sys


class Refuse:
    '''Makes the named packages (and their submodules) look not installed.'''

    def __init__(self, names):
        self.names = names

    def find_spec(self, name, path=None, target=None):
        if any(name == n or name.startswith(n + ".") for n in self.names):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Refuse([n for n in sys.argv.pop(1).split(",") if n]))
"""

# httpx imports its own command line (click, rich, pygments) whenever those happen to be
# installed, as typer's rich is here; a client-only install has none of them.  So the client's
# children refuse httpx._main, as such an install does: what is left loaded is ampkit's doing.
HTTPX_CLI = "httpx._main"

LOADED = """
import json, sys
def loaded():
    top = {m.partition(".")[0] for m in sys.modules}
    ours = {".".join(m.split(".")[:2]) for m in sys.modules if m.partition(".")[0] == "ampkit"}
    return sorted(top & set(sys.argv[1].split(","))) + sorted(ours)
"""


def child(body: str, *args: str, refuse: tuple[str, ...] = (),
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", REFUSE + body, ",".join(refuse), *args],
                          capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)


def _answer(seen: Seen) -> Reply:
    if seen.path.startswith("/2/httpapi"):
        return SUCCESS
    return Reply(200, b'{"data": []}', {"Content-Type": "application/json"})


CLIENT = LOADED + """
stages = {}
import ampkit
stages["import ampkit"] = loaded()
amp = ampkit.Amplitude("lean-api-key-01", "lean-secret-key-01", base_url=sys.argv[2])
stages["Amplitude(...)"] = loaded()
amp.track({"event_type": "Lean Install", "user_id": "user-0001"})
assert amp.flush(timeout=30)
stages["track + flush"] = loaded()
ampkit.EventDef(event_type="Lean Install")
amp.request("GET", "/api/2/events/list")
stages["a query"] = loaded()
amp.close()
print(json.dumps(stages))
"""

# what the client may import of ampkit: nothing that needs an extra
CLIENT_SIDE = {"ampkit", "ampkit.client", "ampkit.config", "ampkit.core", "ampkit.dashboard",
               "ampkit.errors", "ampkit.export", "ampkit.ingest", "ampkit.models",
               "ampkit.profile"}


def test_the_client_loads_no_optional_package() -> None:
    with stub(_answer) as server:
        done = child(CLIENT, ",".join(sorted(OPTIONAL)), server.url, refuse=(HTTPX_CLI,))
        assert done.returncode == 0, done.stderr
        assert [s.path for s in server.seen] == ["/2/httpapi", "/api/2/events/list"]
    stages: dict[str, list[str]] = json.loads(done.stdout)
    assert list(stages) == ["import ampkit", "Amplitude(...)", "track + flush", "a query"]
    for stage, modules in stages.items():
        assert not set(modules) & OPTIONAL, (stage, modules)
        assert set(modules) <= CLIENT_SIDE, (stage, set(modules) - CLIENT_SIDE)
    # import ampkit alone builds no client: its names are imported on first use
    assert stages["import ampkit"] == ["ampkit", "ampkit.errors"]


HELP = LOADED + """
import contextlib, io
out = io.StringIO()
sys.argv = ["ampkit", "--help"]
from ampkit.cli import main
with contextlib.redirect_stdout(out):
    try:
        main()
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
print(json.dumps({"help": out.getvalue(), "loaded": loaded(),
                  "cli": sorted(m for m in sys.modules if m.startswith("ampkit.cli."))}))
"""


def test_help_lists_every_command_and_imports_none() -> None:
    done = child(HELP, ",".join(sorted(OPTIONAL)))
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert set(seen["loaded"]) & OPTIONAL <= {"typer", "rich"}, seen["loaded"]
    assert seen["cli"] == ["ampkit.cli.app"]
    assert set(seen["loaded"]) <= {"typer", "rich", "ampkit", "ampkit.cli", "ampkit.core",
                                   "ampkit.errors", "ampkit._extras"}, seen["loaded"]
    listed = " ".join(seen["help"].replace("│", " ").split())  # rich's box, wrapping undone
    for name, lazy in COMMANDS.items():
        assert f" {name} {lazy.help} " in listed, name


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").split("\n\n")[0].split())


def test_the_static_help_is_each_commands_own() -> None:
    for lazy in COMMANDS.values():
        importlib.import_module(lazy.module)
    built = {}
    for info in app.registered_commands:
        command = typer.main.get_command_from_info(info, pretty_exceptions_short=False,
                                                   rich_markup_mode="rich")
        built[command.name] = command
    for group in app.registered_groups:  # query: one command per query
        assert group.name is not None and group.typer_instance is not None
        built[group.name] = typer.main.get_command(group.typer_instance)
    assert set(built) == set(COMMANDS)  # no command left out of the table, none made up
    for name, lazy in COMMANDS.items():
        assert _first_paragraph(built[name].help) == lazy.help, name


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_its_own_help(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"ampkit {name}" in result.output


RAISES = """
try:
    exec(sys.argv[1])
except Exception as exc:
    print(type(exc).__name__, isinstance(exc, ImportError), sep="\\n")
    print(exc)
else:
    print("no error")
"""


@pytest.mark.parametrize(("code", "refused", "extra"), [
    ("from ampkit.server import serve_in_thread", "starlette", "server"),
    ("from ampkit.server import serve_in_thread", "duckdb", "server"),
    ("from ampkit.server.config import ServerConfig", "uvicorn", "server"),
    ("import ampkit.server", "yaml", "server"),
    ("from ampkit.replicate import run_sync", "pyarrow", "sync"),
    ("import ampkit.replicate.config", "yaml", "sync"),
    ("from ampkit.mcp import serve", "mcp", "mcp"),
    ("from ampkit.export import load_duckdb", "duckdb", "export"),
])
def test_importing_what_needs_an_extra_names_it(code: str, refused: str, extra: str) -> None:
    done = child(RAISES, code, refuse=(refused,))
    assert done.returncode == 0, done.stderr
    kind, is_import_error, message = done.stdout.strip().split("\n")
    assert (kind, is_import_error) == ("MissingExtra", "True")
    assert f"needs {DISTRIBUTIONS.get(refused, refused)}, which is not installed" in message
    assert message.endswith(f"pip install 'ampkit[{extra}]'")


@pytest.mark.parametrize(("code", "refused", "extra"), [
    ("from ampkit.replicate.destinations import open_destination\n"
     "open_destination('x.duckdb', read_only=True)", "duckdb", "sync"),
    ("from ampkit.replicate.destinations import open_destination\n"
     "open_destination('postgresql://me@127.0.0.1:9/db', read_only=True)", "psycopg", "sync"),
    (f"from ampkit.export import iter_arrow_batches\nlist(iter_arrow_batches({str(ARCHIVE)!r}))",
     "pyarrow", "arrow"),
])
def test_a_target_or_reader_without_its_package_is_a_config_error(
        code: str, refused: str, extra: str) -> None:
    done = child(RAISES, code, refuse=(refused,))
    assert done.returncode == 0, done.stderr
    kind, _, message = done.stdout.strip().split("\n")
    assert kind == "ConfigError"
    assert refused in message
    assert message.endswith(f"pip install 'ampkit[{extra}]'")


CLI = """
sys.argv = ["ampkit", *sys.argv[1:]]
from ampkit.cli import main
main()
"""


@pytest.mark.parametrize(("args", "refused", "expected"), [
    (["--help"], "typer", "error: the ampkit command needs typer, which is not installed: "
                          "pip install 'ampkit[cli]'"),
    (["track", "--help"], "rich", "error: the ampkit command needs rich, which is not "
                                  "installed: pip install 'ampkit[cli]'"),
    (["serve"], "starlette", "error: ampkit serve needs starlette, which is not installed: "
                             "pip install 'ampkit[server]'"),
    (["serve", "--help"], "uvicorn", "error: ampkit serve needs uvicorn, which is not "
                                     "installed: pip install 'ampkit[server]'"),
    (["demo"], "duckdb", "error: ampkit demo needs duckdb, which is not installed: "
                         "pip install 'ampkit[server,sync]'"),
    (["sync", "--help"], "pyarrow", "error: ampkit sync needs pyarrow, which is not "
                                    "installed: pip install 'ampkit[sync]'"),
    (["streams"], "yaml", "error: ampkit streams needs PyYAML, which is not installed: "
                          "pip install 'ampkit[sync]'"),
    (["mcp"], "mcp", "error: ampkit mcp needs mcp, which is not installed: "
                     "pip install 'ampkit[mcp]'"),
    (["export", "--start", "2024-03-01T00", "--end", "2024-03-01T00", "--out", "{tmp}/x.duckdb"],
     "duckdb", "error: ampkit export needs duckdb, which is not installed: "
               "pip install 'ampkit[export]'"),
])
def test_a_command_without_its_extra_says_which_in_one_line(
        args: list[str], refused: str, expected: str, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AMPLITUDE_API_KEY": "lean-api-key-01",
           "AMPLITUDE_SECRET_KEY": "lean-secret-key-01", "AMPLITUDE_BASE_URL": "http://127.0.0.1:9"}
    done = child(CLI, *[a.format(tmp=tmp_path) for a in args], refuse=(refused,), env=env)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.strip() == expected
    assert not list(tmp_path.glob("x.duckdb*"))


def _names(requirements: list[str], extras: dict[str, list[str]]) -> set[str]:
    """The distributions a list of requirements installs, ``ampkit[...]`` expanded."""
    names: set[str] = set()
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)
        assert name is not None, requirement
        if name.group(0) == "ampkit":
            for extra in requirement[len("ampkit["):-1].split(","):
                names |= _names(extras[extra], extras)
        else:
            names.add(name.group(0).lower())
    return names


def test_pyproject_installs_what_each_extra_check_looks_for() -> None:
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    core = _names(project["project"]["dependencies"], extras)
    assert core == {"httpx", "pydantic", "orjson"}
    for extra, modules in EXTRAS.items():
        wanted = {DISTRIBUTIONS.get(m, m).lower() for m in modules}
        assert wanted <= _names(extras[extra], extras), extra
        assert not wanted & core, extra
    everything = set().union(*(_names(extras[e], extras) for e in EXTRAS))
    assert _names(extras["all"], extras) == everything | {"python-multipart"}
    assert _names(extras["dev"], extras) >= everything
    assert _names(extras["replicate"], extras) == _names(extras["sync"], extras)
