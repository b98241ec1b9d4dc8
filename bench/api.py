"""``storeadvise.benchmark(...)``: the Python face of ``storeadvise bench``.

Part of the harness's public API, with the names the top-level ``storeadvise`` package exports
(``load_run``, ``render``, ...): ``benchmark`` runs a benchmark and returns a ``Run`` (a ``BackendRun``
per backend, each with a ``Measurement`` per operation); ``open_dataset`` opens a file or a generated
sample the way ``benchmark`` does; ``ProgressDisplay`` is the ``on_event`` that shows its progress.
The advisor reaches the harness only through these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storeadvise.bench.mediasamples import sample_folder, write_media_sample
from storeadvise.bench.progress import ProgressDisplay
from storeadvise.bench.results import BackendRun, Measurement, Run
from storeadvise.errors import UsageError
from storeadvise.formatting import format_quantity
from storeadvise.outputs import prepare_output
from storeadvise.units import parse_bytes, parse_count

if TYPE_CHECKING:
    from storeadvise.bench.datasets import Dataset
    from storeadvise.bench.events import EventCallback

__all__ = ["BackendRun", "Measurement", "ProgressDisplay", "Run", "benchmark", "input_formats", "measurable",
           "open_dataset", "write_media_sample"]

RESULTS_DIR = Path("results")

ColumnTypes = Mapping[str, Any] | Sequence[str] | str | None
"""Column types as ``dtype=`` takes them: ``{"zip": "string"}`` or ``["zip=string"]``."""


def input_formats() -> list[str]:
    """The names of the formats a dataset can be read from (``--input-format``)."""
    from storeadvise.bench.formats import REGISTRY

    return list(REGISTRY)


def measurable(path: str | Path) -> bool:
    """Whether ``benchmark`` can read ``path``: a file, or a folder one of the input formats claims
    (a folder of media items, a table format's folder)."""
    from storeadvise.bench.formats import format_of_folder

    path = Path(path)
    return not path.is_dir() or format_of_folder(path) is not None


def backend_names() -> list[str]:
    """The names of the backends the harness can measure with (its registry; importing none of them)."""
    from storeadvise.backends import REGISTRY

    return list(REGISTRY)


def registered_backend(name: str) -> str | None:
    """The registered backend that ``name`` runs: itself, or for ``NAME@s3`` the backend ``NAME`` with its
    data in a bucket; None when there is no such backend."""
    from storeadvise.backends._objectstore import LOCATED_SUFFIX

    base = name.removesuffix(LOCATED_SUFFIX)
    return base if base in backend_names() else None


def open_dataset(
    data: str | Path | None = None,
    *,
    sample: str | None = None,
    rows: int | str = 100_000,
    seed: int = 0,
    key: str | None = None,
    input_format: str | None = None,
    table: str | None = None,
    dtype: ColumnTypes = None,
    schema: str | Path | None = None,
) -> Dataset:
    """The user's file, or a generated sample (``tabular`` when neither is named). ``table`` chooses
    the table of a database file that holds several.

    ``dtype`` gives columns other types than the inferred ones: ``{"zip": "string"}``, or
    ``["zip=string", "ts=timestamp[us]"]`` as ``--dtype`` takes them (Arrow type names, or string, int,
    float, date, timestamp ...); ``schema`` names a file of column types (a JSON object of names to type
    names, or a Parquet or Arrow file whose schema is taken). ``dtype`` wins where both name a column."""
    from storeadvise.bench.datasets import load_dataset, sample_dataset

    if data is not None and sample is not None:
        raise UsageError("give either a data file or --sample, not both")
    if data is not None:
        from storeadvise.bench.formats.dtypes import column_types

        return load_dataset(data, input_format=input_format, key=key, table=table,
                            column_types=column_types(dtype, schema))
    # Silently ignoring either would benchmark something other than what the user asked for.
    for option, value in (("--input-format", input_format), ("--table", table), ("--key", key),
                          ("--dtype", dtype or None), ("--schema", schema)):
        if value is not None:
            raise UsageError(f"{option} {value!r} describes a data file; none was given (samples need none)")
    return sample_dataset(sample or "tabular", rows, seed=seed)


def benchmark(
    data: str | Path | None = None,
    *,
    sample: str | None = None,
    rows: int | str = 100_000,
    seed: int = 0,
    backends: str | Sequence[str] | None = None,
    purpose: str | None = None,
    ops: str | Sequence[str] | None = None,
    repeat: int = 5,
    warmup: int = 1,
    lookups: int | str = 200,
    max_time: float = 5.0,
    memory_limit: int | str | None = None,
    key: str | None = None,
    input_format: str | None = None,
    table: str | None = None,
    dtype: ColumnTypes = None,
    schema: str | Path | None = None,
    options: dict[str, Any] | None = None,
    out: str | Path | None = None,
    save: bool = True,
    force: bool = False,
    scratch_dir: str | Path | None = None,
    sweep: bool = False,
    scale: str | Sequence[int | str] | None = None,
    cache: str = "warm",
    fsync: bool = False,
    batch_size: int = 32,
    workers: int = 4,
    accelerators: int | None = None,
    step_time: float | str = 0.05,
    decode: bool = False,
    items: int | str = 1_000,
    item_size: int | str = "100KB",
    clients: str | int | Sequence[int] | None = None,
    mix: str | None = None,
    read_ratio: float | None = None,
    distribution: str | None = None,
    target_rate: float | None = None,
    duration: float | None = None,
    operations: int | None = None,
    on_event: EventCallback | None = None,
) -> Run:
    """Benchmark backends on a dataset and return the ``Run`` (also saved as JSON unless ``save=False``).

    ``options`` carries backend settings: a server's address under the option its service declares
    (``mongo_uri``, ``kafka_bootstrap``; else its environment variable, ``STOREADVISE_MONGO_URI`` /
    ``STOREADVISE_KAFKA_BOOTSTRAP``, else an embedded server is started), ``kafka_partitions``,
    ``parquet_compression`` and the like.

    ``rows`` and ``lookups`` take a count or ``"10k"``-style text, ``memory_limit`` bytes or
    ``"4GB"``-style text (``storeadvise.units`` reads them, as it reads the command line's options).

    ``sweep=True`` runs codec and layout variants (Parquet codecs and row groups, CSV and JSON Lines
    plain and gzip) instead of plain backends. ``scale="10k,100k,1M"`` runs the workload at each size
    (of the sample, or of the file's first rows) and adds how each backend's cost grows to the result.

    ``cache`` measures read-like operations ``"warm"`` (the default: the caches hold what was just
    written or read), ``"cold"`` (page cache emptied, database connections closed and embedded servers
    restarted before every run; ``storeadvise.bench.cache``) or ``"both"`` (two measurements of each).
    ``fsync=True`` makes every write durable before it returns: file backends fsync their files inside
    the timed write, SQLite uses ``synchronous=FULL``, MongoDB ``j=true``, Kafka ``acks=all``.
    ``dtype`` and ``schema`` give a data file's columns other types than the inferred ones, as in
    ``open_dataset``.

    ``data`` may be a folder of images, video, audio or text documents (``bench.formats.media``): each
    file is one item of the media table. Its default operations are the training loop's and the online
    pattern's (``bench.feeding.MEDIA_OPS``): a shuffled epoch in mini-batches of ``batch_size`` read
    ahead by ``workers`` threads, and ``feed``: emulated accelerators spending ``step_time`` (seconds,
    or text such as ``"50ms"``) per batch, their utilisation at ``accelerators`` (default 1) and the
    largest number this store keeps 90 % busy. ``decode=True`` adds a shuffled epoch with every item
    decoded, shown apart; ``accelerators`` adds ``feed`` to any run. ``sample`` may also be a folder of
    media items (``images``, ``video``, ``audio``, ``documents``): ``items`` items of about ``item_size``
    bytes, generated in a temporary folder (under ``scratch_dir``) that is removed afterwards.

    ``clients="1,2,4,8"`` (or ``4``) runs, after each backend's write, that many client processes at once
    per step (``storeadvise.bench.load``): the YCSB mix ``mix`` ("A" to "F", default "B") or reads and
    updates in ``read_ratio`` (0 to 1), keys chosen ``distribution`` "uniform" | "zipfian" | "latest"
    (default: the mix's), for ``duration`` seconds (default ``max_time``) or ``operations`` requests per
    client, flat out or paced at ``target_rate`` requests per second (all clients together; latency then
    runs from each request's intended start). The steps are in ``Run.load``; without ``ops`` or
    ``purpose`` only the write runs before them.

    ``out`` (default ``results/<run id>.json``) is checked before anything runs: an existing file is
    replaced only with ``force=True``, and the data file itself never is.
    """
    from storeadvise.bench.cache import cache_states
    from storeadvise.bench.runner import BenchConfig, new_run_id

    cache_states(cache)  # a UsageError for a cache state that is not a choice, before anything runs
    if not isinstance(fsync, bool):
        raise UsageError(f"fsync must be True or False, not {fsync!r}")
    lookups = parse_count(lookups, "--lookups")
    if memory_limit is not None:
        memory_limit = parse_bytes(memory_limit, "--memory-limit")
    _check_run_arguments(repeat=repeat, warmup=warmup, max_time=max_time, purpose=purpose, options=options,
                         scratch_dir=scratch_dir)
    from storeadvise.bench.feeding import LoaderSettings, parse_step_time

    loader = LoaderSettings(batch_size=batch_size, workers=workers, accelerators=accelerators,
                            step_time=parse_step_time(step_time), decode=decode)
    plain, located, options = _located(backends, options)
    targets, op_names = _targets_and_ops(plain, ops, purpose, sweep, none_by_default=bool(located))
    targets = [*targets, *located]
    load = _load_config(clients, mix, read_ratio, distribution, target_rate, duration, operations, max_time, seed)
    if load is not None and not ops and not purpose:
        op_names = ["write"]  # the store needs the data; the other operations only when asked for
    unavailable: dict[str, str] = {}
    if not _names(backends, "--backends") and not sweep:
        # Defaults that cannot run here (no embedded server installed, no address given) are left out
        # and said so; a backend the user names is run, and its skip makes the run partial.
        from storeadvise.backends import runnable_here

        targets, unavailable = runnable_here(targets, options)
    sizes: list[int] = []
    if scale is not None:
        from storeadvise.bench.sweeps import parse_scale

        sizes = parse_scale(scale)

    run_id = new_run_id()
    target = Path(out) if out is not None else RESULTS_DIR / f"{run_id}.json"
    if save:
        # Before the data is read or any backend runs: a refusal costs the user nothing.
        prepare_output(target, force=force, inputs=[data], option="--out", create_folder=out is None)
    config = BenchConfig(
        backends=targets,
        ops=op_names,
        purpose=purpose.strip().lower() if purpose else None,
        repeat=repeat,
        warmup=warmup,
        lookups=lookups,
        max_time=max_time,
        memory_limit=memory_limit,
        options=dict(options or {}),
        scratch_root=Path(scratch_dir) if scratch_dir else None,
        seed=seed,
        unavailable=unavailable,
        cache=cache,
        fsync=fsync,
        loader=loader,
        load=load,
    )
    with sample_folder(sample if data is None else None, parse_count(items, "--items"),
                       parse_bytes(item_size, "--item-size"), seed, scratch_dir) as folder:
        source = folder if folder is not None else data
        opener = partial(open_dataset, source, sample=None if folder is not None else sample, seed=seed, key=key,
                         input_format=input_format, table=table, dtype=dtype, schema=schema)
        run = _measured(opener, source is not None, rows, sizes, config, on_event, run_id,
                        out=target if save else None, named=bool(ops or purpose))
    if save:
        run.settings["saved_to"] = str(target)
    return run


def _measured(opener: Callable[..., Dataset], from_file: bool, rows: int | str, sizes: list[int], config: Any,
              on_event: EventCallback | None, run_id: str, *, out: Path | None, named: bool) -> Run:
    """The run over the dataset ``opener`` opens (at each of ``sizes``, when given), saved to ``out``."""
    from storeadvise.bench.runner import Runner

    if sizes:
        run = _scaling_run(opener, from_file, sizes, config, on_event, run_id, named)
        if out is not None:
            from storeadvise.bench.results import save_run

            save_run(run, out)
        return run
    dataset = opener(rows=rows)
    _choose_ops(config, dataset, named)
    return Runner(dataset, config, out=out, on_event=on_event, run_id=run_id).run()


def _choose_ops(config: Any, dataset: Dataset, named: bool) -> None:
    """The operations of ``config`` for this data: a folder of items has defaults of its own (the training
    and online patterns), unless operations or a purpose were ``named``."""
    from storeadvise.bench.feeding import training_ops
    from storeadvise.media import media_modality

    config.ops = training_ops(config.ops, named, media_modality(dataset.schema) is not None, config.purpose,
                              config.loader)


def _check_run_arguments(*, repeat: Any, warmup: Any, max_time: Any, purpose: Any, options: Any,
                         scratch_dir: Any) -> None:
    """A ``UsageError`` for an argument of the wrong kind, before anything is read or run."""
    for name, value, low in (("--repeat", repeat, 1), ("--warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UsageError(f"{name} must be an integer of at least {low}, not {value!r}")
    if isinstance(max_time, bool) or not isinstance(max_time, (int, float)) or not max_time > 0:
        raise UsageError(f"--max-time must be a positive number of seconds, not {max_time!r}")
    if purpose is not None and not isinstance(purpose, str):
        raise UsageError(f"--purpose must be a purpose's name, not {purpose!r}")
    if options is not None and not isinstance(options, dict):
        raise UsageError(f"options must be a dict of backend settings, not {options!r}")
    if options:
        from storeadvise.backends._objectstore import parse_location

        parse_location(options.get("location"))  # a UsageError for a location that is no s3:// URL
    if scratch_dir is not None and not Path(scratch_dir).is_dir():
        raise UsageError(f"--scratch-dir {scratch_dir}: no such folder")


def _load_config(clients: Any, mix: str | None, read_ratio: float | None, distribution: str | None,
                 target_rate: float | None, duration: float | None, operations: int | None, max_time: float,
                 seed: int) -> Any:
    """The ``LoadConfig`` of ``clients=...`` (None without it); a ``UsageError`` for a load option
    given without ``clients``, or a value that is not one, before anything runs."""
    given = {"--mix": mix, "--read-ratio": read_ratio, "--distribution": distribution, "--target-rate": target_rate,
             "--duration": duration, "--operations": operations}
    if clients is None:
        named = [option for option, value in given.items() if value is not None]
        if named:
            raise UsageError(f"{named[0]} describes many clients at once; give --clients too (e.g. --clients 1,2,4)")
        return None
    from storeadvise.bench.load import LoadConfig, parse_clients
    from storeadvise.bench.mixes import choose_mix

    if duration is None and operations is None:
        duration = max_time
    return LoadConfig(clients=parse_clients(clients), mix=choose_mix(mix, read_ratio, distribution),
                      duration=duration, operations=operations, target_rate=target_rate, seed=seed)


def _targets_and_ops(backends: str | Sequence[str] | None, ops: str | Sequence[str] | None, purpose: str | None,
                     sweep: bool, none_by_default: bool = False) -> tuple[list[Any], list[str]]:
    """The backends (or, with ``sweep``, their codec variants) and the operations to run; no backends
    for no names when ``none_by_default`` (the run names only backends on object storage)."""
    from storeadvise.backends import parse_backend_names
    from storeadvise.bench.workloads import select_ops

    text = _names(backends, "--backends")
    backend_names = [] if none_by_default and not text else parse_backend_names(text)
    op_names = select_ops(purpose, _names(ops, "--ops"))
    if not sweep:
        return list(backend_names), op_names
    from storeadvise.bench.sweeps import SWEEP_OPS, codec_variants

    targets = codec_variants(backend_names if backends else None)
    return targets, op_names if ops or purpose else list(SWEEP_OPS)


def _located(backends: str | Sequence[str] | None, options: dict[str, Any] | None,
             ) -> tuple[str | None, list[Any], dict[str, Any] | None]:
    """Backends named ``NAME@s3`` (``-b parquet,parquet@s3``) run on object storage beside the plain names,
    which then stay on the local disk: the location (``--location``, else ``DEFAULT_LOCATION`` on the
    embedded server) goes to those variants only. The plain names, the variants, and the run's options."""
    from storeadvise.backends import parse_backend_names
    from storeadvise.backends._objectstore import LOCATED_SUFFIX, located_options
    from storeadvise.bench.runner import Variant

    text = _names(backends, "--backends")
    named = [n.strip().lower() for n in (text or "").split(",") if n.strip()]
    located = [n.removesuffix(LOCATED_SUFFIX) for n in named if n.endswith(LOCATED_SUFFIX)]
    if not located:
        return backends, [], options
    where = (options or {}).get("location")
    variants = [Variant(name, f"{name}{LOCATED_SUFFIX}", located_options(name, where))
                for name in parse_backend_names(",".join(located))]
    rest = {k: v for k, v in (options or {}).items() if k != "location"}
    return ",".join(n for n in named if not n.endswith(LOCATED_SUFFIX)), variants, rest


def _names(value: str | Sequence[str] | None, option: str) -> str | None:
    """Names given as comma-separated text or as a list of strings, as text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise UsageError(f"{option} takes comma-separated names or a list of strings, not {value!r}")


def _scaling_run(
    opener: Callable[..., Dataset],
    from_file: bool,
    sizes: list[int],
    config: Any,
    on_event: EventCallback | None,
    run_id: str,
    named: bool,
) -> Run:
    """One run per size (the file's or folder's first rows, or a sample of that many rows, from
    ``opener``); the largest is the result, with the growth of every (backend, op) added."""
    from storeadvise.bench.events import retell
    from storeadvise.bench.runner import Runner
    from storeadvise.bench.sweeps import scaling_summary

    runs = []
    for size in sizes:
        dataset = opener().head(size) if from_file else opener(rows=size)
        _choose_ops(config, dataset, named)
        label = f"[{format_quantity(size, 'rows')} rows]"
        step = (lambda b, o, msg, label=label: on_event(b, o, retell(msg, f"{label} {msg}"))) if on_event else None
        runs.append(Runner(dataset, config, on_event=step, run_id=f"{run_id}-{size}").run())
    final = runs[-1]
    final.run_id = run_id
    final.settings["scale"] = sizes
    final.scaling = scaling_summary(runs)
    return final
