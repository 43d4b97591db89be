"""``ampkit sync --target dlt:…``: events as a Delta table partitioned by event date, on a local
path and in an S3 bucket (moto's server on loopback); a rerun of a window replaces it; a second
reader (delta-rs, DuckDB) sees exactly the events the local server holds; bad targets, in the
string form and in a replication file's mapping form, are refused naming the option."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.lazy import lazy_or_skip

dlt = lazy_or_skip("dlt")
deltalake = lazy_or_skip("deltalake")

import duckdb  # noqa: E402
import httpx  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from tests.invoke import invoke  # noqa: E402
from tests.replicate.conftest import (  # noqa: E402
    ANCHOR,
    EXPORT_END,
    KEY,
    NOW,
    SECRET,
    expected,
    keyed,
    ok,
    options,
    source_events,
    sync,
    tls,
)

from ampkit.errors import ConfigError  # noqa: E402
from ampkit.replicate import load_config, plan_sync, resolve  # noqa: E402
from ampkit.replicate.dlt_target import parse_target  # noqa: E402
from ampkit.server import RunningServer  # noqa: E402


@pytest.fixture(autouse=True)
def dlt_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dlt's working folder (pipeline state kept locally) inside the test's folder; dlt's
    anonymous telemetry off (it would post every pipeline step to dlthub from a thread)."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-home"))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")


def check(table: Any, src: list[dict[str, Any]]) -> None:
    """Count, distinct uuid and one property's sum equal the server's."""
    assert table.num_rows == len(src)
    assert pc.count_distinct(table["uuid"]).as_py() == len({e["uuid"] for e in src})
    assert pc.sum(table["session_id"]).as_py() == sum(e["session_id"] for e in src)


def test_delta_on_a_local_path_partitioned_and_idempotent(
    seeded: RunningServer, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    target = f"dlt:filesystem?bucket_url={lake.as_uri()}&table_format=delta&pipeline=p_local"
    result = ok(sync(seeded, target, streams=["events", "active_users"]))
    assert result.target == f"dlt filesystem {lake.as_uri()} (delta), dataset amplitude"
    src = source_events(seeded)
    assert result.streams[0].rows == len(src) and result.streams[0].cursor == EXPORT_END
    table = deltalake.DeltaTable(str(lake / "amplitude" / "events"))
    assert table.metadata().partition_columns == ["event_date"]
    check(table.to_pyarrow_table(), src)
    days = {e["event_time"][:10] for e in src}
    assert {p.name for p in (lake / "amplitude" / "events").glob("event_date=*")} == {
        f"event_date={d}" for d in days}
    rows = table.to_pyarrow_table().to_pylist()
    assert keyed(rows, "events") == expected(src, "events")

    # a rerun of every window (a backfill) replaces, never doubles (merge on uuid)
    again = ok(sync(seeded, target, streams=["events"], backfill="2024-03-01,2024-03-09"))
    assert again.streams[0].rows == len(src)
    check(deltalake.DeltaTable(str(lake / "amplitude" / "events")).to_pyarrow_table(), src)
    # DuckDB's own Delta reader agrees
    con = duckdb.connect()
    try:
        con.execute("INSTALL delta; LOAD delta;")
    except duckdb.Error:
        con.close()
        return  # no DuckDB delta extension offline; delta-rs checked it above
    n, distinct = con.execute(
        "SELECT count(*), count(DISTINCT uuid) FROM delta_scan(?)",
        [str(lake / "amplitude" / "events")]).fetchone() or (0, 0)
    con.close()
    assert (n, distinct) == (len(src), len(src))


def test_the_cli_target_and_dry_run(seeded: RunningServer, tmp_path: Path) -> None:
    lake = tmp_path / "cli-lake"
    target = f"dlt:filesystem?bucket_url={lake.as_uri()}&table_format=delta&pipeline=p_cli"
    env = {"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_SECRET_KEY": SECRET,
           "AMPLITUDE_BASE_URL": seeded.url}
    ran = invoke("sync", "--target", target, "--streams", "events", "--range",
                 "2024-03-01,2024-03-09", "--json", env=env)
    assert ran.returncode == 0, ran.stderr
    assert SECRET not in ran.stdout + ran.stderr
    check(deltalake.DeltaTable(str(lake / "amplitude" / "events")).to_pyarrow_table(),
          source_events(seeded))
    plan = plan_sync(options(target, streams=["events"]))
    assert plan.dry_run and plan.plans[0].start == "2024-03-01T00"  # a range keeps no cursor

    bad = invoke("sync", "--target", "dlt:filesystem?aws_secret_access_key=x", env=env)
    assert bad.returncode != 0 and "credentials do not belong" in bad.stderr


@pytest.mark.parametrize(("target", "message"), [
    ("dlt:", "names a dlt destination"),
    ("dlt:Big Query", "names a dlt destination"),
    ("dlt:duckdb?table_format=delta", "needs dlt:filesystem"),
    ("dlt:filesystem?table_format=csv", "table_format: 'csv'"),
    ("dlt:filesystem?colour=red", "option colour is unknown"),
    ("dlt:postgres?password=hunter2", "credentials do not belong"),
    ("dlt:duckdb?dataset=Bad-Name", "dataset"),
])
def test_bad_targets_are_named(target: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_target(target)
    assert "hunter2" not in str(caught.value)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3-compatible server (moto) on loopback with one empty bucket; dlt's credentials for
    it in dlt's environment variables, as a user sets them."""
    pytest.importorskip("moto.server")
    # its own process: delta-rs holds the GIL while it waits on S3, so a server thread of
    # this process could never answer it
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:  # ready when it answers
        try:
            httpx.get(endpoint + "/", timeout=2, verify=tls())
            break
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("moto's server did not start")
            time.sleep(0.1)
    creds = {"aws_access_key_id": "testing-key", "aws_secret_access_key": "testing-secret"}
    # S3's CreateBucket (path style; moto takes it unsigned): no boto3 client to build for it
    made = httpx.put(endpoint + "/lake", timeout=30, verify=tls())
    assert made.status_code == 200, made.text
    prefix = "DESTINATION__FILESYSTEM__CREDENTIALS__"
    for name, value in {**creds, "endpoint_url": endpoint, "region_name": "us-east-1"}.items():
        monkeypatch.setenv(prefix + name.upper(), value)
    monkeypatch.setenv("DESTINATION__FILESYSTEM__DELTALAKE_STORAGE_OPTIONS",
                       '{"AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}')
    yield endpoint
    server.terminate()
    server.wait(timeout=30)


@pytest.mark.timeout(120)
def test_delta_in_an_s3_bucket(seeded: RunningServer, s3: str) -> None:
    target = "dlt:filesystem?bucket_url=s3://lake/amp&table_format=delta&pipeline=p_s3"
    result = ok(sync(seeded, target, streams=["events"]))
    src = source_events(seeded)
    assert result.streams[0].rows == len(src)
    again = ok(sync(seeded, target, streams=["events"], backfill="2024-03-01,2024-03-09"))
    assert again.streams[0].rows == len(src)
    storage = {"AWS_ACCESS_KEY_ID": "testing-key", "AWS_SECRET_ACCESS_KEY": "testing-secret",
               "AWS_ENDPOINT_URL": s3, "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
    table = deltalake.DeltaTable("s3://lake/amp/amplitude/events", storage_options=storage)
    assert table.metadata().partition_columns == ["event_date"]
    check(table.to_pyarrow_table(), src)
    assert "testing-secret" not in str(result.model_dump())


MAPPING = """\
target:
  dlt:
    destination: filesystem
    dataset: amplitude
    pipeline: amp
    table_format: delta
    bucket_url: ${LAKE_FOR_TEST}/lake
streams: [events]
"""


def test_the_mapping_form_of_a_dlt_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setenv("LAKE_FOR_TEST", "s3://bucket")
    path = tmp_path / "replication.yaml"
    path.write_text(MAPPING)
    config = load_config(path)
    assert parse_target(str(config.target)) == parse_target(
        "dlt:filesystem?dataset=amplitude&pipeline=amp&table_format=delta"
        "&bucket_url=s3://bucket/lake")
    plan = plan_sync(resolve(config, now=NOW, anchor_date=ANCHOR))
    assert plan.target == "dlt filesystem s3://bucket/lake (delta), dataset amplitude"
    assert plan.plans[0].start == "2024-03-01T00"


@pytest.mark.parametrize(("dlt_options", "message"), [
    ("{destination: filesystem, colour: red}", "target.dlt.colour is unknown; known: "),
    ("{destination: postgres, aws_secret_access_key: x}",
     "target.dlt.aws_secret_access_key: credentials do not belong"),
    ("{destination: postgres, password: hunter2}", "target.dlt.password: credentials"),
    ("{destination: duckdb, table_format: delta}", "target.dlt.table_format needs dlt:filesystem"),
    ("{destination: filesystem, table_format: csv}", "target.dlt.table_format: 'csv' is not"),
    ("{destination: duckdb, dataset: Bad-Name}", "target.dlt.dataset: 'Bad-Name' must be"),
    ("{destination: duckdb, dataset: [a]}", "target.dlt.dataset: must be a string"),
    ("{dataset: amplitude}", "target.dlt.destination: None must name a dlt destination"),
    ("{destination: Big Query}", "target.dlt.destination: 'Big Query'"),
])
def test_bad_mapping_targets_name_the_key(tmp_path: Path, dlt_options: str, message: str
                                          ) -> None:
    path = tmp_path / "replication.yaml"
    path.write_text(f"target:\n  dlt: {dlt_options}\n")
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: target: ")
    assert "hunter2" not in str(caught.value)


def test_a_mapping_target_is_only_the_dlt_form(tmp_path: Path) -> None:
    path = tmp_path / "replication.yaml"
    path.write_text("target:\n  duckdb: out.duckdb\n")
    with pytest.raises(ConfigError, match=r"target: a mapping target is \{dlt: "):
        load_config(path)


def test_a_second_run_of_the_same_pipeline_is_busy_not_a_double_load(
    seeded: RunningServer, tmp_path: Path,
) -> None:
    """Two syncs of one pipeline at once loaded every event twice into a filesystem lake.
    The pipeline's working folder is locked for the run: the second is DestinationBusy."""
    import fcntl
    import os

    import dlt

    from ampkit.replicate.destinations.base import DestinationBusy

    lake = tmp_path / "busy-lake"
    target = f"dlt:filesystem?bucket_url={lake.as_uri()}&pipeline=p_busy"
    working = Path(dlt.pipeline(pipeline_name="p_busy").working_dir)
    working.mkdir(parents=True, exist_ok=True)
    fd = os.open(working / ".ampkit-sync.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run holds the pipeline
        with pytest.raises(DestinationBusy, match="dlt pipeline 'p_busy'"):
            sync(seeded, target, streams=["events_list"])
    finally:
        os.close(fd)
    assert ok(sync(seeded, target, streams=["events_list"])).streams[0].rows > 0
