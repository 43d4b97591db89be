"""A sync waits out Amplitude's rate limits (``Retry-After``) instead of failing its streams,
tells its reporter what it waits for, and fails a stream only past the bound, naming the limit.

A tiny real HTTP server stands in front of the seeded ``ampkit serve`` and answers some
Dashboard requests with a 429; the sleep is injected, so nothing waits for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from threading import Lock

import orjson
from tests.replicate.conftest import KEY, SECRET, ok, options
from tests.stub_http import Answer, Reply, Seen, forward, stub

from ampkit.config import load_settings
from ampkit.core.policy import RetryPolicy
from ampkit.replicate import Reporter, run_sync
from ampkit.server import RunningServer

LIMIT = "query cost per 5 minutes"
STREAMS = ["active_users", "new_users", "average_session_length", "events"]


class Told(Reporter):
    def __init__(self) -> None:
        self.waits: list[tuple[str, float]] = []

    def waiting(self, reason: str, seconds: float) -> None:
        self.waits.append((reason, seconds))


def limiting(upstream: str, times: int, retry_after: int) -> tuple[list[str], Answer]:
    """Answer the first request to each of the first ``times`` Dashboard paths with a 429,
    forward everything else."""
    passed = forward(upstream)
    lock = Lock()
    limited_paths: list[str] = []

    def answer(seen: Seen) -> Reply:
        path = seen.path.split("?")[0]
        with lock:
            if path.startswith("/api/2/") and path != "/api/2/export" and \
                    path not in limited_paths and len(limited_paths) < times:
                limited_paths.append(path)
                body = {"error": {"http_code": 429, "type": "rate_limit",
                                  "message": f"Exceeded rate limit: {LIMIT}",
                                  "metadata": {"limit": LIMIT}}}
                return Reply(429, orjson.dumps(body), {"Retry-After": str(retry_after)})
        return passed(seen)

    return limited_paths, answer


def test_a_sync_waits_out_rate_limits(seeded: RunningServer, tmp_path: Path) -> None:
    limited_paths, answer = limiting(seeded.url, times=2, retry_after=250)
    told = Told()
    slept: list[float] = []
    with stub(answer) as amplitude:
        result = run_sync(options(f"duckdb:///{tmp_path}/a.duckdb", streams=STREAMS),
                          settings=load_settings(api_key=KEY, secret_key=SECRET,
                                                 base_url=amplitude.url),
                          reporter=told, retry=RetryPolicy(jitter=False), sleep=slept.append)
    ok(result)
    assert [s.status for s in result.streams] == ["ok"] * len(STREAMS)
    assert limited_paths == ["/api/2/users", "/api/2/sessions/average"]
    assert slept == [250.0] * 2
    assert told.waits == [(f"{LIMIT} (HTTP 429 at {p})", 250.0) for p in limited_paths]


def test_past_the_bound_the_stream_fails_naming_the_limit(seeded: RunningServer,
                                                          tmp_path: Path) -> None:
    limited_paths, answer = limiting(seeded.url, times=1, retry_after=3600)
    told = Told()
    slept: list[float] = []
    with stub(answer) as amplitude:
        result = run_sync(options(f"duckdb:///{tmp_path}/a.duckdb", streams=STREAMS),
                          settings=load_settings(api_key=KEY, secret_key=SECRET,
                                                 base_url=amplitude.url),
                          reporter=told, retry=RetryPolicy(jitter=False), sleep=slept.append)
    failed = result.failures()
    assert [s.stream for s in failed] == ["active_users"]  # the others went on
    assert LIMIT in (failed[0].error or "") and "max_rate_limit_wait" in (failed[0].error or "")
    assert slept == [] and told.waits == [] and len(limited_paths) == 1


def test_ampkit_sync_shows_what_it_waits_for(seeded: RunningServer, tmp_path: Path) -> None:
    limited_paths, answer = limiting(seeded.url, times=1, retry_after=0)  # 0: no real wait
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    with stub(answer) as amplitude:
        env.update(AMPLITUDE_API_KEY=KEY, AMPLITUDE_SECRET_KEY=SECRET,
                   AMPLITUDE_BASE_URL=amplitude.url, COLUMNS="200")
        r = subprocess.run([sys.executable, "-m", "ampkit", "sync", "--streams", "active_users",
                            "--target", f"duckdb:///{tmp_path}/c.duckdb"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert limited_paths == ["/api/2/users"]
    assert f"waiting 0 s: {LIMIT} (HTTP 429 at /api/2/users)" in r.stderr
