"""The media layouts on object storage (``files_index@s3``, ``webdataset@s3``), on the embedded S3 server:
what a user would put in a bucket (one object per item, tar shards, the manifest beside them), read back by
an independent client; a shuffled epoch reads every item once; a take asks for only the asked items'
bytes; a whole bench run on the layouts there verifies every item and leaves nothing behind. The round
trips by scan, take, lookup, append and from a reopened store are ``tests/test_layouts.py``'s, run on S3
too."""

from __future__ import annotations

import io
import random
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from media_tables import item_hashes, media_table

from storeadvise.backends import backend_class
from storeadvise.backends._media_objects import Span, spans
from storeadvise.backends._s3requests import recorded
from storeadvise.backends.base import Backend, BackendSettings
from storeadvise.errors import DataError

pytestmark = pytest.mark.server

LAYOUTS = ("files_index", "webdataset")
SHARD_BYTES = 40_000


def _boto3(address: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=address, aws_access_key_id="independent",
                        aws_secret_access_key="independent-client", region_name="us-east-1")


def _objects(client: Any, bucket: str) -> dict[str, bytes]:
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def _buckets(client: Any) -> list[str]:
    return [b["Name"] for b in client.list_buckets()["Buckets"]]


@pytest.fixture(params=LAYOUTS)
def on_s3(request: pytest.FixtureRequest, s3_server: Any, tmp_path: Path) -> Iterator[Backend]:
    settings = BackendSettings(run_id=uuid.uuid4().hex[:8], scratch_dir=tmp_path, service=s3_server, key_column="id",
                               options={"location": f"s3://media-{request.param.replace('_', '-')}/some/prefix",
                                        "webdataset_shard_bytes": SHARD_BYTES})
    backend = backend_class(request.param)(settings)
    backend.open()
    yield backend
    backend.cleanup()


def _in_tar(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {member.name: tar.extractfile(member).read() for member in tar}


def test_an_independent_client_finds_the_items_as_a_user_would_lay_them_out(on_s3: Backend, s3_server: Any,
                                                                              tmp_path: Path) -> None:
    table = media_table(60)
    on_s3.write(table.schema, table.to_batches(max_chunksize=16))
    client, bucket = _boto3(s3_server.address), on_s3.remote.where.bucket
    folder = f"some/prefix/storeadvise_{on_s3.settings.run_id}/{on_s3.name}/"
    stored = _objects(client, bucket)
    assert all(key.startswith(folder) for key in stored)
    names = {key.removeprefix(folder): data for key, data in stored.items()}
    items = dict(zip(table.column("id").to_pylist(), table.column("data").to_pylist(), strict=True))
    if on_s3.name == "files_index":
        assert {name.removeprefix("items/"): data for name, data in names.items() if name.startswith("items/")} == items
    else:
        shards = sorted(name for name in names if name.startswith("shard-"))
        assert len(shards) > 1 and all(len(names[s]) < SHARD_BYTES + 6_000 + 10_240 for s in shards)
        assert {k: v for s in shards for k, v in _in_tar(names[s]).items()} == items
    manifest = pq.read_table(pa.BufferReader(names["manifest-00000.parquet"]))
    assert manifest.column("id").equals(table.column("id"))
    assert on_s3.size_bytes() == sum(len(data) for data in stored.values())
    assert not any(tmp_path.iterdir())  # nothing of the layout on the local disk
    assert on_s3.server_info()["client"] == "boto3" and on_s3.durability().guarantee.startswith("the embedded S3")
    on_s3.cleanup()
    assert bucket not in _buckets(client)  # the backend created the bucket, and removed it


def test_a_shuffled_epoch_reads_every_item_exactly_once(on_s3: Backend) -> None:
    from storeadvise.bench.feeding import Epoch, LoaderSettings

    table = media_table(50)
    on_s3.write(table.schema, table.to_batches(max_chunksize=16))
    on_s3.release_cache()
    epoch = Epoch.of(table.num_rows, LoaderSettings(batch_size=8, workers=4), seed=3)
    batches = list(epoch.read(on_s3))
    read = pa.concat_tables(batches)
    assert sorted(read.column("id").to_pylist()) == sorted(table.column("id").to_pylist())
    assert item_hashes(read) == item_hashes(table)
    assert read.column("id").to_pylist() == table.take(epoch.order).column("id").to_pylist()


def test_a_take_downloads_only_the_asked_items(on_s3: Backend) -> None:
    """Counted by the embedded server: one GET per asked item (none for the empty item), each for that item's
    bytes only; a scan asks for each shard's items in one ranged GET, or each item object once."""
    table = media_table(60)
    on_s3.write(table.schema, table.to_batches(max_chunksize=16))
    positions = [59, 0, 31, 7, 44, 12]
    with on_s3.request_log() as log:
        got = on_s3.take(positions)
    assert got.equals(table.take(positions))
    asked = sum(len(d) for d in table.column("data").take(positions).to_pylist())
    empty = on_s3.name == "webdataset"  # a zero-length range is no request; an empty object still is one
    assert log.by_method == {"GET": len(positions) - empty} and log.received == asked
    with on_s3.request_log() as log:
        scanned = pa.Table.from_batches(list(on_s3.scan()))
    assert scanned.equals(table)
    objects = len(on_s3.objects.names("shard-")) if on_s3.name == "webdataset" else table.num_rows
    assert log.by_method == {"GET": objects}


def test_concurrent_uploads_of_large_items_are_all_counted(on_s3: Backend) -> None:
    """The server's request log gets concurrent requests with large bodies (which its recorder can write on
    one line): each upload is counted once, with its bytes."""
    table = media_table(16)
    big = [random.Random(n).randbytes(150_000) for n in range(16)]
    table = table.set_column(1, "data", pa.array(big, pa.large_binary()))
    on_s3.clear()  # as the runner does before a timed write
    with on_s3.request_log() as log:
        on_s3.write(table.schema, table.to_batches())
    objects = table.num_rows if on_s3.name == "files_index" else len(on_s3.objects.names("shard-"))
    assert log.by_method == {"PUT": objects + 1}  # and the manifest; nothing listed or deleted
    assert log.sent >= sum(len(d) for d in big)


def test_requests_sharing_a_line_of_the_servers_log_are_each_read() -> None:
    lines = [b'{"method": "PUT", "n": 1}{"method": "PUT", "n": 2}', b"", b'{"method": "GET", "n": 3}']
    assert [entry["n"] for entry in recorded(lines)] == [1, 2, 3]


@pytest.mark.parametrize("name", LAYOUTS)
def test_an_id_that_would_leave_the_prefix_puts_nothing(name: str, s3_server: Any, tmp_path: Path) -> None:
    settings = BackendSettings(run_id=uuid.uuid4().hex[:8], scratch_dir=tmp_path, service=s3_server, key_column="id",
                               options={"location": "s3://escape-test/inside"})
    backend = backend_class(name)(settings)
    backend.open()
    table = media_table(3).set_column(0, "id", pa.array(["ok.bin", "../../escape.bin", "fine.bin"]))
    try:
        with pytest.raises(DataError, match="not a relative path"):
            backend.write(table.schema, table.to_batches())
        assert not any("escape" in key for key in _objects(_boto3(s3_server.address), "escape-test"))
    finally:
        backend.cleanup()


def test_ranges_join_neighbouring_items_of_one_object_up_to_a_limit() -> None:
    names = ["b", "a", "a", "a", "a", "b"]
    offsets = [0, 0, 1_536, 100_000, 1_536, 50]
    lengths = [10, 1_000, 1_000, 5, 1_000, 10]
    assert spans(names, offsets, lengths, gap=1_024, limit=10_000) == [
        Span("a", 0, 2_536, (1, 2, 4)), Span("a", 100_000, 100_005, (3,)), Span("b", 0, 60, (0, 5))]
    assert [s.items for s in spans(names, offsets, lengths, gap=1_024, limit=2_000)] == [(1,), (2, 4), (3,), (0, 5)]


@pytest.mark.slow
def test_bench_measures_the_layouts_on_the_embedded_server_and_leaves_nothing(tmp_path: Path) -> None:
    """``-b files@s3,wds@s3``: each layout on the scratch bucket, every item verified, the requests counted,
    the write's guarantee the emulator's; ``--location`` puts the plain names there; nothing left in the
    scratch folder."""
    from storeadvise.bench.api import benchmark

    run = benchmark(sample="images", items=24, item_size="4KB", backends="files@s3,wds@s3",
                    ops="write,scan,take,lookup,append,shuffle", repeat=1, warmup=0, lookups=3, batch_size=8,
                    save=False, scratch_dir=tmp_path)
    assert [b.backend for b in run.backends] == ["files_index@s3", "webdataset@s3"]
    for entry in run.backends:
        assert entry.status == "ok", entry.reason
        assert entry.verification.items.startswith("24 items byte-identical"), entry.verification.items
        ops = {m.op: m for m in entry.measurements}
        assert all(ops[op].status == "ok" for op in ("write", "scan", "take", "lookup", "append", "shuffle"))
        assert ops["write"].requests >= 2 and ops["write"].bytes_sent >= ops["write"].bytes_at_rest > 0
        assert ops["take"].extra["requests_by_method"] == {"GET": ops["take"].requests}
        assert entry.server["client"] == "boto3" and entry.server["location"].startswith("s3://storeadvise-scratch/")
        assert "memory only" in entry.description["durability"]
    given = benchmark(sample="images", items=6, item_size="2KB", backends="files,wds", ops="write,take", repeat=1,
                      warmup=0, options={"location": "s3://given-media/x"}, save=False, scratch_dir=tmp_path)
    assert [(b.backend, b.status) for b in given.backends] == [("files_index", "ok"), ("webdataset", "ok")]
    assert all(b.server["location"].startswith("s3://given-media/x/storeadvise_") for b in given.backends)
    assert not list(tmp_path.iterdir())
