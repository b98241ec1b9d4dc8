"""The redis backend against a real server (the embedded redis-server unless STOREADVISE_REDIS_URL is set)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import server_data

from storeadvise.backends.base import BackendSettings, Predicate
from storeadvise.backends.redis import SERVICE, RedisBackend
from storeadvise.backends.services import Services, ServiceStatus
from storeadvise.errors import BackendUnavailable, DataError, UnsupportedOperation

pytestmark = pytest.mark.server

HERE = Path(__file__).parent
KEY, typed_table, with_microseconds = server_data.KEY, server_data.typed_table, server_data.with_microseconds


def _settings(server: ServiceStatus, scratch: Path, key: str | None = KEY, **kw: object) -> BackendSettings:
    return BackendSettings(run_id=f"t{uuid.uuid4().hex[:10]}", scratch_dir=scratch, key_column=key, service=server,
                           **kw)  # type: ignore[arg-type]


@pytest.fixture
def redis_backend(redis_server: ServiceStatus, scratch: Path) -> Iterator[RedisBackend]:
    backend = RedisBackend(_settings(redis_server, scratch))
    backend.open()
    yield backend
    backend.cleanup()


def _client(server: ServiceStatus):
    import redis

    return redis.Redis.from_url(server.address, socket_connect_timeout=5)


def _redis_cli(server: ServiceStatus, *args: str) -> str:
    """The Debian package's own client, in its own process: what another program sees in the server."""
    out = subprocess.run(["redis-cli", "-u", server.address, "--no-auth-warning", *args],
                         capture_output=True, timeout=60, check=True)
    return out.stdout.decode("utf-8")


def test_round_trip_keeps_every_documented_type(redis_backend: RedisBackend) -> None:
    nan_inf = pa.array([float("nan"), float("inf"), float("-inf"), -0.0, 1e-310] * 60, pa.float64())
    table = with_microseconds(typed_table()).append_column("odd_floats", nan_inf)
    redis_backend.write(table.schema, table.to_batches(max_chunksize=100))
    back = redis_backend.read()
    assert back.schema == table.schema
    # microseconds, uint64, decimals, NaN, infinities and -0.0 included: nothing is lost
    assert back.drop_columns(["odd_floats"]).equals(table.drop_columns(["odd_floats"]))
    assert list(map(repr, back["odd_floats"].to_pylist())) == list(map(repr, nan_inf.to_pylist()))
    assert all(redis_backend.type_loss(f) is None for f in table.schema)


@pytest.mark.parametrize("kind", ["tabular", "time-series", "text", "nested"])
def test_round_trip_of_sample_datasets(redis_backend: RedisBackend, kind: str) -> None:
    from storeadvise.bench.datasets import sample_dataset

    dataset = sample_dataset(kind, 400, seed=3)
    table = pa.Table.from_batches(list(dataset.batches()), schema=dataset.schema)
    key = dataset.profile.key_column
    redis_backend.settings.key_column = key
    redis_backend.write(dataset.schema, dataset.batches(batch_rows=150))
    back = redis_backend.read()
    assert back.num_rows == 400
    expected = table.sort_by(key) if key else table  # rows come back in key order
    assert back.equals(expected)


def test_lookup_projection_scan_and_the_refused_filter(redis_backend: RedisBackend) -> None:
    table = typed_table(500)
    redis_backend.write(table.schema, table.to_batches())
    hit = redis_backend.lookup(123)
    assert hit.to_pylist() == table.slice(123, 1).to_pylist()
    assert hit.schema == table.schema
    assert redis_backend.lookup(10_000).num_rows == 0
    assert redis_backend.lookup("not a number").num_rows == 0  # no int64 key can match it
    projected = redis_backend.read(columns=["name", KEY])
    assert projected.equals(table.select(["name", KEY]))
    batches = list(redis_backend.scan(batch_rows=128))
    assert [b.num_rows for b in batches] == [128, 128, 128, 116]
    assert pa.Table.from_batches(batches).equals(table)
    with pytest.raises(UnsupportedOperation, match="RediSearch"):
        redis_backend.read(where=Predicate(KEY, ">", 3))
    assert "filter" not in redis_backend.supports


def test_rows_without_a_key_column_keep_their_order_and_all_null_rows(redis_server, scratch: Path) -> None:
    backend = RedisBackend(_settings(redis_server, scratch, key=None))
    backend.open()
    try:
        table = pa.table({"a": pa.array([None, 2, None], pa.int64()), "b": pa.array([None, "x", None])})
        backend.write(table.schema, table.to_batches())
        backend.append(table.slice(0, 1).to_batches()[0])
        assert backend.read().to_pylist() == table.to_pylist() + table.slice(0, 1).to_pylist()
    finally:
        backend.cleanup()


def test_a_repeated_or_null_key_is_refused(redis_backend: RedisBackend) -> None:
    twice = pa.table({KEY: pa.array([1, 2, 1], pa.int64()), "v": ["a", "b", "c"]})
    with pytest.raises(DataError, match="holds '1' more than once"):
        redis_backend.write(twice.schema, twice.to_batches())
    null = pa.table({KEY: pa.array([1, None], pa.int64()), "v": ["a", "b"]})
    with pytest.raises(DataError, match="holds a null"):
        redis_backend.write(null.schema, null.to_batches())
    nested_binary = pa.table({KEY: [1], "p": [{"raw": b"\x00"}]})
    with pytest.raises(DataError, match="binary inside a struct or list"):
        redis_backend.write(nested_binary.schema, nested_binary.to_batches())


def test_redis_cli_reads_what_was_written(redis_backend: RedisBackend, redis_server: ServiceStatus) -> None:
    table = typed_table(250)
    redis_backend.write(table.schema, table.to_batches())
    prefix = redis_backend.settings.scratch_name
    keys = _redis_cli(redis_server, "--scan", "--pattern", f"{prefix}:*").split()
    assert len(keys) == 250
    names = [KEY, "name", "price", "flag", "point", "tags"]
    row = dict(zip(names, _redis_cli(redis_server, "--raw", "HMGET", f"{prefix}:42", *names).splitlines(),
                   strict=True))
    assert row["name"] == "naïve-42-日本-🙂"
    assert row[KEY] == "42" and row["price"] == "0.42" and row["flag"] == "true"
    assert json.loads(row["point"]) == {"lat": 4.2, "tag": "t42", "seen": 18628}  # 2021-01-01 as days
    assert json.loads(row["tags"]) == ["a0", "a1"]
    assert "small" not in _redis_cli(redis_server, "--raw", "HKEYS", f"{prefix}:3").split()  # null: no field
    schema = _client(redis_server).hget(prefix, "schema")
    assert pa.ipc.read_schema(pa.py_buffer(schema)) == table.schema


def test_size_is_the_memory_of_the_run_keys(redis_backend: RedisBackend) -> None:
    table = typed_table(300)
    redis_backend.write(table.schema, table.to_batches())
    size = redis_backend.size_bytes()
    assert 300 * 50 < size < 300 * 2_000
    assert "MEMORY USAGE" in redis_backend.size_source()
    redis_backend.append(typed_table(600).slice(300).to_batches()[0])
    assert redis_backend.size_bytes() > size * 1.5


def test_your_server_keeps_its_other_keys(redis_server: ServiceStatus, scratch: Path) -> None:
    """Given as the user's server (not embedded): keys made before the run, one of them another run's
    scratch key with a prefix that starts like this run's, are all there after it."""
    client = _client(redis_server)
    backend = RedisBackend(_settings(ServiceStatus(SERVICE, address=redis_server.address), scratch))
    mine = backend.settings.scratch_name
    others = {f"users_own_{uuid.uuid4().hex[:6]}": "keep", f"{mine}0:1": "another run", f"{mine}x": "near"}
    client.mset(others)
    try:
        backend.open()
        table = typed_table(50)
        backend.write(table.schema, table.to_batches())
        backend.clear()
        backend.write(table.schema, table.to_batches())
        assert len(SERVICE.scratch_names(redis_server.address, mine + ":")) == 50
        backend.cleanup()
        backend.cleanup()  # safe twice
        assert SERVICE.scratch_names(redis_server.address, mine + ":") == []
        assert client.exists(mine) == 0  # the schema's hash is gone too
        assert {k: client.get(k).decode() for k in others} == others
    finally:
        client.delete(*others)
        client.close()


def test_fsync_turns_on_the_append_only_file_of_the_embedded_server(redis_server: ServiceStatus,
                                                                     scratch: Path) -> None:
    if not redis_server.embedded:
        pytest.skip("only the embedded server's configuration is changed; yours never is")
    plain = RedisBackend(_settings(redis_server, scratch))
    plain.open()
    assert plain.durability().durable is False and "in memory only" in plain.durability().guarantee
    synced = RedisBackend(_settings(redis_server, scratch, fsync=True))
    synced.open()
    client = _client(redis_server)
    try:
        assert client.config_get("appendfsync") == {"appendfsync": "always"}
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert synced.durability().durable and synced.syncs()
        table = typed_table(20)
        synced.write(table.schema, table.to_batches())
        assert synced.read().equals(table)
    finally:
        synced.cleanup()
        plain.cleanup()
    assert client.config_get("appendonly") == {"appendonly": "no"}
    client.close()


def test_server_info_names_the_server(redis_backend: RedisBackend, redis_server: ServiceStatus) -> None:
    info = redis_backend.server_info()
    assert info["product"] == "Redis" and info["version"]
    assert info["embedded"] is redis_server.embedded
    assert "persistence" in info["protocol"]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:6379/", "redis://127.0.0.1:1/0", "redis://bob:hunter2pw@127.0.0.1:1/0"],
    ids=["bad-scheme", "refused", "refused-with-password"],
)
def test_an_unreachable_server_is_unavailable_quickly(url: str, scratch: Path) -> None:
    backend = RedisBackend(_settings(ServiceStatus(SERVICE, address=url), scratch))
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="cannot reach Redis") as err:
        backend.open()
    assert time.monotonic() - started < 15
    assert "hunter2pw" not in str(err.value)


def test_a_password_protected_server_is_measured_and_its_password_never_shown(tmp_path: Path) -> None:
    """A private server with a password, given in the URL: the run measures it, and the password is in
    neither the output nor the run file."""
    secret = f"pw-{uuid.uuid4().hex[:12]}"
    with Services(["redis"], {}, tmp_path / "server") as statuses:
        status = statuses["redis"]
        if status.unavailable:
            pytest.fail(status.unavailable)
        _client(status).config_set("requirepass", secret)
        url = status.address.replace("redis://", f"redis://:{secret}@")
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOREADVISE_")}
        out = tmp_path / "run.json"
        (tmp_path / "scratch").mkdir()
        result = subprocess.run(
            [sys.executable, "-m", "storeadvise.cli", "bench", "--sample", "tabular", "--rows", "300", "-b", "redis",
             "--repeat", "1", "--warmup", "0", "--lookups", "10", "--redis-url", url, "-o", str(out),
             "--scratch-dir", str(tmp_path / "scratch")],
            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        saved = out.read_text()
        assert secret not in result.stdout + result.stderr + saved
        run = json.loads(saved)
        (entry,) = run["backends"]
        assert entry["status"] == "ok" and not entry["verification"]["flagged"], entry
        assert entry["server"]["address"].startswith("redis://:***@")
