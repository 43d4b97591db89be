"""``write_export``: archives into a JSON-lines, Parquet or DuckDB file, all or nothing; an
existing DuckDB file upserted by uuid; an unknown suffix refused before anything is read."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from test_export_decode import amplitude_line, build_archive

from ampkit.errors import ConfigError, ExportDecodeError
from ampkit.export import write_export
from ampkit.export.files import output_kind

pq = pytest.importorskip("pyarrow.parquet")


def archive(*ids: str, hour: int = 17) -> io.BytesIO:
    lines = [amplitude_line(i, uuid=f"uuid-{i}", event_properties={"id": i}) for i in ids]
    return io.BytesIO(build_archive([(f"1/1_2025-07-01_{hour}#0.json.gz", b"\n".join(lines))]))


def test_each_suffix_writes_its_file(tmp_path: Path) -> None:
    assert write_export([archive("a", "b"), archive("c", hour=18)], tmp_path / "e.jsonl") == 3
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    assert [json.loads(line)["$insert_id"] for line in lines] == ["a", "b", "c"]
    assert write_export([archive("a", "b"), archive("c", hour=18)], tmp_path / "e.PARQUET") == 3
    assert pq.read_table(tmp_path / "e.PARQUET").column("insert_id").to_pylist() == [
        "a", "b", "c"]
    assert write_export([archive("a", "b")], tmp_path / "e.duckdb", table="raw") == 2
    con = duckdb.connect(str(tmp_path / "e.duckdb"))
    assert con.execute("SELECT insert_id FROM raw ORDER BY 1").fetchall() == [("a",), ("b",)]
    con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.PARQUET", "e.duckdb", "e.jsonl"]


def test_an_existing_duckdb_file_is_upserted_by_uuid(tmp_path: Path) -> None:
    out = tmp_path / "e.duckdb"
    assert write_export([archive("a", "b", "c")], out) == 3
    con = duckdb.connect(str(out))
    con.execute("UPDATE events SET event_type = 'old'")
    con.close()
    # the same events again (and one more): one row per event, the new values kept
    assert write_export([archive("b", "c", "d")], out) == 3
    con = duckdb.connect(str(out))
    rows = con.execute("SELECT uuid, event_type FROM events ORDER BY uuid").fetchall()
    tables = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    con.close()
    assert rows == [("uuid-a", "old"), ("uuid-b", "e"), ("uuid-c", "e"), ("uuid-d", "e")]
    assert tables == [("events",)]  # no staging table left


def test_overlapping_archives_leave_one_row_per_uuid_new_file_or_existing(tmp_path: Path
                                                                          ) -> None:
    """Archives that overlap (the same hours twice, windows that share events) keep one row
    per uuid, the last archive's — into a new file as into an existing one."""
    out = tmp_path / "e.duckdb"

    def uuids() -> list[str]:
        con = duckdb.connect(str(out))
        try:
            return [r[0] for r in con.execute("SELECT uuid FROM events ORDER BY uuid").fetchall()]
        finally:
            con.close()

    assert write_export([archive("a", "b"), archive("b", "c"), archive("a", hour=18)], out) == 5
    assert uuids() == ["uuid-a", "uuid-b", "uuid-c"]
    assert write_export([archive("c", "d"), archive("c", "d")], out) == 4
    assert uuids() == ["uuid-a", "uuid-b", "uuid-c", "uuid-d"]


def test_no_events_and_failures_write_nothing(tmp_path: Path) -> None:
    for name in ("e.jsonl", "e.parquet", "e.duckdb"):
        assert write_export([io.BytesIO(b"")], tmp_path / name) == 0
    assert list(tmp_path.iterdir()) == []
    bad = io.BytesIO(build_archive([("1/a#0.json.gz", b"{not json")]))
    for name in ("e.jsonl", "e.parquet", "e.duckdb"):
        bad.seek(0)
        with pytest.raises(ExportDecodeError, match="not valid JSON"):
            write_export([archive("a"), bad], tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_upsert_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "e.duckdb"
    write_export([archive("a")], out)
    bad = io.BytesIO(build_archive([("1/a#0.json.gz", b"[1]")]))
    with pytest.raises(ExportDecodeError, match="expected a JSON object"):
        write_export([archive("b"), bad], out)
    con = duckdb.connect(str(out))
    assert con.execute("SELECT uuid FROM events").fetchall() == [("uuid-a",)]
    assert con.execute("SELECT table_name FROM information_schema.tables").fetchall() == [
        ("events",)]
    con.close()


@pytest.mark.parametrize("name", ["e.csv", "e", "e.json", "e.db", "e.jsonl.gz"])
def test_an_unknown_suffix_is_refused_before_reading(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=r"the export writes \.jsonl, \.parquet, \.duckdb"):
        output_kind(tmp_path / name)
    def never_read() -> Iterator[io.BytesIO]:
        raise AssertionError("an archive was asked for")
        yield archive("a")  # pragma: no cover

    with pytest.raises(ConfigError, match="suffix" if "." in name else "no suffix"):
        write_export(never_read(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_memory_limit_is_for_a_duckdb_file_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DuckDB file only"):
        write_export([archive("a")], tmp_path / "e.jsonl", memory_limit="64MB")
    assert write_export([archive("a")], tmp_path / "e.duckdb", memory_limit="64MB") == 1


def test_a_table_that_cannot_take_the_export_is_named_before_anything_is_read(
    tmp_path: Path,
) -> None:
    """A missing schema (DuckDB's catalog error), or a table of other columns (an aborted
    transaction, after the whole download), is a ConfigError naming it, and no archive is
    read."""
    read: list[str] = []

    def archives() -> Iterator[io.BytesIO]:
        read.append("first")
        yield archive("a")

    out = tmp_path / "e.duckdb"
    with pytest.raises(ConfigError, match=r"table 'nosch\.t': .*nosch does not exist"):
        write_export(archives(), out, table="nosch.t")
    assert read == [] and not list(tmp_path.iterdir())
    con = duckdb.connect(str(out))
    con.execute("CREATE TABLE ev2 (uuid INTEGER, event_type INTEGER)")
    con.close()
    with pytest.raises(ConfigError, match=r"table 'ev2' lacks the export's column\(s\)"):
        write_export(archives(), out, table="ev2")
    assert read == []


def test_a_memory_limit_duckdb_cannot_read_is_refused_before_any_download(tmp_path: Path
                                                                          ) -> None:
    read: list[str] = []

    def archives() -> Iterator[io.BytesIO]:
        read.append("first")
        yield archive("a")

    with pytest.raises(ConfigError, match="memory_limit 'lots'"):
        write_export(archives(), tmp_path / "e.duckdb", memory_limit="lots")
    assert read == [] and not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["e.jsonl", "e.parquet", "e.duckdb"])
def test_two_runs_to_one_name_never_write_into_one_file(tmp_path: Path, name: str) -> None:
    """Run A has written its first archive when run B writes all of its own and finishes; A
    then finishes too.  Each run wrote a file of its own: the result is A's events, whole
    (both wrote one NAME.partial: B reported success over a file holding a mix of both)."""
    import threading

    out = tmp_path / name
    b_done = threading.Event()
    errors: list[BaseException] = []

    def run_a_archives() -> Iterator[io.BytesIO]:
        yield archive("a1", "a2")
        b_done.wait(30)
        yield archive("a3", hour=18)

    def run_a() -> None:
        try:
            assert write_export(run_a_archives(), out) == 3
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    first = threading.Thread(target=run_a)
    first.start()
    try:
        assert write_export([archive("b1")], out) == 1
    finally:
        b_done.set()
        first.join(60)
    assert errors == []
    if name.endswith(".jsonl"):
        got = [json.loads(line)["$insert_id"] for line in out.read_text().splitlines()]
    elif name.endswith(".parquet"):
        got = pq.read_table(out).column("insert_id").to_pylist()
    else:
        con = duckdb.connect(str(out))
        got = [r[0] for r in con.execute("SELECT insert_id FROM events ORDER BY 1").fetchall()]
        con.close()
    assert sorted(got) == ["a1", "a2", "a3"]  # the last to finish wins, whole
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no partial left


def test_a_directory_or_a_missing_folder_is_refused_before_any_download(tmp_path: Path) -> None:
    def never() -> Iterator[io.BytesIO]:
        raise AssertionError("an archive was asked for")
        yield archive("x")  # pragma: no cover

    (tmp_path / "d.jsonl").mkdir()
    for out, words in ((tmp_path / "d.jsonl", "is a directory"),
                       (tmp_path / "nowhere" / "e.parquet", "does not exist"),
                       (tmp_path / "nowhere" / "e.duckdb", "does not exist")):
        with pytest.raises(ConfigError, match=words):
            write_export(never(), out)
