"""Media layouts: every backend that stores a media table gives each item back byte-identical, by scan,
by position (``take``) and by id (``lookup``), after appends and from a reopened store; the new layouts
(files_index, webdataset, lmdb, gridfs) refuse ordinary tables with their reason, keep ids inside their folder, and
write what their own tools read (a folder of files, tar shards, an LMDB environment)."""

from __future__ import annotations

import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from media_tables import item_hashes, media_table

from storeadvise.backends import backend_class
from storeadvise.backends.base import Backend, BackendSettings
from storeadvise.backends.operations import OPERATIONS, InMemory
from storeadvise.bench.verify import verify_round_trip
from storeadvise.errors import DataError, UnsupportedOperation

NEW = ["files_index", "webdataset", "lmdb"]
WITH_TAKE = ["arrow", "parquet", "sqlite", "duckdb", "lance"]
SERVERS = [pytest.param(name, marks=pytest.mark.server) for name in ("gridfs", "mongo", "redis", "postgres")]
ON_S3 = [pytest.param(f"{name}@s3", marks=pytest.mark.server) for name in ("files_index", "webdataset")]
"""The layouts in a bucket on the embedded S3 server (``NAME@s3``: the same backend with a location)."""
LOCATION = "s3://layouts-test/media"
OPTIONS = {"webdataset_shard_bytes": 40_000}  # several shards from a small table
KEY_ORDER = {"redis"}
"""Backends whose reads (and so positions) follow the key, not the write: Redis keeps no row order."""
HEAP_ORDER = {"postgres"}
"""Backends whose reads (and so positions) follow where each row landed: PostgreSQL puts a row into an earlier
page that still has room for it, so items of varied size come back partly reordered."""
IN_MEMORY_SCHEMA = {"mongo", "redis"}
"""Backends that keep the written schema in the object that wrote it: a second object cannot read."""


def make(name: str, scratch: Path, fsync: bool = False, server: object = None) -> Backend:
    name, on_s3, _ = name.partition("@s3")
    options = {**OPTIONS, "location": LOCATION} if on_s3 else dict(OPTIONS)
    backend = backend_class(name)(BackendSettings(run_id=uuid.uuid4().hex[:8], scratch_dir=scratch, service=server,
                                                  key_column="id", options=options, fsync=fsync))
    backend.open()
    return backend


@pytest.fixture(params=NEW + WITH_TAKE + SERVERS + ON_S3)
def layout(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    name, on_s3, _ = request.param.partition("@s3")
    service = backend_class(name).needs_service({"location": LOCATION} if on_s3 else None)
    server = request.getfixturevalue(f"{service.name}_server") if service else None
    backend = make(request.param, tmp_path, server=server)
    yield backend
    backend.cleanup()


def write(backend: Backend, table: pa.Table) -> None:
    OPERATIONS["write"].call(backend, InMemory(table, batch_rows=16))


def in_read_order(backend: Backend, table: pa.Table) -> pa.Table:
    """``table``'s rows in the order ``backend`` reads them (and numbers them for ``take``)."""
    if backend.name in HEAP_ORDER:
        return table.take(pa.compute.index_in(backend.read(columns=["id"]).column("id"), value_set=table.column("id")))
    return table.sort_by("id") if backend.name in KEY_ORDER else table


def test_every_item_comes_back_byte_identical(layout: Backend) -> None:
    table = media_table(60, big=True)
    write(layout, table)
    read = OPERATIONS["read"].call(layout, None)
    assert item_hashes(read) == item_hashes(table)
    assert read.equals(in_read_order(layout, table))
    scanned = pa.Table.from_batches(list(layout.scan(batch_rows=7)))
    assert item_hashes(scanned) == item_hashes(table)
    assert scanned.column("id").equals(in_read_order(layout, table).column("id"))
    verification = verify_round_trip(table.schema, table.to_batches(16), layout.scan(batch_rows=16), layout)
    assert not verification.flagged and verification.checksum_match, verification.message


def test_take_returns_the_items_in_the_order_asked(layout: Backend) -> None:
    table = media_table(60, big=True)
    write(layout, table)
    positions = [59, 0, 31, 31, 7]
    assert OPERATIONS["take"].call(layout, positions).equals(in_read_order(layout, table).take(positions))
    extra = media_table(5, start=60)
    OPERATIONS["append"].call(layout, extra.to_batches()[0])
    both = pa.concat_tables([table, extra])
    assert layout.take([63, 2, 60]).equals(in_read_order(layout, both).take([63, 2, 60]))
    assert item_hashes(layout.read()) == item_hashes(both)


def test_takes_from_several_threads_at_once_return_their_items(layout: Backend) -> None:
    """A shuffled epoch's loader threads call take together on the one backend the harness opened."""
    from concurrent.futures import ThreadPoolExecutor

    table = media_table(64)
    write(layout, table)
    layout.release_cache()  # every thread finds the store closed: lazy opening races too
    expected = in_read_order(layout, table)
    batches = [list(range(i, 64, 8)) for i in range(8)] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(layout.take, batches))
    assert all(got.equals(expected.take(b)) for got, b in zip(results, batches, strict=True))


def test_lookup_by_id_finds_the_item_and_nothing_for_an_unknown_id(layout: Backend) -> None:
    table = media_table(30)
    write(layout, table)
    assert OPERATIONS["lookup"].call(layout, "class1/item00013.bin").equals(table.slice(13, 1))
    assert layout.lookup("class1/nothing.bin").num_rows == 0


@pytest.mark.parametrize("layout", [*NEW, *WITH_TAKE, *(p for p in SERVERS if p.values[0] not in IN_MEMORY_SCHEMA),
                                    *ON_S3], indirect=True)
def test_a_reopened_store_reads_the_same_items(layout: Backend, tmp_path: Path) -> None:
    """What a new process sees: a second backend on the same folder, nothing carried in memory (not for
    the stores that keep the written schema in the object that wrote it)."""
    table = media_table(40)
    write(layout, table)
    layout.append(media_table(3, start=40).to_batches()[0])
    layout.release_cache()
    again = backend_class(layout.name)(layout.settings)
    both = in_read_order(again, pa.concat_tables([table, media_table(3, start=40)]))
    assert again.take([42, 1]).equals(both.take([42, 1]))
    assert again.read(columns=["id", "label"]).num_rows == 43
    again.release_cache()


@pytest.mark.parametrize("name", NEW)
def test_an_ordinary_table_is_refused_with_the_reason(name: str, tmp_path: Path) -> None:
    backend = make(name, tmp_path)
    assert backend.refuses(pa.schema([("id", pa.int64())]))
    ordinary = pa.table({"id": [1, 2], "blob": pa.array([b"a", b"b"])})
    with pytest.raises(UnsupportedOperation, match="media tables only"):
        write(backend, ordinary)
    backend.cleanup()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", NEW)
def test_projection_and_filter_need_no_item_bytes(name: str, tmp_path: Path) -> None:
    from storeadvise.backends.base import Predicate

    backend = make(name, tmp_path)
    table = media_table(30)
    write(backend, table)
    got = backend.read(columns=["label", "id"], where=Predicate("rank", ">=", 25))
    assert got.to_pylist() == table.filter(pa.compute.field("rank") >= 25).select(["label", "id"]).to_pylist()
    assert backend.read(where=Predicate("label", "==", "class2")).equals(
        table.filter(pa.compute.field("label") == "class2"))
    backend.cleanup()


@pytest.mark.parametrize("name", ["files_index", "webdataset"])
@pytest.mark.parametrize("bad", ["../escape.jpg", "/etc/passwd", "a//b.jpg", "a/./b.jpg", ""])
def test_an_id_that_leaves_the_folder_is_a_data_error(name: str, bad: str, tmp_path: Path) -> None:
    backend = make(name, tmp_path)
    table = media_table(3)
    table = table.set_column(0, "id", pa.array(["ok.bin", bad, "fine.bin"]))
    with pytest.raises(DataError, match="not a relative path"):
        write(backend, table)
    backend.cleanup()
    assert not (tmp_path.parent / "escape.jpg").exists()


@pytest.mark.parametrize("name", NEW)
def test_fsync_writes_and_appends(name: str, tmp_path: Path) -> None:
    backend = make(name, tmp_path, fsync=True)
    assert backend.durability().durable
    table = media_table(20)
    write(backend, table)
    backend.append(media_table(2, start=20).to_batches()[0])
    assert backend.read().num_rows == 22
    backend.cleanup()


def test_files_index_is_the_folder_as_written(tmp_path: Path) -> None:
    backend = make("files_index", tmp_path)
    table = media_table(20)
    write(backend, table)
    root = backend.location / "items"
    on_disk = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert on_disk == dict(zip(table.column("id").to_pylist(), table.column("data").to_pylist(), strict=True))
    backend.cleanup()


def test_webdataset_shards_are_plain_tar_files_of_the_items(tmp_path: Path) -> None:
    backend = make("webdataset", tmp_path)
    table = media_table(60)
    write(backend, table)
    shards = sorted(backend.location.glob("shard-*.tar"))
    assert len(shards) > 1
    members: dict[str, bytes] = {}
    for shard in shards:
        with tarfile.open(shard) as tar:
            for member in tar:
                members[member.name] = tar.extractfile(member).read()
    assert members == dict(zip(table.column("id").to_pylist(), table.column("data").to_pylist(), strict=True))
    assert all(shard.stat().st_size < 40_000 + 6_000 + 10_240 for shard in shards)  # bounded by the shard size
    backend.cleanup()


@pytest.mark.server
def test_gridfs_files_read_back_through_pymongos_own_gridfs(tmp_path: Path, mongo_server: object) -> None:
    """Written in bulk as the GridFS specification lays files out: any GridFS client reads them, a file of
    several chunks (the last item, 3 MB) and an empty one included."""
    import gridfs

    backend = make("gridfs", tmp_path, server=mongo_server)
    table = media_table(12, big=True)
    write(backend, table)
    bucket = gridfs.GridFSBucket(backend._mongo.database)
    found = {f.filename: f.read() for f in bucket.find({})}
    assert found == dict(zip(table.column("id").to_pylist(), table.column("data").to_pylist(), strict=True))
    assert backend._mongo.database["fs.chunks"].count_documents({}) > 12  # the 3 MB item spans several chunks
    backend.cleanup()


def test_webdataset_shards_load_in_the_webdataset_package(tmp_path: Path) -> None:
    webdataset = pytest.importorskip("webdataset")
    backend = make("webdataset", tmp_path)
    table = media_table(30)
    write(backend, table)
    urls = [str(p) for p in sorted(backend.location.glob("shard-*.tar"))]
    samples = {s["__key__"]: s["bin"] for s in webdataset.WebDataset(urls, shardshuffle=False, empty_check=False)}
    assert samples == {i.removesuffix(".bin"): d for i, d in zip(table.column("id").to_pylist(),
                                                               table.column("data").to_pylist(), strict=True)}
    backend.cleanup()


def test_lmdb_holds_one_key_per_item_in_write_order(tmp_path: Path) -> None:
    import lmdb

    backend = make("lmdb", tmp_path)
    table = media_table(25)
    write(backend, table)
    backend.release_cache()
    env = lmdb.open(str(backend.location / "items.lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        values = list(txn.cursor().iternext(keys=False, values=True))
    env.close()
    assert values == table.column("data").to_pylist()
    backend.cleanup()


def test_parquet_writes_media_in_small_row_groups_and_take_reads_only_theirs(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from storeadvise.backends.parquet import MEDIA_ROW_GROUP_ROWS

    backend = make("parquet", tmp_path)
    table = media_table(3 * MEDIA_ROW_GROUP_ROWS + 5)
    write(backend, table)
    metadata = pq.read_metadata(backend.parts()[0])
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [MEDIA_ROW_GROUP_ROWS] * 3 + [5]
    read_groups: list[int] = []
    original = pq.ParquetFile.read_row_group

    def counting(self: pq.ParquetFile, i: int, *args: object, **kwargs: object) -> pa.Table:
        read_groups.append(i)
        return original(self, i, *args, **kwargs)

    pq.ParquetFile.read_row_group = counting  # type: ignore[method-assign]
    try:
        got = backend.take([3 * MEDIA_ROW_GROUP_ROWS + 1, 2])
    finally:
        pq.ParquetFile.read_row_group = original  # type: ignore[method-assign]
    assert got.equals(table.take([3 * MEDIA_ROW_GROUP_ROWS + 1, 2]))
    assert sorted(read_groups) == [0, 3]
    backend.cleanup()


def test_size_counts_the_stored_bytes_and_cleanup_removes_them(layout: Backend, tmp_path: Path) -> None:
    table = media_table(40)
    write(layout, table)
    raw = sum(len(d) for d in table.column("data").to_pylist())
    assert layout.size_bytes() >= raw * 0.5  # item bytes are random: no codec shrinks them by half
    layout.cleanup()
    assert list(tmp_path.iterdir()) == []
    if layout.service is not None:
        assert layout.service.scratch_names(layout.address, layout.settings.scratch_name) == []


def test_duckdb_takes_media_rows_by_id_after_appends_and_updates(tmp_path: Path) -> None:
    """A media table's takes go by id (listed in row order once per written state): an append or an update
    lists them again, so every position still names its row."""
    backend = make("duckdb", tmp_path)
    table = media_table(40)
    write(backend, table)
    assert backend.take([39, 0, 5, 5]).equals(table.take([39, 0, 5, 5]))
    extra = media_table(4, start=40)
    backend.append(extra.to_batches()[0])
    both = pa.concat_tables([table, extra])
    assert backend.take([43, 1, 40]).equals(both.take([43, 1, 40]))
    changed = both.slice(7, 1).set_column(4, "label", pa.array(["relabelled"]))
    backend.update(changed)
    assert backend.take(list(range(44))).equals(backend.read())
    assert backend.take([7])["label"].to_pylist() == ["relabelled"]
    with pytest.raises(IndexError):
        backend.take([44])
    backend.cleanup()
