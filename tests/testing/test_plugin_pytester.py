"""The pytest plugin as its users run it: test files in a fresh directory, run by pytest (in
this process, or in a subprocess where xdist or a clean ``sys.modules`` matters)."""

from __future__ import annotations

# httpx imports httpcore on first use; loaded here, it stays the one class set across the
# in-process runs (pytester drops the modules a run imported, and httpx maps httpcore's
# errors by class)
import httpcore  # noqa: F401
import httpx
import pytest
from tests.testing.shared import shared_run

# A pytest run in a fresh interpreter imports every installed plugin: hypothesis's and
# schemathesis's cost some 2 s of CPU each time (their packages assertion-rewritten, compiled anew
# where no bytecode is written) and play no part in these runs; the ampkit plugin, and xdist
# where it is asked for, still load from their entry points.
UNRELATED_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:schemathesis")

CLIENTS = '''
import httpx
import pytest
from amplitude import Amplitude as Official, BaseEvent, Config, Identify as OfficialIdentify

from ampkit import Amplitude, Identify


def sign_up(amp, user_id, plan):  # "the code under test"
    amp.track({"event_type": "Signed Up", "user_id": user_id, "platform": "Web",
               "event_properties": {"plan": plan, "source": {"utm": "ad", "page": 2}}})
    amp.identify(Identify().set("plan", plan).add("logins", 1), user_id=user_id)
    amp.track({"event_type": "Opened", "user_id": user_id, "insert_id": "open-0001"})


def test_ampkit_client(amplitude_env):
    with Amplitude() as amp:  # AMPLITUDE_* point at this test's project
        sign_up(amp, "user-0001", "trial")
    found = amplitude_env.assert_event("Signed Up", count=1, user_id="user-0001",
                                       platform="Web",
                                       event_properties={"source": {"utm": "ad"}})
    assert found["event_properties"]["plan"] == "trial"
    amplitude_env.assert_event("Opened", insert_id="open-0001")
    amplitude_env.assert_order(["Signed Up", ("$identify", {"user_id": "user-0001"}), "Opened"])
    amplitude_env.assert_no_event("Signed Up", event_properties={"plan": "pro"})
    amplitude_env.assert_no_event("Deleted")
    assert amplitude_env.count() == 3 and amplitude_env.count("Opened") == 1
    assert amplitude_env.user("user-0001")["user_properties"] == {"plan": "trial", "logins": 1}
    amplitude_env.assert_user("user-0001", plan="trial")
    shown = repr(amplitude_env)
    assert amplitude_env.secret_key not in shown and amplitude_env.api_key not in shown


def test_official_sdk(amplitude_project):
    client = Official(amplitude_project.api_key, Config(server_url=amplitude_project.server_url))
    client.track(BaseEvent(event_type="Checkout", user_id="user-0002",
                           event_properties={"total": 12.5}))
    client.identify(OfficialIdentify().set("tier", "gold"),
                    __import__("amplitude").EventOptions(user_id="user-0002"))
    amplitude_project.flushed(client)  # client.flush(), then wait for its answers
    amplitude_project.assert_event("Checkout", count=1, user_id="user-0002",
                                   event_properties={"total": 12.5})
    amplitude_project.assert_user("user-0002", tier="gold")
    client.shutdown()


def test_flushed_waits_for_a_batching_ampkit_client(amplitude_project):
    from ampkit import SenderOptions
    amp = Amplitude(amplitude_project.api_key, base_url=amplitude_project.url,
                    sender=SenderOptions(flush_interval=3600, batch_size=1000))
    try:
        amp.track([{"event_type": "Queued", "user_id": "user-0003"}] * 5)
        amplitude_project.flushed(amp)
        amplitude_project.assert_event("Queued", count=5)
    finally:
        amp.close()


def test_isolation_first(amplitude_project):
    post(amplitude_project, "Same")
    amplitude_project.assert_event("Same", count=1)


def test_isolation_second(amplitude_project):
    post(amplitude_project, "Same")
    amplitude_project.assert_event("Same", count=1)  # not 2: the first test's project is not ours


def post(project, event_type):
    return httpx.post(project.server_url, json={"api_key": project.api_key, "events": [
        {"event_type": event_type, "user_id": "user-0001"}]})


def test_faults_hit_this_project_only(amplitude_project, amplitude_server):
    assert amplitude_project.faults({"rates": {"503": 1.0}})["rates"] == {"503": 1.0}
    assert post(amplitude_project, "Refused").status_code == 503
    neighbour = amplitude_server.new_project("neighbour")
    assert post(neighbour, "Fine").status_code == 200
    neighbour.close()
    with pytest.raises(ValueError, match="faults: rates: .*between 0 and 1"):
        amplitude_project.faults(rates={"500": 2})
    assert amplitude_project.faults()["rates"] == {}
    assert post(amplitude_project, "Kept").status_code == 200
    amplitude_project.assert_no_event("Refused")
    assert amplitude_project.stats()["faults_injected"] == 1


def test_config_fixture_is_used(amplitude_project):
    r = httpx.post(amplitude_project.server_url, json={"api_key": amplitude_project.api_key,
                   "events": [{"event_type": "X", "user_id": "user-0001"}] * 3})
    assert r.status_code == 413  # the conftest's max_events_per_request=2


def test_fails_with_nearest(amplitude_project):
    for plan in ("free", "trial", "team", "pro2"):
        httpx.post(amplitude_project.server_url, json={"api_key": amplitude_project.api_key,
                   "events": [{"event_type": "Signed Up", "user_id": "user-0001",
                               "event_properties": {"plan": plan}}]})
    amplitude_project.assert_event("Signed Up", event_properties={"plan": "pro"})


def test_fails_with_count(amplitude_project):
    post(amplitude_project, "Twice")
    post(amplitude_project, "Twice")
    amplitude_project.assert_event("Twice", count=1)


def test_fails_unknown_user(amplitude_project):
    post(amplitude_project, "A")
    amplitude_project.user("user-0009")
'''

CONFTEST = '''
import pytest
from ampkit.server import LimitsConfig, ServerConfig


@pytest.fixture(scope="session")
def amplitude_server_config():
    return ServerConfig(port=0, throttle_enabled=False,
                        limits=LimitsConfig(max_events_per_request=2))
'''


def test_both_clients_assertions_faults_and_readable_failures(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_clients=CLIENTS)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=7, failed=3)
    result.stdout.fnmatch_lines([
        "E       AssertionError: expected a 'Signed Up' event with "
        "event_properties={'plan': 'pro'}",
        "E       received 4 'Signed Up' events, none matching; the nearest:",
        "E         #1 'Signed Up' user_id='user-0001' event_properties={'plan': 'free'}",
        "E             event_properties.plan: expected 'pro', got 'free'",
        "E         #2 'Signed Up' user_id='user-0001' event_properties={'plan': 'trial'}",
        "E             event_properties.plan: expected 'pro', got 'trial'",
        "E         #3 *",
        "test_clients.py:*: AssertionError",
    ])
    result.stdout.fnmatch_lines([
        "E       AssertionError: expected exactly 1 × a 'Twice' event; received 2:",
        "E         #1 'Twice' user_id='user-0001'",
        "E         #2 'Twice' user_id='user-0001'",
    ])
    result.stdout.fnmatch_lines([
        "E       AssertionError: no user 'user-0009' in this project; user ids received: "
        "'user-0001'"])
    # the failure points at the test's own line, not into the plugin
    assert "ampkit/testing/project.py" not in result.stdout.str()


ISOLATION = '''
import httpx
import pytest


@pytest.mark.parametrize("n", range(6))
def test_same_ids_everywhere(amplitude_project, n):
    r = httpx.post(amplitude_project.server_url, json={"api_key": amplitude_project.api_key,
                   "events": [{"event_type": "Same", "user_id": "user-0001",
                               "insert_id": "same-insert-id"}] * 2})
    assert r.status_code == 200
    amplitude_project.assert_event("Same", count=1)  # the duplicate dropped; no other test's
    assert amplitude_project.user("user-0001")["amplitude_id"]
'''


def test_parallel_workers_never_see_each_others_events(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_isolation=ISOLATION)
    # --assert=plain: each worker would otherwise assertion-rewrite every ampkit module it imports
    # (an entry-point plugin's package is rewritten whole; where no bytecode is written, that is a
    # second of compiling per worker), which has no part in what the run shows: its outcomes
    # are the same either way
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:randomly",
                                           "-p", "no:cacheprovider", "--assert=plain",
                                           *UNRELATED_PLUGINS)
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["created: 2/2 workers"])


def test_a_run_that_does_not_use_the_plugin_loads_nothing_of_it(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain='''
import sys

def test_plain():
    assert "ampkit.testing.plugin" in sys.modules  # the entry point is registered
    heavy = {"ampkit.server", "ampkit.testing.project", "duckdb", "uvicorn", "starlette"}
    assert not heavy & set(sys.modules), heavy & set(sys.modules)
''')
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider",
                                           "-p", "no:xdist", *UNRELATED_PLUGINS)
    result.assert_outcomes(passed=1)
    # the help text needs no fresh interpreter: the option is registered by the plugin's hook
    assert "--amplitude-url" in pytester.runpytest("--help").stdout.str()


SHARED = '''
import pytest
from ampkit import Amplitude


@pytest.mark.parametrize("n", range(2))
def test_shared(amplitude_env, n):
    assert amplitude_env.isolated is False and amplitude_env.project_id is None
    with Amplitude() as amp:
        amp.track({"event_type": "Shared", "user_id": amplitude_env.id("alice")})
    amplitude_env.assert_event("Shared", count=1, user_id=amplitude_env.id("alice"))
    amplitude_env.assert_user(amplitude_env.id("alice"))


def test_faults_are_skipped(amplitude_project):
    amplitude_project.faults({"rates": {"503": 1.0}})
'''


def test_a_server_already_running_is_shared_and_tests_keep_apart_by_prefix(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    key, secret = "shared-key-0001", "shared-secret-0001"
    with shared_run(pytester, monkeypatch, SHARED, project_id=3, key=key, secret=secret,
                    other={"event_type": "Shared", "user_id": "alice"}) as (srv, result):
        result.assert_outcomes(passed=2, skipped=1)
        result.stdout.fnmatch_lines(["ampkit: tests share the project of the server at *",
                                     "SKIPPED * faults need a project of the test's own*"])
        stored = httpx.get(f"{srv.url}/_ampkit/events", auth=(key, secret)).json()
        users = sorted(e["user_id"] for e in stored)
        assert len(users) == 3 and users[0] == "alice" and users[1] != users[2]
        assert list(srv.store.projects) == [3]  # no project was added


def test_amplitude_url_is_checked_before_any_test_runs(pytester: pytest.Pytester,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_x="def test_x(amplitude_project):\n    pass\n")
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    monkeypatch.delenv("AMPLITUDE_SECRET_KEY", raising=False)
    result = pytester.runpytest("--amplitude-url", "http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--amplitude-url needs the project's key pair: set "
                                 "AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY*"])
    result = pytester.runpytest("--amplitude-url", "127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--amplitude-url: must start with http:// or https://*"])
    monkeypatch.setenv("AMPLITUDE_API_KEY", "key-0001")
    monkeypatch.setenv("AMPLITUDE_SECRET_KEY", "secret-value-0001")
    result = pytester.runpytest("-p", "no:randomly", "--amplitude-url", "http://127.0.0.1:9")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["E *RuntimeError: --amplitude-url http://127.0.0.1:9: the "
                                 "ampkit server at http://127.0.0.1:9 did not answer *"])
    assert "secret-value-0001" not in result.stdout.str()
