"""``ampkit sync --target 'dlt:filesystem?table_format=iceberg&…'``: events as an Iceberg table
partitioned by event date, its catalog pyiceberg's SQL catalog on SQLite (set in dlt's
``[iceberg_catalog]`` configuration); read back by pyiceberg itself: count, distinct uuid and
a property sum equal the server's, and a rerun of every window (a backfill) upserts by uuid,
never duplicates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.lazy import lazy_or_skip

dlt = lazy_or_skip("dlt")
lazy_or_skip("pyiceberg")
from tests.replicate.conftest import (  # noqa: E402
    EXPORT_END,
    expected,
    keyed,
    ok,
    source_events,
    sync,
)
from tests.replicate.test_dlt_tables import check  # noqa: E402

from ampkit.server import RunningServer  # noqa: E402

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """dlt's working folder and a SQLite Iceberg catalog, both inside the test's folder; dlt
    reads the catalog from its ``[iceberg_catalog]`` configuration (here its environment
    variables), pyiceberg opens the same one."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-home"))
    config = {"type": "sql", "uri": f"sqlite:///{tmp_path / 'catalog.db'}",
              "warehouse": (tmp_path / "warehouse").as_uri()}
    monkeypatch.setenv("ICEBERG_CATALOG__ICEBERG_CATALOG_NAME", "lake")
    monkeypatch.setenv("ICEBERG_CATALOG__ICEBERG_CATALOG_CONFIG", json.dumps(config))
    from pyiceberg.catalog import load_catalog

    return load_catalog("lake", **config)


@pytest.mark.timeout(120)
def test_iceberg_table_read_by_pyiceberg_and_rerun_without_duplicates(
    seeded: RunningServer, tmp_path: Path, catalog: Catalog
) -> None:
    lake = tmp_path / "lake"
    target = f"dlt:filesystem?bucket_url={lake.as_uri()}&table_format=iceberg&pipeline=p_ice"
    result = ok(sync(seeded, target, streams=["events"]))
    src = source_events(seeded)
    assert result.streams[0].rows == len(src) and result.streams[0].cursor == EXPORT_END
    assert result.target == f"dlt filesystem {lake.as_uri()} (iceberg), dataset amplitude"

    table = catalog.load_table("amplitude.events")
    (field,) = table.spec().fields
    from pyiceberg.transforms import IdentityTransform

    assert isinstance(field.transform, IdentityTransform)
    assert table.schema().find_column_name(field.source_id) == "event_date"
    assert table.location().startswith((lake / "amplitude" / "events").as_uri())
    data = table.scan().to_arrow()
    check(data, src)
    assert keyed(data.to_pylist(), "events") == expected(src, "events")

    # every window read again: pyiceberg upserts on uuid, the table keeps one row per event
    again = ok(sync(seeded, target, streams=["events"], backfill="2024-03-01,2024-03-09"))
    assert again.streams[0].rows == len(src)
    check(catalog.load_table("amplitude.events").scan().to_arrow(), src)
