"""Media items: generated folders, the folder loader, shuffled epochs, decoding, emulated accelerators,
per-item verification and the advisor's evidence, on the file layouts that hold binary columns."""

from __future__ import annotations

import hashlib
import io
import threading
import time
import wave
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from storeadvise.backends import backend_class
from storeadvise.backends.base import Backend, BackendSettings
from storeadvise.backends.operations import OPERATIONS, InMemory, consume
from storeadvise.bench.datasets import load_dataset
from storeadvise.bench.feeding import (
    FEED_STEPS,
    Epoch,
    FeedJob,
    LoaderSettings,
    largest_kept_busy,
    training_ops,
)
from storeadvise.bench.mediasamples import PROFILE_FILE, write_media_sample
from storeadvise.bench.results import BackendRun, Measurement, Run, Stats, Verification
from storeadvise.bench.verify import item_differences, item_digests
from storeadvise.cli import cli
from storeadvise.errors import DataError, UsageError
from storeadvise.media import media_modality

LAYOUTS = ["parquet", "arrow", "lance", "sqlite"]
"""The layouts on this branch that hold a binary column."""


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media") / "images"
    write_media_sample("images", 24, 6_000, folder, seed=3)
    return folder


def folder_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def open_backend(name: str, tmp_path: Path) -> Backend:
    backend = backend_class(name)(BackendSettings(run_id="media", scratch_dir=tmp_path, key_column="id"))
    backend.open()
    return backend


# -- generated folders -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["images", "video", "audio", "documents"])
def test_a_sample_folder_is_deterministic_real_and_sized_as_asked(kind: str, tmp_path: Path) -> None:
    from PIL import Image

    first = write_media_sample(kind, 12, 20_000, tmp_path / "a", seed=5)
    write_media_sample(kind, 12, 20_000, tmp_path / "b", seed=5)
    assert folder_digest(tmp_path / "a") == folder_digest(tmp_path / "b")
    other = write_media_sample(kind, 12, 20_000, tmp_path / "c", seed=6)
    assert folder_digest(tmp_path / "a") != folder_digest(tmp_path / "c") and other["items"] == 12
    assert first["items"] == 12 and 10_000 <= first["size_p50"] <= 30_000, first
    items = [p for p in (tmp_path / "a").rglob("*") if p.is_file() and p.suffix not in (".csv", ".json")]
    assert len(items) == 12
    for path in items:
        data = path.read_bytes()
        if kind == "images":
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                assert image.format in ("JPEG", "PNG") and image.size[0] > 16
        elif kind == "video":
            import av

            with av.open(io.BytesIO(data)) as container:
                assert sum(1 for _ in container.decode(video=0)) > 1
        elif kind == "audio":
            with wave.open(io.BytesIO(data)) as wav:
                assert wav.getnframes() > 1_000
        else:
            assert len(data.decode("utf-8").split()) > 100


def test_a_sample_written_by_several_processes_is_the_folder_one_process_writes(tmp_path: Path) -> None:
    from storeadvise.bench.mediasamples import ITEMS_PER_WORKER

    items = 2 * ITEMS_PER_WORKER + 3
    write_media_sample("images", items, 1_500, tmp_path / "one", seed=4, workers=1)
    write_media_sample("images", items, 1_500, tmp_path / "two", seed=4, workers=2)
    assert folder_digest(tmp_path / "one") == folder_digest(tmp_path / "two")
    assert len(folder_digest(tmp_path / "two")) == items + 2  # the items, labels.csv and the profile


def test_sample_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not empty"):
        write_media_sample("documents", 2, 500, tmp_path / "mine", force=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    write_media_sample("documents", 2, 500, tmp_path / "sample")
    with pytest.raises(UsageError, match="--force"):
        write_media_sample("documents", 3, 500, tmp_path / "sample")
    assert write_media_sample("documents", 3, 500, tmp_path / "sample", force=True)["items"] == 3


# -- the folder loader ----------------------------------------------------------------------------------

def test_a_folder_loads_as_the_media_table_with_its_labels_joined(images: Path) -> None:
    before = folder_digest(images)
    dataset = load_dataset(images)
    table = dataset.to_table()
    assert media_modality(dataset.schema) == "images" and dataset.profile.modality == "images"
    assert table.num_rows == 24 and dataset.profile.key_column == "id" and dataset.profile.items["items"] == 24
    assert {"label", "width", "height"} <= set(table.column_names)
    assert not [n for n in dataset.profile.notes if "left out" in n]  # its labels and profile are no items
    row = table.slice(5, 1).to_pylist()[0]
    assert (images / row["id"]).read_bytes() == row["data"] and row["size"] == len(row["data"])
    from PIL import Image

    with Image.open(images / row["id"]) as image:
        assert [row["width"], row["height"]] == list(image.size)
    # streamed in batches of the items' bytes, and the folder is only read
    assert sum(b.num_rows for b in dataset.batches()) == 24
    assert folder_digest(images) == before


def test_labels_that_name_files_by_their_name_alone_join_and_mixed_items_are_noted(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("first document " * 20)
    (tmp_path / "two.txt").write_text("second document " * 20)
    (tmp_path / "song.wav").write_bytes(b"RIFF")
    (tmp_path / "meta.jsonl").write_text('{"filename": "one.txt", "topic": "x"}\n'
                                         '{"filename": "two.txt", "topic": "y"}\n')
    (tmp_path / "a" / "report.pdf").write_bytes(b"%PDF-1.7")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    dataset = load_dataset(tmp_path)
    table = dataset.to_table().sort_by("id")
    assert table.column("id").to_pylist() == ["a/one.txt", "two.txt"]
    assert table.column("topic").to_pylist() == ["x", "y"] and dataset.profile.modality == "text"
    assert any(note.endswith("mostly text: 1 audio file") for note in dataset.profile.notes), dataset.profile.notes
    # a file of another kind is named (the labels file and hidden files are not)
    assert any(note.endswith(": 1 file (a/report.pdf)") for note in dataset.profile.notes), dataset.profile.notes


@pytest.mark.parametrize(("content", "problem"), [
    ("file,label\n0000/images-000000.jpg,cat\n0000/images-000000.jpg,dog\n", "names a file twice"),
    ("picture,label\nx.jpg,cat\n", "no column naming the files"),
    ("file,label\nnot-here.jpg,cat\n", "names none of the folder's files"),
    ('file,label\n"unterminated,cat\n', "cannot be read as a labels table"),
])
def test_a_bad_labels_file_is_refused_in_one_line(images: Path, tmp_path: Path, content: str, problem: str) -> None:
    folder = tmp_path / "copy"
    for path in images.rglob("*.jpg"):
        (folder / path.relative_to(images)).parent.mkdir(parents=True, exist_ok=True)
        (folder / path.relative_to(images)).write_bytes(path.read_bytes())
    (folder / "labels.csv").write_text(content)
    with pytest.raises(DataError, match=problem):
        load_dataset(folder)
    result = CliRunner().invoke(cli, ["bench", str(folder), "--no-save", "-b", "arrow"])
    assert result.exit_code == DataError.exit_code and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and problem in result.stderr


# -- layouts: round trips, shuffled epochs, decoding -----------------------------------------------------

@pytest.mark.parametrize("name", LAYOUTS)
def test_every_item_round_trips_byte_identical(name: str, images: Path, tmp_path: Path) -> None:
    dataset = load_dataset(images)
    backend = open_backend(name, tmp_path)
    try:
        backend.write(dataset.schema, dataset.batches())
        expected = item_digests(dataset.batches())
        assert item_differences(expected, item_digests(backend.scan())) is None
        if "take" in backend.supports:
            epoch = Epoch.of(24, LoaderSettings(batch_size=5, workers=3), seed=1)
            assert item_differences(expected, item_digests(epoch.read(backend))) is None
    finally:
        backend.cleanup()


def test_a_shuffled_epoch_reads_every_item_exactly_once_in_a_seeded_order(images: Path, tmp_path: Path) -> None:
    dataset = load_dataset(images)
    backend = open_backend("lance", tmp_path)
    try:
        backend.write(dataset.schema, dataset.batches())
        epoch = Epoch.of(24, LoaderSettings(batch_size=5, workers=3), seed=1)
        tables = list(OPERATIONS["shuffle"].call(backend, epoch))
        ids = [i for t in tables for i in t.column("id").to_pylist()]
        assert sorted(ids) == sorted(dataset.to_table().column("id").to_pylist()) and len(set(ids)) == 24
        assert [t.num_rows for t in tables] == [5, 5, 5, 5, 4]
        stored = backend.scan()
        order = [i for b in stored for i in b.column("id").to_pylist()]
        assert ids == [order[p] for p in epoch.order]  # the sampler's order, whatever the threads' timing
        assert ids != order
        decoded = consume(OPERATIONS["decode"].call(backend, Epoch.of(24, LoaderSettings(batch_size=5), 1, "images")))
        assert decoded.rows == 24
    finally:
        backend.cleanup()


def test_the_item_check_flags_a_changed_missing_or_repeated_item() -> None:
    written = pa.table({"id": ["a", "b", "c"], "data": [b"1", b"2", b"3"]})
    expected = item_digests([written])
    assert item_differences(expected, item_digests([written.take([2, 0, 1])])) is None
    reencoded = pa.table({"id": ["a", "b", "c"], "data": [b"1", b"2*", b"3"]})
    assert "1 items changed" in item_differences(expected, item_digests([reencoded]))
    twice = pa.table({"id": ["a", "a", "b"], "data": [b"1", b"1", b"2"]})
    problem = item_differences(expected, item_digests([twice]))
    assert "1 items missing (e.g. 'c')" in problem and "read more than once (e.g. 'a')" in problem


def test_decode_is_refused_for_rows_that_are_no_media_items() -> None:
    from storeadvise.bench.datasets import sample_dataset
    from storeadvise.bench.workloads import plan_workload

    plan = plan_workload(sample_dataset("tabular", 100), ["decode", "shuffle"])
    assert OPERATIONS["shuffle"].skip(plan) is None
    assert "decode applies to" in OPERATIONS["decode"].skip(plan)


def test_an_item_that_does_not_decode_is_named(images: Path, tmp_path: Path) -> None:
    import shutil

    from storeadvise.bench.api import benchmark

    folder = tmp_path / "photos"
    shutil.copytree(images, folder)
    first = sorted(folder.rglob("*.jpg"))[0]
    first.write_bytes(first.read_bytes()[:300])  # a photograph cut short, as a failed copy leaves one
    run = benchmark(folder, backends=["parquet"], ops="write,decode", repeat=1, warmup=0, max_time=1, save=False)
    decode = next(m for m in run.backends[0].measurements if m.op == "decode")
    name = first.relative_to(folder).as_posix()
    assert decode.status == "failed" and decode.reason.startswith(f"item {name} does not decode as images"), decode


# -- emulated accelerators ------------------------------------------------------------------------------

class _SlowTake:
    """A layout whose every take also waits for a release that never comes before twice the step time:
    the store cannot deliver a batch per step."""

    def __init__(self, backend: Backend, wait: float) -> None:
        self.backend, self.wait, self.never = backend, wait, threading.Event()
        self.supports = backend.supports

    def take(self, positions: list[int]) -> pa.Table:
        self.never.wait(self.wait)
        return self.backend.take(positions)


def test_a_slowed_layout_keeps_the_accelerators_less_busy(images: Path, tmp_path: Path) -> None:
    dataset = load_dataset(images)
    backend = open_backend("lance", tmp_path)
    try:
        backend.write(dataset.schema, dataset.batches())
        settings = LoaderSettings(batch_size=4, workers=1, step_time=0.02)
        job = FeedJob(24, settings, 2, seed=0, search=False)

        def utilisation(layout: object) -> float:
            t0 = time.perf_counter()
            tally = job.run(layout)  # type: ignore[arg-type]
            assert tally.rows == 2 * FEED_STEPS * 4
            return job.utilisation(time.perf_counter() - t0)

        normal, slowed = utilisation(backend), utilisation(_SlowTake(backend, 2 * settings.step_time))
        assert slowed < normal
    finally:
        backend.cleanup()


def test_the_search_finds_the_largest_number_kept_busy() -> None:
    assert largest_kept_busy(lambda n: 0.95 if n <= 5 else 0.5)[0] == 5
    largest, tried = largest_kept_busy(lambda n: 0.99)
    assert largest == 64 and [n for n, _ in tried] == [1, 2, 4, 8, 16, 32, 64]
    assert largest_kept_busy(lambda n: 0.4) == (0, [[1, 0.4], [1, 0.4]])
    # 1 and 2 hold, 4 falls short once and then holds, 8 fails twice, 6 holds, 7 fails twice
    tries = iter([0.95, 0.95, 0.5, 0.93, 0.6, 0.6, 0.95, 0.6, 0.6])
    assert largest_kept_busy(lambda n: next(tries))[0] == 6


def test_a_folder_gets_the_training_and_online_operations() -> None:
    settings = LoaderSettings()
    assert training_ops(["write", "read"], False, True, None, settings) == [
        "write", "scan", "lookup", "take", "shuffle", "feed", "append"]
    assert training_ops(["write", "read"], True, False, None, LoaderSettings(accelerators=2, decode=True)) == [
        "write", "read", "decode", "feed"]
    assert "shuffle" in training_ops(["write", "scan"], True, True, "training", settings)
    with pytest.raises(UsageError, match="--accelerators"):
        LoaderSettings(accelerators=0)


# -- end to end -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_bench_on_a_folder_prints_the_media_comparison(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    result = CliRunner().invoke(cli, [
        "bench", str(images), "-b", "lance,parquet", "--repeat", "1", "--warmup", "0", "--max-time", "1",
        "--lookups", "10", "--batch-size", "4", "--step-time", "20ms", "--accelerators", "2", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "shuffle/s" in result.stdout and ("of 2 ok" in result.stdout or "of 2 starved" in result.stdout)
    from storeadvise.bench.results import load_run

    run = load_run(out)
    lance = next(b for b in run.backends if b.backend == "lance")
    feed = next(m for m in lance.measurements if m.op == "feed")
    assert feed.extra["accelerators"] == 2 and feed.extra["largest_kept_busy"] >= 0
    assert lance.verification.items.startswith("24 items byte-identical")
    assert run.dataset["items"]["items"] == 24
    report = CliRunner().invoke(cli, ["report", str(out)])
    assert report.exit_code == 0 and "shuffle/s" in report.stdout and "max N" in report.stdout
    markdown = CliRunner().invoke(cli, ["report", str(out), "-f", "markdown"])
    assert "## media: 24 items of images" in markdown.stdout and "| lance " in markdown.stdout
    from storeadvise.bench.mediareport import media_table

    assert media_table(replace(run, dataset={"name": "rows"})) is None  # ordinary rows: no media table


def test_sample_command_writes_a_folder_and_reports_its_profile(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sample", "audio", "--items", "3", "--item-size", "8KB",
                                      "-o", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert "3 items" in result.stderr and "wav 3" in result.stderr and (tmp_path / "a" / PROFILE_FILE).is_file()
    bad = CliRunner().invoke(cli, ["sample", "pictures", "-o", str(tmp_path / "b")])
    assert bad.exit_code != 0 and "images, video, audio, documents" in bad.stderr


def test_in_memory_media_table_writes_through_the_normal_write(images: Path, tmp_path: Path) -> None:
    """The layouts store the media table through ``Backend.write`` like any rows (OPERATIONS['write'])."""
    table = load_dataset(images).to_table()
    backend = open_backend("arrow", tmp_path)
    try:
        OPERATIONS["write"].call(backend, InMemory(table))
        assert backend.read().column("data").to_pylist() == table.column("data").to_pylist()
    finally:
        backend.cleanup()


# -- the advisor's evidence -----------------------------------------------------------------------------

def _media_backend(name: str, shuffle_items_per_s: float, largest: int) -> BackendRun:
    measurements = [
        Measurement(name, "write", stats=Stats.of([0.1]), bytes_at_rest=1000),
        Measurement(name, "scan", stats=Stats.of([0.1]), rows_per_s=1e9),  # a sequential scan decides nothing here
        Measurement(name, "shuffle", stats=Stats.of([0.1]), rows_per_s=shuffle_items_per_s),
        Measurement(name, "feed", stats=Stats.of([1.0]), extra={"largest_kept_busy": largest}),
    ]
    return BackendRun(name, verification=Verification(10, 10, True), measurements=measurements)


def test_training_evidence_on_items_ranks_by_shuffled_items_and_says_how_many_accelerators() -> None:
    from storeadvise.advisor.api import recommend
    from storeadvise.advisor.evidence import apply_evidence

    advice = recommend("images", "training")
    run = Run(run_id="r", started_at="t", dataset={"name": "photos", "items": {"items": 10}},
              backends=[_media_backend("lance", 2_000, 3), _media_backend("parquet", 9_000, 12)])
    out = apply_evidence(advice, run)
    rows = {e.option: e for e in out.evidence.rows}
    assert out.evidence.metric == "shuffled items/s" and rows["parquet"].measured_rank == 1
    assert rows["parquet"].display == "9.00k items/s, keeps 12 accelerators busy"
    assert out.evidence.overturned
    tabular = replace(run, dataset={"name": "rows"})  # rows, not items: the purpose's own metric
    assert apply_evidence(advice, tabular).evidence.metric == "scan throughput"


@pytest.mark.slow
def test_recommend_bench_measures_the_candidates_on_a_folder(images: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from storeadvise.advisor.api import recommend

    monkeypatch.chdir(tmp_path)  # the run file goes under results/ here
    advice = recommend(data=str(images), purpose="online", bench=True, bench_backends=["sqlite", "arrow"])
    assert advice.evidence is not None and advice.evidence.metric == "lookup p99"
    assert {e.option for e in advice.evidence.rows if e.status == "ok"} == {"sqlite", "arrow"}


@pytest.mark.slow
def test_recommend_bench_without_data_measures_a_generated_folder_and_removes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from storeadvise.advisor.api import recommend

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    advice = recommend("images", "training", bench=True, bench_rows=20, bench_backends=["lance"])
    assert advice.evidence.metric == "shuffled items/s" and advice.evidence.rows[0].status == "ok"
    assert "accelerator" in advice.evidence.rows[0].display
    assert not list(tmp_path.glob("storeadvise-sample-*"))


def test_a_folder_of_documents_is_shuffled_and_fetched_by_id(tmp_path: Path) -> None:
    """Free text the same way as images: training's shuffled batches and the online fetch by id."""
    from storeadvise.bench.api import benchmark

    write_media_sample("documents", 30, 3_000, tmp_path / "docs", seed=2)
    run = benchmark(tmp_path / "docs", backends=["lance"], ops="write,lookup,shuffle,decode", repeat=1, warmup=0,
                    lookups=10, max_time=1, batch_size=4, save=False)
    assert run.dataset["modality"] == "text" and run.dataset["items"]["formats"] == {"txt": 30}
    by_op = {m.op: m for m in run.backends[0].measurements}
    assert {op: by_op[op].status for op in ("lookup", "shuffle", "decode")} == dict.fromkeys(
        ("lookup", "shuffle", "decode"), "ok")
    assert by_op["shuffle"].rows == 30 and by_op["lookup"].extra["misses"] == 0
    assert run.backends[0].verification.items.startswith("30 items byte-identical")


def test_bench_generates_a_media_sample_and_removes_it(tmp_path: Path) -> None:
    from storeadvise.bench.api import benchmark

    run = benchmark(sample="documents", items=12, item_size="2KB", backends=["arrow"], ops="write,scan", repeat=1,
                    warmup=0, save=False, scratch_dir=tmp_path)
    assert run.dataset["modality"] == "text" and run.dataset["items"]["items"] == 12
    assert run.backends[0].status == "ok" and not list(tmp_path.iterdir())
    with pytest.raises(UsageError, match="either a data file or --sample"):
        benchmark(tmp_path, sample="images", save=False)


def test_scan_batches_of_media_items_are_bounded_in_bytes_not_rows() -> None:
    from storeadvise.backends.batching import BATCH_BYTES, SCAN_BATCH_ROWS, scan_batch_rows

    assert scan_batch_rows(100) == SCAN_BATCH_ROWS  # ordinary rows keep Arrow's batch size
    assert scan_batch_rows(100_000) == BATCH_BYTES // 100_000  # 100 kB photographs: a few hundred a batch
    assert scan_batch_rows(10 * BATCH_BYTES) == 1  # an item larger than a batch is a batch alone
    assert scan_batch_rows(0) == SCAN_BATCH_ROWS


def test_the_scan_operation_reads_a_folder_in_batches_of_the_planned_size(
        images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storeadvise.backends import batching
    from storeadvise.bench.workloads import plan_workload

    dataset = load_dataset(images)
    per_item = dataset.profile.arrow_bytes / dataset.profile.rows
    monkeypatch.setattr(batching, "BATCH_BYTES", int(per_item * 5))  # about five items a batch
    plan = plan_workload(dataset, ["scan", "first_batch"])
    assert 3 <= plan.scan_batch_rows <= 6
    backend = open_backend("parquet", tmp_path)
    try:
        backend.write(dataset.schema, dataset.batches())
        for name in ("scan", "first_batch"):
            op = OPERATIONS[name]
            batches = op.call(backend, next(op.inputs(plan)))
            sizes = [b.num_rows for b in batches]
            assert sizes and max(sizes) <= plan.scan_batch_rows, (name, sizes)
    finally:
        backend.cleanup()


def test_a_scaling_sweep_over_a_folder_measures_the_media_operations(images: Path) -> None:
    from storeadvise.bench.api import benchmark

    run = benchmark(images, backends=["arrow"], scale="8,24", repeat=1, warmup=0, lookups=5, max_time=1,
                    batch_size=4, save=False)
    ops = [m.op for m in run.backends[0].measurements]
    assert {"take", "shuffle"} <= set(ops), ops
    assert run.backends[0].verification.items.startswith("24 items byte-identical")
