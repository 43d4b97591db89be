"""The Export API end to end: ampkit's streaming reader against the server's archive."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import KEY, SECRET, Api, config

from ampkit.config import load_settings
from ampkit.core.policy import RetryPolicy
from ampkit.core.transport import SyncTransport
from ampkit.export import export_archives, export_events
from ampkit.server import ExportConfig, serve_in_thread


def transport(url: str) -> SyncTransport:
    return SyncTransport(load_settings(api_key=KEY, secret_key=SECRET, base_url=url),
                         policy=RetryPolicy.no_wait(max_attempts=5))


def hour_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)


SENT: list[dict[str, Any]] = [
    {"event_type": "Signed Up", "user_id": "user-x0001", "device_id": "device-x0001",
     "time": 1_709_294_400_123, "insert_id": "exp-1", "session_id": 1_709_294_400_000,
     "event_properties": {"plan": "pro", "n": 1.5, "tags": ["a"], "deep": {"x": None}},
     "user_properties": {"$set": {"tier": "gold"}}, "app_version": "1.0.0", "platform": "iOS",
     "os_name": "ios", "os_version": "17", "device_brand": "Apple", "device_model": "iPhone",
     "device_manufacturer": "Apple", "carrier": "Acme", "country": "France", "region": "IDF",
     "city": "Paris", "dma": "dma-1", "language": "French", "ip": "192.0.2.1",
     "location_lat": 1.5, "location_lng": -2.25, "idfa": "idfa-1", "idfv": "idfv-1",
     "adid": "adid-1", "android_id": "aid-1", "event_id": 3, "library": "lib/1",
     "partner_id": "partner-1", "plan": {"branch": "main", "source": "web", "version": "2"},
     "groups": {"org": "org-1"}, "user_agent": "ua", "ingestion_metadata": {"source_name": "x"}},
    {"event_type": "Bought", "device_id": "device-x0002", "insert_id": "exp-2",
     "price": 2.5, "quantity": 2, "productId": "sku-1", "revenueType": "sale"},
]
RENAMED = {"ip": "ip_address", "carrier": "device_carrier", "app_version": "version_name",
           "insert_id": "$insert_id"}


def test_every_sent_field_comes_back_in_the_export(api: Api) -> None:
    assert api.post_events(SENT).status_code == 200
    now = hour_now()
    events = list(export_events(transport(api.running.url), now - dt.timedelta(hours=1), now))
    assert len(events) == 2
    first, second = (e.model_dump(by_alias=True) for e in events)
    for key, value in SENT[0].items():
        if key == "user_properties":
            assert first["user_properties"] == {"tier": "gold"}
        elif key == "time":
            assert first["client_event_time"] == "2024-03-01 12:00:00.123000"
        else:
            assert first[RENAMED.get(key, key)] == value, key
    assert second["event_properties"] == {"$price": 2.5, "$quantity": 2, "$productId": "sku-1",
                                          "$revenueType": "sale"}
    assert first["app"] == 1 and first["uuid"] != second["uuid"]
    assert first["data"]["path"] == "/2/httpapi"


def test_archive_layout_partitions_and_404(tmp_path: Path) -> None:
    cfg = config(throttle_enabled=False, export=ExportConfig(partition_events=3))
    with serve_in_thread(cfg) as srv:
        api = Api(srv)
        now = hour_now()
        r = api.http.get("/api/2/export", params={"start": f"{now:%Y%m%dT%H}",
                                                   "end": f"{now:%Y%m%dT%H}"},
                         auth=(KEY, SECRET))
        assert r.status_code == 404
        api.post_events([{"event_type": f"e{i}", "user_id": "user-00001"} for i in range(7)])
        r = api.http.get("/api/2/export", params={"start": f"{now:%Y%m%dT%H}",
                                                   "end": f"{now:%Y%m%dT%H}"},
                         auth=(KEY, SECRET))
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        day, hour = f"{now:%Y-%m-%d}", now.hour
        assert names == [f"1/1_{day}_{hour}#{n}.json.gz" for n in range(3)]
        got = [e.event_type for e in export_events(transport(srv.url), now, now)]
        assert got == [f"e{i}" for i in range(7)]
        paths = [p for _, p in export_archives(transport(srv.url), now, now,
                                               directory=tmp_path, keep=True)]
        assert len(paths) == 1 and paths[0].stat().st_size == len(r.content)


@pytest.mark.parametrize(("params", "needle"), [
    ({"start": "2024-01-01", "end": "20240101T05"}, "YYYYMMDDTHH"),
    ({"start": "20240101T05", "end": "20240101T04"}, "before start"),
    ({"start": "20240101T05"}, "end is required"),
    ({"start": "20200101T00", "end": "20240101T00"}, "365 days"),
    ({"start": "20241301T00", "end": "20241301T01"}, "not a real hour"),
])
def test_bad_windows_get_a_400_envelope(api: Api, params: dict[str, str], needle: str) -> None:
    r = api.http.get("/api/2/export", params=params, auth=(KEY, SECRET))
    assert r.status_code == 400
    assert needle in r.json()["error"]["metadata"]["details"]


def test_export_needs_the_key_pair(api: Api) -> None:
    r = api.http.get("/api/2/export", params={"start": "20240101T00", "end": "20240101T01"})
    assert r.status_code == 401


def test_size_cap_and_availability_delay() -> None:
    cfg = config(throttle_enabled=False, export=ExportConfig(max_bytes=2000))
    with serve_in_thread(cfg) as srv:
        api = Api(srv)
        api.post_events([{"event_type": "big", "user_id": "user-00001",
                          "event_properties": {"pad": "x" * 900}}] * 3)
        now = hour_now()
        window = {"start": f"{now:%Y%m%dT%H}", "end": f"{now:%Y%m%dT%H}"}
        r = api.http.get("/api/2/export", params=window, auth=(KEY, SECRET))
        assert r.status_code == 400 and "2000 bytes" in r.json()["error"]["metadata"]["details"]
    with serve_in_thread(config(export=ExportConfig(delay_hours=2))) as srv:
        api = Api(srv)
        api.post_events([{"event_type": "fresh", "user_id": "user-00001"}])
        r = api.http.get("/api/2/export", params=window, auth=(KEY, SECRET))
        assert r.status_code == 404  # received this hour: not exportable for 2 hours


def test_504_fault_splits_windows(api: Api) -> None:
    api.post_events([{"event_type": "x", "user_id": "user-00001"}])
    now = hour_now()
    api.admin("POST", "/_ampkit/faults", json={"rates": {"504": 0.3}, "seed": 4,
                                               "paths": ["/api/2/export"]}).raise_for_status()
    events = list(export_events(transport(api.running.url), now - dt.timedelta(hours=7), now))
    assert [e.event_type for e in events] == ["x"]
    assert api.admin("GET", "/_ampkit/stats").json()["faults_injected"] >= 1
