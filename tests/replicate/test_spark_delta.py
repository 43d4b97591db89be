"""Apache Spark (pyspark, local mode) reads the partitioned Delta table ``ampkit sync`` wrote and
gets exactly the events the local server holds: count, distinct uuid, the sum of
``session_id`` and of one event property (``$price``), one partition per event date.

Spark reads a Delta table natively only with the delta-spark jars, which come from Maven
(the ``delta-spark`` PyPI package is the Python half only, ~55 kB, and asks Spark to download
``io.delta:delta-spark_2.13`` at start-up); this machine reaches PyPI, Debian and npm only.  So
Spark reads the table the way a Delta reader does underneath: the Parquet files that the
Delta log says make up the current version (``DeltaTable.file_uris()``, computed by delta-rs),
with ``basePath`` at the table root so that Spark finds ``event_date`` in the
``event_date=YYYY-MM-DD/`` folder names.  The test also shows why the log matters: after a
rerun of every window (a merge by uuid) the folder still holds the files the merge replaced,
and a plain ``spark.read.parquet(folder)`` would count those rows twice.

Marked ``spark`` (not in the default run): ``pip install -e '.[spark]'`` and
``pytest -m spark -n 0 -s`` (``-s`` shows the comparison); skipped without pyspark or java.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.spark


def _missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no java on PATH and no JAVA_HOME (Spark needs a JVM ≥ 17)"
    for module in ("dlt", "deltalake"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[dlt]')"
    return None


if (_reason := _missing()) is not None:
    pytest.skip(_reason, allow_module_level=True)

import deltalake  # noqa: E402
from tests.replicate.conftest import ok, source_events, sync  # noqa: E402

from ampkit.server import RunningServer  # noqa: E402

SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.network.timeout": "60s",
    "spark.executor.heartbeatInterval": "10s",
}


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local Spark session (2 threads) bound to loopback, no UI; stopped afterwards."""
    from pyspark.sql import SparkSession

    saved = os.environ.get("SPARK_LOCAL_IP")
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    builder = SparkSession.builder.master("local[2]").appName("ampkit-spark-check")
    conf = {**SPARK_CONF, "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("warehouse"))}
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if saved is None:
        os.environ.pop("SPARK_LOCAL_IP", None)
    else:
        os.environ["SPARK_LOCAL_IP"] = saved


def _price(event: dict[str, Any]) -> float:
    value = (event.get("event_properties") or {}).get("$price")
    return float(value) if value is not None else 0.0


def _figures(frame: Any) -> dict[str, Any]:
    from pyspark.sql import functions as F

    row = frame.agg(
        F.count(F.lit(1)).alias("count"),
        F.countDistinct("uuid").alias("distinct_uuid"),
        F.sum("session_id").alias("sum_session_id"),
        F.sum(F.get_json_object("event_properties", "$['$price']").cast("double"))
        .alias("sum_price"),
        F.countDistinct("event_date").alias("event_dates"),
    ).collect()[0]
    figures: dict[str, Any] = row.asDict()
    figures["sum_price"] = round(figures["sum_price"] or 0.0, 6)
    return figures


@pytest.mark.timeout(300)
def test_spark_reads_exactly_the_servers_events(
    seeded: RunningServer, tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-home"))
    lake = tmp_path / "lake"
    target = f"dlt:filesystem?bucket_url={lake.as_uri()}&table_format=delta&pipeline=p_spark"
    ok(sync(seeded, target, streams=["events"]))
    ok(sync(seeded, target, streams=["events"], backfill="2024-03-01,2024-03-09"))  # a rerun
    src = source_events(seeded)
    server = {
        "count": len(src),
        "distinct_uuid": len({e["uuid"] for e in src}),
        "sum_session_id": sum(e["session_id"] for e in src),
        "sum_price": round(sum(_price(e) for e in src), 6),
        "event_dates": len({e["event_time"][:10] for e in src}),
    }

    root = lake / "amplitude" / "events"
    files = deltalake.DeltaTable(str(root)).file_uris()
    frame = spark.read.option("basePath", root.as_uri()).parquet(*files)
    assert dict(frame.dtypes)["event_date"] == "date"  # from the partition folders
    got = _figures(frame)
    naive = spark.read.parquet(root.as_uri()).count()  # every file in the folder
    print(f"\nspark {spark.version} (local[2]) read {len(files)} Parquet files of the Delta "
          f"table's current version at {root}")
    for name, value in server.items():
        print(f"  {name:<15} spark {got[name]!s:>16}   server {value!s:>16}")
    print(f"  a plain read of the folder (without the Delta log) counts {naive} rows")
    assert got == server
    assert naive > len(src)  # the files the rerun's merge replaced are still on disk
