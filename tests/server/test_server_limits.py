"""Throttles (429 bodies), injected faults, persistence, multi-project config files."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from tests.server.conftest import KEY, SECRET, Api, config

from ampkit.server import (
    FaultConfig,
    ThrottleConfig,
    load_server_config,
    parse_fault_spec,
    serve_in_thread,
)


def test_eps_throttle_answers_429_naming_users_devices_and_events() -> None:
    throttle = ThrottleConfig(httpapi_eps=2, batch_eps=100, window_seconds=10)
    with serve_in_thread(config(throttle=throttle)) as srv:
        api = Api(srv)
        ok = [{"event_type": "a", "user_id": "user-t0001"}] * 20
        assert api.post_events(ok).status_code == 200  # 20 events / 10 s = 2 EPS
        r = api.post_events([{"event_type": "a", "user_id": "user-t0002"},
                             {"event_type": "b", "user_id": "user-t0001",
                              "device_id": "device-t0001"}])
        assert r.status_code == 429
        body = r.json()
        assert body["code"] == 429 and body["eps_threshold"] == 2
        assert body["error"] == "Too many requests for some devices and users"
        assert body["throttled_users"] == {"user-t0001": 2.1}
        assert body["throttled_devices"] == {} and body["throttled_events"] == [1]
        assert len(api.stored()) == 20  # nothing of the refused request
        batch = api.post_events([{"event_type": "b", "user_id": "user-t0001"}] * 50,
                                path="/batch")
        assert batch.status_code == 200  # the Batch API has its own, higher threshold


def test_daily_quota() -> None:
    throttle = ThrottleConfig(daily_quota=10, httpapi_eps=1000)
    with serve_in_thread(config(throttle=throttle)) as srv:
        api = Api(srv)
        assert api.post_events([{"event_type": "a", "device_id": "device-q0001"}] * 10
                               ).status_code == 200
        r = api.post_events([{"event_type": "a", "device_id": "device-q0001"}])
        assert r.status_code == 429
        assert r.json()["exceeded_daily_quota_devices"] == {"device-q0001": 11}


def test_faults_refuse_or_fail_after_storing(api: Api) -> None:
    faults_before = api.admin("GET", "/_ampkit/stats").json()["faults_injected"]  # server-wide
    api.admin("POST", "/_ampkit/faults", json={"rates": {"503": 1.0}}).raise_for_status()
    r = api.post_events([{"event_type": "a", "user_id": "user-f0001"}])
    assert r.status_code == 503 and r.json()["code"] == 503
    assert api.stored() == []
    api.admin("POST", "/_ampkit/faults", json={"rates": {"500": 1.0}}).raise_for_status()
    r = api.post_events([{"event_type": "a", "user_id": "user-f0001", "insert_id": "f-1"}])
    assert r.status_code == 500 and len(api.stored()) == 1
    api.admin("POST", "/_ampkit/faults", json={"rates": {"reset": 1.0}}).raise_for_status()
    with pytest.raises(httpx.RemoteProtocolError):
        api.post_events([{"event_type": "b", "user_id": "user-f0001", "insert_id": "f-2"}])
    api.admin("POST", "/_ampkit/faults", json={"rates": {"delay": 1.0},
                                               "delay_seconds": 1}).raise_for_status()
    with pytest.raises(httpx.ReadTimeout):
        api.http.post("/2/httpapi", timeout=0.3, json={
            "api_key": KEY, "events": [{"event_type": "c", "user_id": "user-f0001"}]})
    api.admin("POST", "/_ampkit/faults", json={}).raise_for_status()
    assert sorted(e["event_type"] for e in api.stored()) == ["a", "b", "c"]
    assert api.admin("GET", "/_ampkit/stats").json()["faults_injected"] - faults_before == 4
    assert api.admin("POST", "/_ampkit/faults", json={"rates": {"500": 2}}).status_code == 400


def test_fault_spec_parsing() -> None:
    spec = parse_fault_spec("429=0.1, 500=0.05,reset=0.02,delay=0.03,delay_seconds=1.5,seed=7")
    assert spec.rates == {"429": 0.1, "500": 0.05, "reset": 0.02, "delay": 0.03}
    assert spec.delay_seconds == 1.5 and spec.seed == 7 and spec.active
    for bad in ("teapot=0.1", "429", "429=x", "429=0.7,500=0.7"):
        with pytest.raises((ValueError, ValidationError)):
            parse_fault_spec(bad)
    draws = [FaultConfig(rates={"500": 0.5}, seed=1).pick(__import__("random").Random(1))
             for _ in range(3)]
    assert len(set(draws)) == 1  # same seed, same draw


def test_db_file_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    with serve_in_thread(config(db=db, throttle_enabled=False)) as srv:
        api = Api(srv)
        api.post_events([{"event_type": "a", "device_id": "device-p0001", "insert_id": "p-1"},
                         {"event_type": "b", "user_id": "user-p0001", "device_id":
                          "device-p0001", "user_properties": {"$set": {"k": 1}}}])
        before = api.stored()
    with serve_in_thread(config(db=db, throttle_enabled=False)) as srv:
        api = Api(srv)
        api.post_events([{"event_type": "a", "device_id": "device-p0001", "insert_id": "p-1"},
                         {"event_type": "c", "user_id": "user-p0001",
                          "user_properties": {"$add": {"k": 1}}},
                         {"event_type": "d", "device_id": "device-p0002"}])
        after = api.stored()
        assert after[:2] == before  # kept as they were
        assert [e["event_type"] for e in after] == ["a", "b", "c", "d"]  # p-1 deduplicated
        assert after[2]["amplitude_id"] == before[0]["amplitude_id"]
        assert after[3]["amplitude_id"] > before[0]["amplitude_id"]
        assert after[2]["user_properties"] == {"k": 2}


def test_config_file_with_several_projects(tmp_path: Path) -> None:
    path = tmp_path / "server.yaml"
    path.write_text(
        "port: 0\nthrottle:\n  enabled: false\nprojects:\n"
        "  - {project_id: 11, api_key: key-aaaaa, secret_key: sec-aaaaa, timezone: Europe/Paris}\n"
        "  - {project_id: 12, api_key: key-bbbbb, secret_key: sec-bbbbb}\n"
    )
    cfg = load_server_config(path)
    assert [p.project_id for p in cfg.projects] == [11, 12] and not cfg.throttle.enabled
    assert "sec-aaaaa" not in repr(cfg)
    with serve_in_thread(cfg) as srv:
        api = Api(srv)
        api.post_events([{"event_type": "x", "user_id": "user-00001"}], key="key-bbbbb")
        assert api.stored("key-bbbbb", "sec-bbbbb")[0]["app"] == 12
        assert api.stored("key-aaaaa", "sec-aaaaa") == []
    path.write_text("projects:\n  - {project_id: 1, api_key: k, secret_key: s}\n"
                    "  - {project_id: 1, api_key: k2, secret_key: s2}\n")
    with pytest.raises(ValidationError, match="share a project_id"):
        load_server_config(path)
    assert SECRET  # the module-level pair stays the default fixture's
