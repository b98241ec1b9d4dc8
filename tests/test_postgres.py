"""The postgres backend against a real server (the embedded private cluster unless STOREADVISE_POSTGRES_URI
is set): type mapping, sample datasets, an independent client (psql), the user's data left alone,
durability settings, cold reads, unreachable servers and masked passwords."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
import server_data

from storeadvise.backends.base import BackendSettings, Predicate
from storeadvise.backends.postgres import SERVICE, PostgresBackend
from storeadvise.backends.services import Services, ServiceStatus
from storeadvise.errors import BackendUnavailable, DataError, UnsupportedOperation

pytestmark = pytest.mark.server

HERE = Path(__file__).parent
KEY, typed_table = server_data.KEY, server_data.typed_table


def _settings(server: ServiceStatus, scratch: Path, **kw: object) -> BackendSettings:
    return BackendSettings(run_id=f"t{uuid.uuid4().hex[:10]}", scratch_dir=scratch, key_column=KEY,
                           service=server, **kw)  # type: ignore[arg-type]


@pytest.fixture
def postgres(postgres_server: ServiceStatus, scratch: Path):
    backend = PostgresBackend(_settings(postgres_server, scratch))
    backend.open()
    yield backend
    backend.cleanup()


def _psycopg(server: ServiceStatus):
    import psycopg

    return psycopg.connect(server.address, autocommit=True)


def _expected(backend: PostgresBackend, table: pa.Table) -> pa.Table:
    """``table`` as the documented type mapping gives it back."""
    columns, fields = [], []
    for field in table.schema:
        column = table[field.name].combine_chunks()
        loss = backend.type_loss(field)
        if loss:
            column = loss.transform(column)
        columns.append(column)
        fields.append(field.with_type(column.type))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _rows(table: pa.Table) -> list[dict]:
    """The rows as Python values, NaN as a string so that it equals itself."""
    return [{k: "NaN" if isinstance(v, float) and v != v else v for k, v in row.items()} for row in table.to_pylist()]


def every_type(rows: int = 120) -> pa.Table:
    """The shared typed table plus the types only PostgreSQL's mapping has to say something about."""
    table = typed_table(rows)
    base = dt.datetime(2024, 3, 1, 12, 0, 0)
    extra = {
        "tiny": pa.array([i % 120 - 60 for i in range(rows)], pa.int8()),
        "u8": pa.array([i % 256 for i in range(rows)], pa.uint8()),
        "u32": pa.array([2**32 - 1 - i for i in range(rows)], pa.uint32()),
        "f32": pa.array([float("nan") if i == 5 else i / 4 for i in range(rows)], pa.float32()),
        "inf": pa.array([float("inf") if i % 2 else -0.0 for i in range(rows)], pa.float64()),
        "nanos": pa.array([(base.timestamp() * 10**9 + i * 1_001) for i in range(rows)], pa.int64()).cast(
            pa.timestamp("ns")),
        "paris": pa.array([base + dt.timedelta(hours=i) for i in range(rows)], pa.timestamp("s", tz="Europe/Paris")),
        "clock": pa.array([dt.time(i % 24, 1, 2, 3) for i in range(rows)], pa.time64("us")),
        "wait": pa.array(range(rows), pa.duration("ms")),
        "wide": pa.array([decimal.Decimal(10**37 + i) for i in range(rows)], pa.decimal128(38, 0)),
        "cat": pa.array([["red", "green"][i % 2] for i in range(rows)]).dictionary_encode(),
        "long_text": pa.array([f"row {i}" for i in range(rows)], pa.large_string()),
        "nothing": pa.nulls(rows),
        "far_day": pa.array([dt.date(1, 1, 1) if i % 2 else dt.date(9999, 12, 31) for i in range(rows)]),
    }
    for name, column in extra.items():
        table = table.append_column(name, column)
    return table


def test_round_trip_keeps_every_documented_type(postgres) -> None:
    table = every_type()
    postgres.write(table.schema, table.to_batches(max_chunksize=50))
    back = postgres.read()
    expected = _expected(postgres, table)
    assert back.schema == expected.schema
    assert _rows(back) == _rows(expected)
    lossy = {f.name for f in table.schema if postgres.type_loss(f)}
    # nanoseconds truncated, nested values as jsonb text, NUL characters (none here) removed from text
    assert lossy == {"nanos", "point", "tags", "name", "cat", "long_text"}
    assert not back["nanos"].equals(table["nanos"])  # the nanoseconds really are gone
    assert back["big_unsigned"].to_pylist()[0] == 2**64 - 1


@pytest.mark.parametrize("kind", ["tabular", "time-series", "text", "nested"])
def test_round_trip_of_sample_datasets(postgres, kind: str) -> None:
    from storeadvise.bench.datasets import sample_dataset

    dataset = sample_dataset(kind, 400, seed=3)
    table = pa.Table.from_batches(list(dataset.batches()), schema=dataset.schema)
    postgres.settings.key_column = None  # the samples' own key is checked by the lookup test
    postgres.write(dataset.schema, dataset.batches(batch_rows=150))
    back = postgres.read()
    assert back.num_rows == 400
    # Sorted: COPY may put a short row in an earlier page with room (the documented row order).
    first = table.column_names[0]
    assert _rows(back.sort_by(first)) == _rows(_expected(postgres, table).sort_by(first))


def test_lookup_projection_filter_and_scan(postgres) -> None:
    table = typed_table(500)
    postgres.write(table.schema, table.to_batches())
    hit = postgres.lookup(123)
    assert hit.to_pylist() == _expected(postgres, table.slice(123, 1)).to_pylist()
    assert postgres.lookup(10_000).num_rows == 0
    projected = postgres.read(columns=["name", KEY])
    assert projected.schema == table.select(["name", KEY]).schema
    assert projected.sort_by(KEY).to_pylist() == table.select(["name", KEY]).to_pylist()
    recent = postgres.read(columns=[KEY], where=Predicate("day", ">=", table["day"][450].as_py()))
    assert sorted(recent[KEY].to_pylist()) == [i for i in range(450, 500) if i % 7 != 3]
    unsigned = postgres.read(columns=[KEY], where=Predicate("big_unsigned", ">", 2**64 - 4))
    assert sorted(unsigned[KEY].to_pylist()) == [0, 1, 2]
    assert sorted(postgres.read(where=Predicate("blob", "==", bytes([5, 0, 255])))[KEY].to_pylist()) == [5, 261]
    batches = list(postgres.scan(batch_rows=128))
    assert [b.num_rows for b in batches] == [128, 128, 128, 116]
    assert pa.Table.from_batches(batches).to_pylist() == postgres.read().to_pylist()
    with pytest.raises(UnsupportedOperation, match="jsonb"):
        postgres.read(where=Predicate("point", "==", "x"))


def test_primary_key_append_write_one_and_size(postgres, postgres_server: ServiceStatus) -> None:
    table = typed_table(200)
    postgres.write(table.schema, table.to_batches())
    size = postgres.size_bytes()
    assert size > 0
    postgres.append(typed_table(210).slice(200, 10).to_batches()[0])
    postgres.append(typed_table(211).slice(210, 1).to_batches()[0])  # one row: the prepared INSERT
    back = postgres.read().sort_by(KEY)
    assert back.num_rows == 211
    assert back.to_pylist() == _expected(postgres, typed_table(211)).to_pylist()
    assert postgres.lookup(210).num_rows == 1
    with _psycopg(postgres_server) as con:
        primary = con.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
            (f'"{postgres.settings.scratch_name}"."data"',),
        ).fetchall()
    assert primary == [(KEY,)]


@pytest.mark.parametrize(("modality", "storage"), [("images", "e"), ("audio", "e"), ("text", "x"), (None, "x")])
def test_encoded_media_bytes_are_stored_external_and_other_bytes_as_postgres_chooses(
        postgres, postgres_server: ServiceStatus, modality: str | None, storage: str) -> None:
    """JPEG or MP3 bytes do not compress: they skip pglz (EXTERNAL, 'e'); documents and ordinary binary
    columns keep PostgreSQL's default (EXTENDED, 'x'), where compression can pay."""
    from media_tables import item_hashes, media_table

    table = media_table(20)
    if modality != "images":
        metadata = {b"storeadvise.media": modality.encode()} if modality else None
        table = table.replace_schema_metadata(metadata)
    postgres.write(table.schema, table.to_batches())
    with _psycopg(postgres_server) as con:
        stored = con.execute("SELECT attstorage FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'data'",
                             (f'"{postgres.settings.scratch_name}"."data"',)).fetchone()
    assert stored == (storage,)
    assert item_hashes(postgres.read()) == item_hashes(table)


def test_take_after_an_update_finds_the_rows_where_they_moved(postgres) -> None:
    """An updated row is a new row version elsewhere in the heap: positions are listed again."""
    table = typed_table(50)
    postgres.write(table.schema, table.to_batches())
    assert postgres.take([3, 40]).to_pylist() == postgres.read().take([3, 40]).to_pylist()
    changed = table.slice(3, 1).set_column(1, table.field(1), table.slice(4, 1).column(1))
    postgres.update(changed)
    after = postgres.read()
    assert after.num_rows == 50
    assert postgres.take(list(range(50))).to_pylist() == after.to_pylist()


def test_a_new_instance_reads_the_written_types_from_the_server(postgres) -> None:
    table = typed_table(30)
    postgres.write(table.schema, table.to_batches())
    again = PostgresBackend(postgres.settings)
    assert again.schema == table.schema
    assert again.read().sort_by(KEY).to_pylist() == _expected(postgres, table).to_pylist()
    postgres.clear()
    with pytest.raises(DataError, match="nothing has been written"):
        again.clear()
        again.read()
    again.cleanup()


def test_a_key_with_duplicates_gets_an_index_instead_of_a_primary_key(postgres) -> None:
    table = pa.table({KEY: [1, 1, 2], "v": ["a", "b", "c"]})
    postgres.write(table.schema, table.to_batches())
    assert postgres.lookup(1)["v"].to_pylist() == ["a", "b"]


def test_nul_characters_are_removed_as_documented(postgres) -> None:
    """PostgreSQL's text and jsonb cannot hold NUL: the values come back without it, and the type
    mapping says so (an escaped backslash before "u0000" in the JSON is text, and stays)."""
    table = pa.table({
        KEY: [1, 2],
        "v": ["a\x00b", "plain"],
        "cat": pa.array(["x\x00", "y"]).dictionary_encode(),
        "doc": pa.array([{"s": "c\x00d\\u0000"}, {"s": None}]),
    })  # fmt: skip
    postgres.write(table.schema, table.to_batches())
    back = postgres.read().sort_by(KEY)
    assert back["v"].to_pylist() == ["ab", "plain"]
    assert back["cat"].to_pylist() == ["x", "y"]
    assert json.loads(back["doc"][0].as_py()) == {"s": "cd\\u0000"}
    assert _rows(back) == _rows(_expected(postgres, table))
    assert "NUL" in postgres.type_loss(table.schema.field("v")).reason
    assert postgres.lookup(1).num_rows == 1


def _psql() -> str:
    found = shutil.which("psql")
    assert found, "psql (Debian's postgresql-client, installed with the postgresql package) is missing"
    return found


def test_an_independent_client_reads_what_was_written(postgres, postgres_server: ServiceStatus) -> None:
    """psql, libpq's own command-line client, not the ADBC driver or psycopg that wrote."""
    table = typed_table(250)
    postgres.write(table.schema, table.to_batches())
    relation = f'"{postgres.settings.scratch_name}".data'
    query = (f"SELECT count(*), (SELECT row_to_json(d) FROM {relation} d WHERE id = 42), "
             f"(SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{relation}'::regclass "
             "AND attname = 'at_utc') FROM " + relation)
    out = subprocess.run([_psql(), postgres_server.address, "-X", "-A", "-t", "-F", "\t", "-c", query],
                         capture_output=True, text=True, timeout=60, check=True)
    count, row, at_type = out.stdout.strip().split("\t")
    assert int(count) == 250
    seen = json.loads(row)
    assert seen["name"] == "naïve-42-日本-🙂"
    assert seen["big_unsigned"] == 2**64 - 1 - 42
    assert seen["price"] == 0.42
    assert seen["point"]["tag"] == "t42" and seen["tags"] == ["a0", "a1"]  # jsonb
    assert seen["blob"] == "\\x2a00ff"
    assert at_type == "timestamp with time zone"


def test_cleanup_drops_its_schema_and_nothing_else(postgres_server: ServiceStatus, scratch: Path) -> None:
    keep = f"storeadvise_keep_{uuid.uuid4().hex[:8]}"
    with _psycopg(postgres_server) as con:
        con.execute(f"CREATE TABLE public.{keep} (id int)")
        con.execute(f"INSERT INTO public.{keep} VALUES (7)")
        try:
            backend = PostgresBackend(_settings(postgres_server, scratch))
            backend.open()
            table = typed_table(20)
            backend.write(table.schema, table.to_batches())
            name = backend.settings.scratch_name
            assert SERVICE.scratch_names(postgres_server.address, name) == [name]
            backend.cleanup()
            backend.cleanup()  # safe twice
            assert SERVICE.scratch_names(postgres_server.address, name) == []
            assert con.execute(f"SELECT id FROM public.{keep}").fetchall() == [(7,)]
        finally:
            con.execute(f"DROP TABLE public.{keep}")


def test_durability_follows_the_servers_settings_and_fsync(postgres_server: ServiceStatus, scratch: Path) -> None:
    """The embedded cluster commits durably; a session whose synchronous_commit is off (set here through the
    URI, as a user's server could be configured) is reported as not durable, and --fsync turns it back on."""
    relaxed = ServiceStatus(SERVICE, address=postgres_server.address + "?options=-c%20synchronous_commit%3Doff")
    seen = {}
    for label, status, fsync in (("default", postgres_server, False), ("relaxed", relaxed, False),
                                 ("fsync", relaxed, True)):
        backend = PostgresBackend(_settings(status, scratch, fsync=fsync))
        backend.open()
        try:
            table = typed_table(10)
            backend.write(table.schema, table.to_batches())
            commit = backend._pg.execute("SHOW synchronous_commit").fetchone()[0]
            seen[label] = (backend.durability().durable, commit)
        finally:
            backend.cleanup()
    assert seen == {"default": (True, "on"), "relaxed": (False, "off"), "fsync": (True, "on")}


def test_a_cold_read_restarts_the_embedded_server(tmp_path: Path) -> None:
    from storeadvise.bench.cache import COLD, make_cold

    services = Services(["postgres"], {}, tmp_path)
    with services as statuses:
        backend = PostgresBackend(_settings(statuses["postgres"], tmp_path))
        backend.open()
        try:
            table = typed_table(100)
            backend.write(table.schema, table.to_batches())
            assert backend.lookup(3).num_rows == 1  # a prepared statement on the old session
            state = make_cold(backend, services.restart)
            assert state.label == COLD
            assert services.starts("postgres") == 2
            assert backend.read().num_rows == 100 and backend.lookup(3).num_rows == 1
        finally:
            backend.cleanup()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "uri",
    ["postgresql://127.0.0.1:1/postgres", "postgresql://bob:hunter2-pg@127.0.0.1:1/postgres",
     "postgresql://bob:hunter2-pg@10.255.255.1:5432/postgres"],
    ids=["refused", "refused-with-password", "no-answer"],
)
def test_unreachable_server_is_unavailable_within_seconds(uri: str, scratch: Path) -> None:
    backend = PostgresBackend(_settings(ServiceStatus(SERVICE, address=uri), scratch))
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="cannot reach PostgreSQL") as err:
        backend.open()
    assert time.monotonic() - started < 10
    assert "hunter2" not in str(err.value)


def _bench(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "run.json"
    (tmp_path / "scratch").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "storeadvise.cli", "bench", "--sample", "tabular", "--rows", "300", "-b", "postgres",
         "--repeat", "1", "--scratch-dir", str(tmp_path / "scratch"), "-o", str(out), *args],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env=env or {k: v for k, v in os.environ.items() if not k.startswith("STOREADVISE_")},
    )
    return result, json.loads(out.read_text()) if out.exists() else {}


def test_bench_on_the_embedded_cluster_verifies_and_leaves_nothing(tmp_path: Path) -> None:
    result, run = _bench(tmp_path)
    assert result.returncode == 0, result.stderr
    backend = run["backends"][0]
    assert backend["backend"] == "postgres" and backend["status"] == "ok", backend
    assert "PostgreSQL" in result.stdout and "embedded" in result.stdout
    assert list((tmp_path / "scratch").iterdir()) == []


def test_users_server_keeps_its_data_and_never_sees_the_password_printed(
    postgres_server: ServiceStatus, tmp_path: Path
) -> None:
    """The embedded cluster stands in for the user's server: a password in the URI (trust authentication
    ignores it) never reaches the output or the run file; a table made before the run is still there."""
    keep = f"users_own_{uuid.uuid4().hex[:8]}"
    secret = "hunter2-Postgres-Secret"
    address = postgres_server.address.replace("postgresql://postgres@", f"postgresql://postgres:{secret}@")
    with _psycopg(postgres_server) as con:
        con.execute(f"CREATE TABLE public.{keep} (id int)")
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("STOREADVISE_")}
            env[SERVICE.env_var] = address
            result, run = _bench(tmp_path, env=env)
            assert result.returncode == 0, result.stderr
            everything = result.stdout + result.stderr + (tmp_path / "run.json").read_text()
            assert secret not in everything
            assert run["backends"][0]["status"] == "ok"
            assert con.execute(f"SELECT count(*) FROM public.{keep}").fetchone() == (0,)
            assert SERVICE.scratch_names(postgres_server.address, "storeadvise_") == []
        finally:
            con.execute(f"DROP TABLE public.{keep}")
