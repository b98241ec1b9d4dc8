"""Object storage as a location (``--location s3://...``), against the embedded S3 emulator: what the file
backends write there is read back by an independent S3 client (boto3), a user's bucket keeps what it held,
what a run creates is removed, an unreachable endpoint is a quick skip, and no secret key leaks."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import storeadvise
from storeadvise.backends import backend_class
from storeadvise.backends._objectstore import SERVICE, parse_location
from storeadvise.backends.base import BackendSettings
from storeadvise.backends.services import free_port
from storeadvise.errors import UsageError

pytestmark = pytest.mark.server

FILE_BACKENDS = ("csv", "jsonl", "parquet", "arrow")
TABLE_BACKENDS = ("delta", "iceberg", "lance")
LOCATED = FILE_BACKENDS + TABLE_BACKENDS


def _boto3(address: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=address, aws_access_key_id="independent",
                        aws_secret_access_key="independent-client", region_name="us-east-1")


def _keys(client: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def _buckets(client: Any) -> list[str]:
    return [b["Name"] for b in client.list_buckets()["Buckets"]]


def _table(rows: int = 500) -> pa.Table:
    return pa.table({"id": pa.array(range(rows), pa.int64()), "name": [f"n{i}" for i in range(rows)],
                     "x": pa.array([i / 7 for i in range(rows)])})


def _opened(name: str, s3_server: Any, scratch: Path, location: str) -> Any:
    settings = BackendSettings(run_id=uuid.uuid4().hex[:8], scratch_dir=scratch, key_column="id",
                               service=s3_server, options={"location": location})
    backend = backend_class(name)(settings)
    backend.open()
    return backend


def test_parse_location() -> None:
    assert parse_location(None) is None and parse_location("") is None
    where = parse_location("s3://my-bucket/some/prefix/")
    assert (where.bucket, where.prefix, where.url) == ("my-bucket", "some/prefix", "s3://my-bucket/some/prefix")
    assert parse_location("s3://abc").folder("run", "csv") == "abc/run/csv"
    for bad in ("/tmp/x", "gs://bucket/x", "s3://ab/x", "s3://Upper/x", "s3://under_score"):
        with pytest.raises(UsageError, match="--location"):
            parse_location(bad)


@pytest.mark.parametrize("name", FILE_BACKENDS)
def test_an_independent_client_reads_what_a_file_backend_wrote(name: str, s3_server: Any, scratch: Path) -> None:
    table = _table()
    backend = _opened(name, s3_server, scratch, f"s3://independent-{name}/some/prefix")
    try:
        backend.write(table.schema, table.to_batches(max_chunksize=200))
        client = _boto3(s3_server.address)
        keys = [k for k in _keys(client, f"independent-{name}") if "/part-" in k]
        assert len(keys) == 1 and keys[0].startswith(f"some/prefix/storeadvise_{backend.settings.run_id}/{name}/")
        body = client.get_object(Bucket=f"independent-{name}", Key=keys[0])["Body"].read()
        if name == "parquet":
            got = pq.read_table(io.BytesIO(body))
        elif name == "arrow":
            got = pa.ipc.open_file(pa.py_buffer(body)).read_all()
        elif name == "csv":
            got = pcsv.read_csv(io.BytesIO(body))
        else:
            got = pa.Table.from_pylist([json.loads(line) for line in body.splitlines()])
        assert got.select(table.column_names).cast(table.schema).equals(table)
        assert backend.size_bytes() == len(body)
        assert backend.read().equals(table)
    finally:
        backend.cleanup()
    assert f"independent-{name}" not in _buckets(client)  # the backend created the bucket, and removed it


def _copy_down(client: Any, bucket: str, prefix: str, to: Path) -> list[str]:
    """Every object under ``prefix`` downloaded by boto3 into ``to`` (same relative paths); their keys."""
    keys = [k for k in _keys(client, bucket) if k.startswith(prefix)]
    for key in keys:
        target = to / key.removeprefix(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    return keys


def _read_copy(name: str, folder: Path) -> pa.Table:
    """The table in a local copy of the objects, read by the format's own reader (Iceberg's metadata names
    its data files by their s3:// URLs, so its copied data files are read as Parquet)."""
    if name == "delta":
        from deltalake import DeltaTable

        return DeltaTable(str(folder / "table")).to_pyarrow_table()
    if name == "lance":
        import lance

        return lance.dataset(str(folder)).to_table()
    assert list((folder / "table" / "metadata").glob("*.metadata.json"))
    return pa.concat_tables(pq.read_table(p) for p in sorted((folder / "table" / "data").glob("*.parquet")))


@pytest.mark.parametrize("name", TABLE_BACKENDS)
def test_an_independent_client_reads_what_a_table_backend_wrote(name: str, s3_server: Any, scratch: Path,
                                                                tmp_path: Path) -> None:
    """The table formats and Lance write through their own S3 clients: boto3 copies the objects down, and
    the format's reader (deltalake, pylance) opens the copy; the written schema and Iceberg's catalog are
    the only things in the local scratch folder."""
    table = _table()
    bucket = f"tables-{name}"
    backend = _opened(name, s3_server, scratch, f"s3://{bucket}/deep/prefix")
    client = _boto3(s3_server.address)
    try:
        backend.write(table.schema, table.to_batches(max_chunksize=200))
        backend.append(_table(10).to_batches()[0])
        prefix = f"deep/prefix/storeadvise_{backend.settings.run_id}/{name}/"
        keys = _copy_down(client, bucket, prefix, tmp_path / "copy")
        assert keys and backend.size_bytes() == sum(
            client.head_object(Bucket=bucket, Key=k)["ContentLength"] for k in keys)
        expected = pa.concat_tables([table, _table(10)])
        got = _read_copy(name, tmp_path / "copy")
        assert got.select(expected.column_names).sort_by("id").equals(expected.sort_by("id"))
        assert backend.read().sort_by("id").equals(expected.sort_by("id"))
        assert backend.lookup(7).column("id").to_pylist() == [7, 7]
        local = sorted(p.name for p in backend.location.rglob("*") if p.is_file())
        assert set(local) <= {"_schema.arrow", "catalog.db"}
        server = backend.server_info()
        assert server["location"].startswith(f"s3://{bucket}/deep/prefix/") and server["embedded"]
    finally:
        backend.cleanup()
    assert bucket not in _buckets(client)


def test_users_bucket_keeps_its_objects_and_loses_only_the_runs(
    s3_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded server stands in for the user's: a bucket and an object made before the run are there
    after it, unchanged, and nothing of the run is left. The user's credentials come from the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "users-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "users-secret-key")
    client = _boto3(s3_server.address)
    client.create_bucket(Bucket="users-own")
    client.put_object(Bucket="users-own", Key="data/keep.txt", Body=b"the user's")
    try:
        run = storeadvise.benchmark(
            sample="tabular", rows=300, backends=list(LOCATED), repeat=1, warmup=0, lookups=5,
            options={"location": "s3://users-own/data", "s3_endpoint": s3_server.address},
            out=tmp_path / "run.json", scratch_dir=tmp_path,
        )
        assert all(b.status == "ok" for b in run.backends), [(b.backend, b.reason) for b in run.backends]
        assert all(not b.verification.flagged for b in run.backends)
        servers = [b.server for b in run.backends]
        assert all(s["location"].startswith("s3://users-own/data/storeadvise_") for s in servers)
        assert not any(s["embedded"] for s in servers)  # the address was given: the user's server
        assert _keys(client, "users-own") == ["data/keep.txt"]
        assert client.get_object(Bucket="users-own", Key="data/keep.txt")["Body"].read() == b"the user's"
    finally:
        for key in _keys(client, "users-own"):
            client.delete_object(Bucket="users-own", Key=key)
        client.delete_bucket(Bucket="users-own")


def test_bench_on_the_embedded_emulator_says_so_and_leaves_nothing(tmp_path: Path) -> None:
    run = storeadvise.benchmark(
        sample="nested", rows=300, backends="parquet,jsonl,delta,lance", repeat=1, warmup=0, lookups=5, cache="both",
        options={"location": "s3://fresh-bucket"}, out=tmp_path / "run.json", scratch_dir=tmp_path,
    )
    assert all(b.status == "ok" for b in run.backends), [(b.backend, b.reason) for b in run.backends]
    assert run.settings["servers"]["s3"]["embedded"]
    for entry in run.backends:
        assert entry.server["product"] == SERVICE.embedded_product and entry.server["embedded"]
        assert not entry.description["durability"].startswith("not fsynced")
        assert {m.op: m.durable for m in entry.measurements if m.op == "write"} == {"write": False}
        reads = [m for m in entry.measurements if m.op == "read"]
        # the emulator keeps objects in memory: a "cold" read cannot be had, and is not claimed
        assert {m.cache for m in reads} == {"warm"}
        assert any("memory only" in m.extra.get("cache_reason", "") for m in reads)
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_an_unreachable_endpoint_is_a_clear_skip(tmp_path: Path) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    run = storeadvise.benchmark(
        sample="tabular", rows=200, backends=list(LOCATED), repeat=1, warmup=0,
        options={"location": "s3://nowhere-bucket/x", "s3_endpoint": address}, save=False, scratch_dir=tmp_path,
    )
    reasons = {b.backend: (b.status, b.reason) for b in run.backends}
    assert reasons == {name: ("skipped", f"cannot reach the S3 endpoint {address}") for name in LOCATED}


def test_a_location_that_is_no_url_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="s3://bucket/prefix"):
        storeadvise.benchmark(sample="tabular", rows=100, backends="csv", options={"location": str(tmp_path)},
                              save=False)


def test_the_secret_key_is_never_printed_or_saved(s3_server: Any, tmp_path: Path) -> None:
    """The AWS secret key reaches pyarrow's client from the environment, and appears nowhere storeadvise
    writes, with the run succeeding on the (emulated) user's server and failing on an unreachable one."""
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOREADVISE_", "AWS_"))}
    env.update(AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION="us-east-1")
    everything = ""
    for endpoint, code in ((s3_server.address, 0), (f"http://127.0.0.1:{free_port()}", 6)):
        out = tmp_path / f"run-{code}.json"
        result = subprocess.run(
            [sys.executable, "-m", "storeadvise.cli", "bench", "--sample", "tabular", "--rows", "200", "-b",
             "parquet,csv,delta,iceberg,lance", "--repeat", "1", "--warmup", "0", "--location", "s3://secret-test/p",
             "--s3-endpoint", endpoint, "-o", str(out)],
            capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == code, result.stderr
        everything += result.stdout + result.stderr + out.read_text()
    assert "secret-test" in everything and secret not in everything


def test_requests_and_bytes_per_operation_are_counted_at_the_embedded_server(tmp_path: Path) -> None:
    """Each operation on object storage carries the requests, uploaded and downloaded bytes of one more,
    untimed run, as the embedded server's request log saw them: a write uploads at least what is stored,
    a whole read of Parquet downloads the object once, and operations without object storage carry none."""
    run = storeadvise.benchmark(
        sample="tabular", rows=2000, backends="parquet,delta,lance", ops="write,read,lookup", repeat=1, warmup=0,
        lookups=3, options={"location": "s3://traffic-bucket/p"}, save=False, scratch_dir=tmp_path,
    )
    assert all(b.status == "ok" for b in run.backends), [(b.backend, b.reason) for b in run.backends]
    for entry in run.backends:
        ops = {m.op: m for m in entry.measurements}
        write = ops["write"]
        assert write.requests and write.requests == sum(write.extra["requests_by_method"].values())
        assert write.extra["requests_by_method"].get("PUT", 0) >= 1
        assert write.bytes_sent >= write.bytes_at_rest > 0
        for op in ("read", "lookup"):
            assert ops[op].requests >= 1 and ops[op].bytes_sent == 0 and ops[op].bytes_received > 0
            assert ops[op].extra["traffic_source"].startswith("the embedded S3 server's own request log")
    parquet = {m.op: m for m in run.backends[0].measurements}
    assert parquet["read"].bytes_received == parquet["write"].bytes_at_rest  # one whole-object GET
    from storeadvise.bench.report import render

    shown = render(run, "markdown", details=True)
    assert all(column in shown for column in ("requests", "sent", "received"))
    local = storeadvise.benchmark(sample="tabular", rows=500, backends="parquet", ops="write,read", repeat=1,
                                  warmup=0, save=False, scratch_dir=tmp_path)
    assert all(m.requests is None and "traffic_source" not in m.extra for m in local.backends[0].measurements)


def test_on_your_server_requests_are_not_exposed(s3_server: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "users-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "users-secret-key")
    run = storeadvise.benchmark(
        sample="tabular", rows=500, backends="parquet", ops="write,read", repeat=1, warmup=0, save=False,
        options={"location": "s3://not-counted/p", "s3_endpoint": s3_server.address}, scratch_dir=tmp_path,
    )
    assert run.backends[0].status == "ok", run.backends[0].reason
    for m in run.backends[0].measurements:
        assert m.requests is None and m.bytes_received is None and m.extra["traffic_source"].startswith("not exposed")


def test_the_same_backend_on_the_local_disk_and_on_object_storage_in_one_run(tmp_path: Path) -> None:
    """``-b parquet,parquet@s3``: the plain name stays on the disk, the ``@s3`` one goes to the location
    (or to a scratch bucket on the embedded server), each under its own label; a backend that keeps no
    files cannot be put there."""
    run = storeadvise.benchmark(sample="tabular", rows=300, backends="parquet,parquet@s3,lance@s3", ops="write,read",
                                repeat=1, warmup=0, save=False, scratch_dir=tmp_path)
    entries = {b.backend: b for b in run.backends}
    assert list(entries) == ["parquet", "parquet@s3", "lance@s3"]
    assert all(b.status == "ok" for b in run.backends), [(b.backend, b.reason) for b in run.backends]
    assert entries["parquet"].server is None
    assert entries["parquet@s3"].server["location"].startswith("s3://storeadvise-scratch/storeadvise_")
    assert [m.requests is None for m in entries["parquet"].measurements] == [True, True]
    assert all(m.requests for m in entries["parquet@s3"].measurements)
    given = storeadvise.benchmark(sample="tabular", rows=300, backends="csv@s3", ops="write", repeat=1, warmup=0,
                                  options={"location": "s3://given-bucket/x"}, save=False, scratch_dir=tmp_path)
    assert [b.backend for b in given.backends] == ["csv@s3"]
    assert given.backends[0].server["location"].startswith("s3://given-bucket/x/")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="sqlite@s3"):
        storeadvise.benchmark(sample="tabular", rows=100, backends="parquet,sqlite@s3", save=False)
