"""Sling's replication files (``tests/fixtures/seeds/sling/``, verbatim from the seed document)
run against a real ``ampkit serve`` into a real PostgreSQL (a database of its own per test: the
files name the fixed schema ``amplitude``), DuckDB and Parquet, with the connections found where
Sling finds them (env.yaml in ``SLING_HOME_DIR``, environment variables)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import duckdb
import psycopg
import pyarrow.parquet as pq
import pytest
import yaml
from tests.invoke import invoke
from tests.replicate.conftest import (
    ANCHOR,
    EXPORT_END,
    KEY,
    NOW,
    PG_URL,
    PROJECT,
    SECRET,
    http,
    ok,
    pg_reachable,
    seed,
    send,
    server_config,
    source_events,
    upload_at,
)

from ampkit.core.policy import RetryPolicy
from ampkit.errors import ConfigError
from ampkit.replicate import SyncResult, load_config, resolve, run_sync
from ampkit.replicate.connections import source_connection, target_connection
from ampkit.seed import SeedSpec
from ampkit.server import RunningServer, serve_in_thread
from ampkit.server.limits import DashboardLimitsConfig

SEEDS = Path(__file__).parents[1] / "fixtures" / "seeds"
SLING = SEEDS / "sling"
FILES = ["replication_incremental.yaml", "replication_full_refresh.yaml",
         "replication_backfill.yaml"]
PG_PASSWORD = "pg-Secret-42:@/x"
"""PostgreSQL on the test machine trusts local users; the password is there to be hidden."""
BACKFILL = ("2024-01-01", "2024-06-30")
ALL_STREAMS = {"cohorts", "annotations", "events_list", "active_users",
               "average_session_length", "export"}


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """A server holding the seed data plus two annotations and two cohorts (read-only)."""
    srv = serve_in_thread(server_config(dashboard_limits=DashboardLimitsConfig(enabled=False)))
    seed(srv)
    with http(srv) as c:
        for day, label in (("2024-03-02", "launch"), ("2024-03-05", "campaign")):
            r = c.post("/api/2/annotations",
                       params={"app_id": str(PROJECT), "date": day, "label": label})
            assert r.status_code == 200, r.text
        for name in ("fans", "churned"):
            r = c.post("/api/3/cohorts/upload", json={
                "name": name, "app_id": PROJECT, "id_type": "BY_USER_ID", "ids": ["u1", "u2"],
                "owner": "me@example.com", "published": True})
            assert r.status_code == 200, r.text
    yield srv
    srv.stop()


@pytest.fixture
def pg_db() -> Iterator[str]:
    """A PostgreSQL database of this test's own (dropped afterwards): the seed's files write
    the fixed schema ``amplitude``, so parallel tests are kept apart database-side."""
    problem = pg_reachable()
    if problem is not None:
        pytest.skip(f"no PostgreSQL at {PG_URL} ({problem}); set AMPKIT_TEST_PG")
    name = f"ampkit_sling_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(PG_URL)
    user = parts.username or "postgres"
    netloc = f"{user}:{PG_PASSWORD.replace(':', '%3A').replace('@', '%40').replace('/', '%2F')}"
    netloc += f"@{parts.hostname}:{parts.port or 5432}"
    yield urlunsplit(parts._replace(netloc=netloc, path=f"/{name}", query=""))
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Sling's home folder (``SLING_HOME_DIR``), with no connection in the environment."""
    folder = tmp_path / "sling-home"
    folder.mkdir()
    monkeypatch.setenv("SLING_HOME_DIR", str(folder))
    for var in ("AMPLITUDE", "MY_POSTGRES", "MY_DUCKDB", "MY_FILES", "AMPLITUDE_API_KEY",
                "AMPLITUDE_SECRET_KEY", "AMPLITUDE_BASE_URL", "AMPLITUDE_REGION"):
        monkeypatch.delenv(var, raising=False)
    return folder


def write_env(home: Path, srv: RunningServer, pg: str | None, tmp: Path,
              anchor: dt.date = ANCHOR) -> None:
    """env.yaml as ``sling conns set`` writes it: the seed's AMPLITUDE connection (with our
    key pair and inputs) and the targets, the PostgreSQL one field by field."""
    parts = urlsplit(pg) if pg else None
    conns: dict[str, Any] = {
        "AMPLITUDE": {"type": "api", "spec": "amplitude",
                      "secrets": {"api_key": KEY, "secret_key": SECRET},
                      "inputs": {"anchor_date": anchor.isoformat(), "base_url": srv.url}},
        "MY_DUCKDB": {"type": "duckdb", "instance": str(tmp / "warehouse.duckdb")},
        "MY_FILES": {"type": "local", "url": f"file://{tmp / 'lake'}"},
    }
    if parts is not None:
        conns["MY_POSTGRES"] = {"type": "postgres", "host": parts.hostname, "port": parts.port,
                                "user": parts.username, "password": PG_PASSWORD,
                                "database": parts.path.lstrip("/")}
    (home / "env.yaml").write_text(yaml.safe_dump({"connections": conns}))


def sync_file(name: str, *, target: str | None = None, now: dt.datetime = NOW) -> SyncResult:
    """A seed file as it is, with the connections of env.yaml (no settings passed in)."""
    options = resolve(load_config(SLING / name), target=target, now=now)
    return ok(run_sync(options, retry=RetryPolicy.no_wait()))


# --- what the server holds ------------------------------------------------------------------


def _cells(body: dict[str, Any]) -> int:
    data = body["data"]
    return sum(min(len(data["xValues"]), len(row)) for row in data["series"])


def server_counts(srv: RunningServer, first: str, last: str) -> dict[str, int]:
    """Rows each stream should have: the server's own answers, counted."""
    days = {"start": first.replace("-", ""), "end": last.replace("-", "")}
    with http(srv) as c:
        return {
            "export": len(source_events(srv)),
            "cohorts": len(c.get("/api/3/cohorts").json()["cohorts"]),
            "annotations": len(c.get("/api/2/annotations").json()["data"]),
            "events_list": len(c.get("/api/2/events/list").json()["data"]),
            "active_users": _cells(c.get("/api/2/users", params={**days, "m": "active"}).json()),
            "average_session_length": _cells(
                c.get("/api/2/sessions/average", params=days).json()),
        }


def pg_tables(url: str) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'amplitude'")]
        out: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            cur = conn.execute(f'SELECT * FROM amplitude."{name}"')
            cols = [d.name for d in cur.description or ()]
            out[name] = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        other = conn.execute("SELECT count(*) FROM information_schema.tables WHERE "
                             "table_schema NOT IN ('amplitude', 'pg_catalog', "
                             "'information_schema')").fetchone()
        assert other == (0,), "tables outside the schema the object names"
        return out


def duck_tables(path: Path) -> dict[str, list[dict[str, Any]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'amplitude'"
        ).fetchall()]
        assert con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                           "table_schema = 'main'").fetchall() == [(0,)]
        return {n: con.sql(f'SELECT * FROM amplitude."{n}"').to_arrow_table().to_pylist()
                for n in names}
    finally:
        con.close()


def streams_of(name: str) -> set[str]:
    data = yaml.safe_load((SLING / name).read_text())
    return set(data["streams"])


def expected_counts(srv: RunningServer, name: str) -> dict[str, int]:
    first = BACKFILL[0] if "backfill" in name else ANCHOR.isoformat()
    counts = server_counts(srv, first, (NOW.date() - dt.timedelta(days=1)).isoformat())
    return {s: counts[s] for s in streams_of(name)}


@dataclass(frozen=True)
class Held:
    """What the module's server holds, asked once (the server is read-only)."""

    counts: dict[str, dict[str, int]]
    """:func:`expected_counts` of each seed file, by file name."""
    uuids: frozenset[str]
    events: int


@pytest.fixture(scope="module")
def held(server: RunningServer) -> Held:
    events = source_events(server)
    return Held({name: expected_counts(server, name) for name in FILES},
                frozenset(e["uuid"] for e in events), len(events))


def check(tables: dict[str, list[dict[str, Any]]], held: Held, name: str) -> None:
    """Table names, row counts equal to the server's, each key once."""
    assert set(tables) == streams_of(name) | {"_ampkit_state"}
    assert {t: len(rows) for t, rows in tables.items() if t != "_ampkit_state"} == \
        held.counts[name]
    uuids = [r["uuid"] for r in tables["export"]]
    assert len(uuids) == len(set(uuids)) and set(uuids) == held.uuids
    for series in {"active_users", "average_session_length"} & set(tables):
        keys = [(r["date"], r["segment"]) for r in tables[series]]
        assert len(keys) == len(set(keys)), series
    state = {r["stream"]: r["state"] for r in tables["_ampkit_state"]}
    export_state = state["export"] if isinstance(state["export"], dict) else json.loads(
        state["export"])
    incremental = yaml.safe_load((SLING / name).read_text())["streams"]["export"] or {}
    if incremental.get("mode") == "incremental" and "source_options" not in incremental:
        assert export_state["cursor"] == EXPORT_END  # the update key's saved position
    elif "source_options" in incremental:
        assert export_state.get("cursor") is None  # a backfill leaves the cursor alone


# --- the files are the seed's ---------------------------------------------------------------


def test_the_files_are_the_seed_documents_blocks_verbatim() -> None:
    text = (SEEDS / "003_b80cc4c2cf156efc.txt").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    copies = [SLING / n for n in ("env_amplitude.yaml", "env_anchor_date.yaml",
                                  "replication_incremental.yaml", "replication_full_refresh.yaml",
                                  "env_anchor_date_2024_06.yaml", "replication_backfill.yaml")]
    assert [p.read_text() for p in copies] == blocks
    assert "# Metadata endpoints" in copies[2].read_text()  # comments and empty entries kept
    assert "  cohorts:\n" in copies[2].read_text()


@pytest.mark.parametrize("env_file", ["env_amplitude.yaml", "env_anchor_date.yaml",
                                      "env_anchor_date_2024_06.yaml"])
def test_the_seeds_env_files_are_read_as_sling_reads_them(home: Path, env_file: str) -> None:
    (home / "env.yaml").write_text((SLING / env_file).read_text())
    conn = source_connection("AMPLITUDE")
    assert conn.api_key is not None and conn.api_key.get_secret_value() in {"your_api_key",
                                                                              "..."}
    assert conn.origin == f"{home / 'env.yaml'} (connections.AMPLITUDE)"
    assert conn.anchor_date == {"env_amplitude.yaml": None,
                                "env_anchor_date.yaml": dt.date(2024, 1, 1),
                                "env_anchor_date_2024_06.yaml": dt.date(2024, 6, 1)}[env_file]
    assert "your_api_key" not in repr(conn) and "your_secret_key" not in repr(conn)


# --- the seed's files, run ------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_each_seed_file_into_postgres_and_duckdb(server: RunningServer, held: Held, pg_db: str,
                                                  home: Path, tmp_path: Path, name: str) -> None:
    write_env(home, server, pg_db, tmp_path)
    first = sync_file(name)
    assert PG_PASSWORD not in first.target and "(schema amplitude)" in first.target
    assert {s.stream for s in first.streams} == streams_of(name)  # Sling's names
    check(pg_tables(pg_db), held, name)
    with psycopg.connect(pg_db) as conn:
        index = conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'amplitude' "
                             "AND tablename = 'export'").fetchone()
    assert index is not None and "UNIQUE" in index[0] and "(uuid)" in index[0]

    duck = sync_file(name, target="MY_DUCKDB")
    assert duck.target.startswith("duckdb ") and "(schema amplitude)" in duck.target
    check(duck_tables(tmp_path / "warehouse.duckdb"), held, name)

    again = sync_file(name)  # a second run: incremental streams read nothing new, no doubles
    check(pg_tables(pg_db), held, name)
    rows = {s.stream: s.rows for s in again.streams}
    spec = yaml.safe_load((SLING / name).read_text())["streams"]
    for stream, conf in spec.items():
        if conf and conf.get("mode") == "incremental" and "source_options" not in conf:
            assert rows[stream] == 0, stream


def test_a_second_incremental_run_reads_only_what_is_new(pg_db: str, home: Path,
                                                         tmp_path: Path) -> None:
    srv = serve_in_thread(server_config())
    try:
        seed(srv, SeedSpec(users=8, days=3, end=dt.date(2024, 3, 7), seed=5))
        write_env(home, srv, pg_db, tmp_path)
        before = len(source_events(srv))
        first = sync_file("replication_incremental.yaml")
        assert {s.stream: s.rows for s in first.streams}["export"] == before
        late = [{"user_id": f"late-{i}", "event_type": "Late", "insert_id": f"late-{i}",
                 "time": int(dt.datetime(2024, 3, 10, 12, 5, tzinfo=dt.UTC).timestamp() * 1000)}
                for i in range(3)]
        send(srv, late)
        upload_at(srv, [e["insert_id"] for e in late], dt.datetime(2024, 3, 10, 12, 10,
                                                                   tzinfo=dt.UTC))
        later = NOW + dt.timedelta(hours=6)  # the hour of the late events has settled
        second = sync_file("replication_incremental.yaml", now=later)
        rows = {s.stream: s.rows for s in second.streams}
        assert rows["export"] == 3
        tables = pg_tables(pg_db)
        uuids = [r["uuid"] for r in tables["export"]]
        assert len(uuids) == len(set(uuids)) == before + 3
        state = {r["stream"]: r["state"] for r in tables["_ampkit_state"]}
        assert state["export"]["cursor"] == "2024-03-10T15"
        assert state["active_users"]["cursor"] == "2024-03-09"
    finally:
        srv.stop()


def test_a_local_connection_writes_parquet_under_schema_and_stream(
        server: RunningServer, held: Held, home: Path, tmp_path: Path) -> None:
    write_env(home, server, None, tmp_path)
    result = sync_file("replication_full_refresh.yaml", target="MY_FILES")
    assert result.target.startswith("parquet ")
    root = tmp_path / "lake" / "amplitude"
    assert (root / "_ampkit_state.json").is_file()
    counts = held.counts["replication_full_refresh.yaml"]
    for stream, count in counts.items():
        files = sorted((root / stream).rglob("*.parquet"))
        assert sum(pq.read_metadata(f).num_rows for f in files) == count, stream
    assert any(p.name.startswith("dt=") for p in (root / "export").iterdir())


# --- the command, as a user runs it ---------------------------------------------------------


def test_the_command_runs_a_seed_file_with_connections_in_env_vars(
        pg_db: str, home: Path, tmp_path: Path) -> None:
    """Real clock: the data is a few days old; AMPLITUDE as YAML and MY_POSTGRES as a URL in
    environment variables (they win over env.yaml, which holds a wrong pair here)."""
    today = dt.datetime.now(dt.UTC).date()
    srv = serve_in_thread(server_config())
    try:
        seed(srv, SeedSpec(users=6, days=2, end=today - dt.timedelta(days=3), seed=3))
        (home / "env.yaml").write_text(yaml.safe_dump({"connections": {"AMPLITUDE": {
            "type": "api", "spec": "amplitude",
            "secrets": {"api_key": "wrong-key-0000", "secret_key": "wrong-secret-0000"}}}}))
        amplitude = (f"{{ type: api, spec: amplitude, secrets: {{ api_key: \"{KEY}\", "
                     f"secret_key: \"{SECRET}\" }}, inputs: {{ base_url: \"{srv.url}\", "
                     f"anchor_date: \"{today - dt.timedelta(days=6)}\" }} }}")
        env = {"SLING_HOME_DIR": str(home), "AMPLITUDE": amplitude, "MY_POSTGRES": pg_db}
        config = str(SLING / "replication_full_refresh.yaml")
        plan = invoke("sync", "--config", config, "--dry-run", env=env, clear_amplitude_env=True)
        assert plan.returncode == 0, plan.stderr
        assert "export" in plan.stdout and "amplitude" in plan.stdout
        r = invoke("sync", "--config", config, env=env, clear_amplitude_env=True)
        assert r.returncode == 0, r.stdout + r.stderr
        shown = r.stdout + r.stderr + plan.stdout + plan.stderr
        for secret in (KEY, SECRET, PG_PASSWORD, "pg-Secret-42"):
            assert secret not in shown
        assert "postgres" in r.stdout and "export" in r.stdout
        tables = pg_tables(pg_db)
        assert len(tables["export"]) == len(source_events(srv)) > 0
        assert set(tables) == ALL_STREAMS | {"_ampkit_state"}
    finally:
        srv.stop()


# --- connections: where they come from, what a mistake says ---------------------------------


def test_a_name_found_nowhere_says_where_it_looked(home: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(load_config(SLING / "replication_incremental.yaml"))
    text = str(info.value)
    assert "'AMPLITUDE' not found" in text and "environment variable AMPLITUDE" in text
    assert str(home / "env.yaml") in text and "AMPLITUDE_API_KEY" in text
    (home / "env.yaml").write_text("connections:\n  AMPLITUDE:\n    type: api\n    spec: "
                                   "amplitude\n    secrets: {api_key: a1234, secret_key: b1234}\n")
    with pytest.raises(ConfigError) as target:
        resolve(load_config(SLING / "replication_incremental.yaml"))
    assert "target 'MY_POSTGRES' is neither a connection" in str(target.value)
    assert "environment variable MY_POSTGRES" in str(target.value)


def test_ampkits_own_variables_stand_in_for_the_source(home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPLITUDE_API_KEY", KEY)
    monkeypatch.setenv("AMPLITUDE_SECRET_KEY", SECRET)
    monkeypatch.setenv("MY_POSTGRES", "postgresql://u:pw@127.0.0.1:1/db")
    options = resolve(load_config(SLING / "replication_incremental.yaml"), now=NOW)
    assert options.source is not None and options.source.api_key is None
    assert options.source.origin.startswith("AMPLITUDE_API_KEY")
    assert options.streams[0].anchor_date == NOW.date() - dt.timedelta(days=30)
    assert "pw" not in repr(options).replace("password", "")


def test_target_connection_kinds(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "env.yaml").write_text(yaml.safe_dump({"connections": {
        "PG_FIELDS": {"type": "postgres", "host": "db.example", "port": 5433, "user": "me",
                      "password": "p@ss:w/rd", "database": "analytics", "schema": "raw",
                      "sslmode": "require"},
        "PG_URL": {"url": "postgresql://me:${PGPW}@db.example/analytics"},
        "DUCK": {"type": "duckdb", "instance": "~/warehouse.duckdb"},
        "FILES": {"type": "local", "url": "file:///srv/lake"},
    }}))
    monkeypatch.setenv("PGPW", "from-env-var")
    fields = target_connection("pg_fields")  # names are case-insensitive, as in Sling
    assert fields is not None and fields.schema_ == "raw"
    assert fields.target == ("postgresql://me:p%40ss%3Aw%2Frd@db.example:5433/analytics"
                             "?sslmode=require")
    assert "p@ss" not in repr(fields)
    url = target_connection("PG_URL")
    assert url is not None and url.target == "postgresql://me:from-env-var@db.example/analytics"
    duck = target_connection("DUCK")
    assert duck is not None and duck.target == f"duckdb://{Path.home() / 'warehouse.duckdb'}"
    files = target_connection("FILES")
    assert files is not None and files.target == "parquet:///srv/lake"
    monkeypatch.setenv("DUCK", "duckdb:///tmp/other.duckdb")  # a variable wins over env.yaml
    again = target_connection("DUCK")
    assert again is not None and again.target == "duckdb:///tmp/other.duckdb"
    assert again.origin == "environment variable DUCK"
    assert target_connection("NOPE") is None


@pytest.mark.parametrize(("conn", "needle"), [
    ({"type": "postgres", "host": "h", "database": "d", "password": "hunter2-secret",
      "port": "many"}, "port: Input should be a valid integer"),
    ({"type": "postgres", "password": "hunter2-secret"}, "host, database: required"),
    ({"type": "postgres", "url": "postgresql://h/d", "ssh_tunnel": "ssh://hunter2-secret@h"},
     "ssh_tunnel: Extra inputs are not permitted"),
    ({"type": "snowflake", "password": "hunter2-secret"}, "not snowflake"),
    ({"url": "mysql://u:hunter2-secret@h/db"}, "unsupported target URL scheme 'mysql'"),
    ({"type": "duckdb"}, "instance: required"),
])
def test_bad_target_connections_are_named_without_secrets(
        home: Path, conn: dict[str, Any], needle: str) -> None:
    (home / "env.yaml").write_text(yaml.safe_dump({"connections": {"MY_POSTGRES": conn}}))
    with pytest.raises(ConfigError) as info:
        target_connection("MY_POSTGRES")
    assert needle in str(info.value) and "connections.MY_POSTGRES" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(("conn", "needle"), [
    ({"type": "postgres", "host": "h"}, "is not an Amplitude connection"),
    ({"type": "api", "spec": "amplitude", "secrets": {"api_key": "hunter2-key"}},
     "secrets.secret_key: Field required"),
    ({"type": "api", "spec": "amplitude", "secrets": {"api_key": "hunter2-key",
                                                      "secret_key": "hunter2-secret"},
      "inputs": {"anchor_date": "last year"}}, "inputs.anchor_date: Value error, use YYYY-MM-DD"),
    ({"type": "api", "spec": "amplitude", "secrets": {"api_key": "hunter2-key",
                                                      "secret_key": "hunter2-secret"},
      "inputs": {"base_url": "ftp://x"}}, "inputs.base_url: Value error, must start with http"),
    ({"type": "api", "spec": "amplitude", "secrets": {"api_key": "hunter2-key",
                                                      "secret_key": "hunter2-secret"},
      "inputs": {"page_size": 5}}, "inputs.page_size: Extra inputs are not permitted"),
])
def test_bad_amplitude_connections_are_named_without_secrets(
        home: Path, conn: dict[str, Any], needle: str) -> None:
    (home / "env.yaml").write_text(yaml.safe_dump({"connections": {"AMPLITUDE": conn}}))
    with pytest.raises(ConfigError) as info:
        source_connection("AMPLITUDE")
    assert needle in str(info.value), str(info.value)
    assert "hunter2" not in str(info.value)


def test_a_variable_that_is_not_a_connection(home: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.setenv("AMPLITUDE", "just words")
    with pytest.raises(ConfigError, match="environment variable AMPLITUDE: not a connection"):
        source_connection("AMPLITUDE")
    monkeypatch.setenv("AMPLITUDE", "{ type: api, spec: amplitude, secrets: [")
    with pytest.raises(ConfigError, match="neither YAML/JSON nor a URL"):
        source_connection("AMPLITUDE")


# --- the file's own rules -------------------------------------------------------------------


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "replication.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "needle"), [
    ("streams:\n  export:\n    update_key: event_time\n",
     "streams.export.update_key: export is read incrementally by server_upload_time"),
    ("streams:\n  cohorts:\n    update_key: lastMod\n",
     "streams.cohorts.update_key: cohorts is read whole"),
    ("streams:\n  export:\n  events:\n", "'export' and 'events' are the same stream"),
    ("defaults:\n  object: amplitude.{stream_table}\nstreams:\n  export:\n",
     "defaults.object: unknown placeholder {stream_table}"),
    ("streams:\n  export:\n    object: a.b.{stream_name}\n",
     "streams.export.object: 'a.b.{stream_name}' must be schema.table or table"),
    ("streams:\n  export:\n    object: raw.{stream_name}\n  cohorts:\n    object: "
     "meta.{stream_name}\n", "the streams name 2 schemas (meta, raw)"),
    ("streams:\n  export:\n    object: one\n  cohorts:\n    object: one\n",
     "both write table 'one'"),
    ("streams:\n  export:\n    source_options:\n      limit: 5\n",
     "streams.export.source_options.limit: Extra inputs are not permitted"),
    ("streams:\n  export:\n    source_options:\n      range: \"2024-02-01\"\n",
     "must look like START,END"),
    ("streams:\n  cohorts:\n    mode: incremental\n", "supports only full-refresh"),
])
def test_file_mistakes_name_the_field(tmp_path: Path, home: Path, text: str,
                                      needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(load_config(_file(tmp_path, text)), target=str(tmp_path / "x.duckdb"))
    assert needle in str(info.value), str(info.value)


def test_export_is_events_and_the_native_format_keeps_its_names(tmp_path: Path,
                                                                home: Path) -> None:
    native = resolve(load_config(_file(tmp_path, "streams:\n  events:\n  cohorts:\n")),
                     target=str(tmp_path / "x.duckdb"))
    assert [(s.name, s.label, s.table) for s in native.streams] == [
        ("events", "events", "events"), ("cohorts", "cohorts", "cohorts")]
    assert native.schema_ is None
    flag = resolve(None, streams=["export", "new_users"], target=str(tmp_path / "x.duckdb"))
    assert [(s.name, s.label, s.table) for s in flag.streams] == [
        ("events", "export", "events"), ("new_users", "new_users", "new_users")]


# --- the README's section -------------------------------------------------------------------


def test_the_readme_section_runs(server: RunningServer, held: Held, pg_db: str, home: Path,
                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The section's replication file is the seed's; its env.yaml, pointed at this test's
    server, runs it (MY_POSTGRES from a variable: it wins over the file's)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Coming from Sling\n", 1)[1].split("\n## ", 1)[0]
    replication, env_yaml = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert replication == (SLING / "replication_incremental.yaml").read_text()
    (home / "env.yaml").write_text(env_yaml.replace("ampkit-demo-api-key", KEY)
                                   .replace("ampkit-demo-secret-key", SECRET)
                                   .replace("http://127.0.0.1:8787", server.url)
                                   .replace("./amplitude.duckdb", str(tmp_path / "a.duckdb")))
    monkeypatch.setenv("MY_POSTGRES", pg_db)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "replication.yaml"
    path.write_text(replication)
    options = resolve(load_config(path), now=NOW)
    assert options.streams[0].anchor_date == dt.date(2024, 1, 1)  # inputs.anchor_date
    ok(run_sync(options, retry=RetryPolicy.no_wait()))
    assert len(pg_tables(pg_db)["export"]) == held.events
    duck = resolve(load_config(path), target="MY_DUCKDB", now=NOW)
    ok(run_sync(duck, retry=RetryPolicy.no_wait()))
    assert len(duck_tables(tmp_path / "a.duckdb")["export"]) == held.events
