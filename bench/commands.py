"""CLI commands of the harness: ``bench``, ``report``, ``sample``, ``backends``.

Each parses, calls one library function, renders. Errors are raised by the library and turned into
one line by ``cli.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from storeadvise.bench.cache import CHOICES as CACHE_CHOICES
from storeadvise.bench.cache import DEFAULT as CACHE_DEFAULT
from storeadvise.bench.formats import REGISTRY, writable_extensions, writable_formats
from storeadvise.bench.progress import ProgressDisplay
from storeadvise.bench.report import OUTPUT_FORMATS as REPORT_FORMATS
from storeadvise.bench.results import Run
from storeadvise.cli import COUNT, LATENCY, SIZE, column_type_options, given_addresses, server_address_options
from storeadvise.errors import PartialRun, UsageError
from storeadvise.formatting import format_quantity, printable
from storeadvise.modalities import MEDIA_SAMPLE_KINDS, SAMPLE_KINDS
from storeadvise.purposes import PURPOSES


def _parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``-O key=value`` pairs; values that look like numbers or booleans become them."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option {pair!r}: expected KEY=VALUE, e.g. -O parquet_compression=zstd")
        value: Any = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            for kind in (int, float):
                try:
                    value = kind(raw)
                    break
                except ValueError:
                    continue
        options[key.strip()] = value
    return options


QUIET = click.option("-q", "--quiet", is_flag=True, help="No progress on stderr (a live line on a terminal, "
                     "else one line per finished backend and operation).")


def _echo(text: str) -> None:
    click.echo(text, nl=not text.endswith("\n"))


FORCE = click.option("--force", is_flag=True, help="Replace the output file if it exists (never the input).")
DETAILS = click.option(
    "--details", is_flag=True,
    help="After the summary matrix, the per-operation tables (the terminal table shows only the matrix "
         "without it; other formats always carry both).",
)


@click.command("bench")
@click.argument("data", required=False, type=click.Path(path_type=Path, dir_okay=True))
@click.option("--sample", "sample", metavar="KIND",
              help=f"Generate a sample: {', '.join(SAMPLE_KINDS)}; or a folder of {', '.join(MEDIA_SAMPLE_KINDS)}.")
@click.option("--rows", type=COUNT, default=100_000, show_default=True, help="Rows of the generated sample, e.g. 200000 or 200k.")
@click.option("--items", type=COUNT, default=1_000, show_default=True, help="Items of a generated media folder.")
@click.option("--item-size", type=SIZE, default="100KB", show_default=True, help="Typical size of a generated media item.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated sample and keys.")
@click.option("--input-format", metavar="FMT", help=f"Format of DATA when its extension does not say: {', '.join(REGISTRY)}.")
@click.option("--table", metavar="NAME", help="Table of a database file (.sqlite) that holds several.")
@click.option("--key", metavar="COLUMN", help="Key column for lookups (inferred when unique).")
@column_type_options
@click.option("-b", "--backends", metavar="LIST", help="Comma-separated backends (default: csv,jsonl,parquet,sqlite,mongo,kafka); "
                                                         "NAME@s3 runs that one on object storage (--location) beside the local ones.")
@click.option("-p", "--purpose", metavar="PURPOSE", help=f"{', '.join(PURPOSES)}: picks the ops.")
@click.option("--ops", metavar="LIST", help="Comma-separated operations (overrides --purpose).")
@click.option("--repeat", type=int, default=5, show_default=True, help="Counted runs per operation.")
@click.option("--warmup", type=int, default=1, show_default=True, help="Uncounted runs before counting.")
@click.option("--lookups", type=COUNT, default=200, show_default=True, help="Calls per latency operation.")
@click.option("--max-time", type=float, default=5.0, show_default=True, help="Seconds per operation after which counting stops.")
@click.option("--cache", type=click.Choice(tuple(CACHE_CHOICES)), default=CACHE_DEFAULT, show_default=True,
              help="Read-like operations measured with warm caches, cold (page cache emptied, database "
                   "connections closed, embedded servers restarted before every run; needs the scratch folder "
                   "on a disk) or both. Warm by default: repeated reads (epochs, exploring, lookups) find "
                   "recently used data in memory.")
@click.option("--fsync", is_flag=True, help="Make every write durable before it returns, inside the timed write: "
                                             "files fsynced, SQLite synchronous=FULL, MongoDB j=true, Kafka acks=all.")
@click.option("--memory-limit", type=SIZE, help="Memory budget: data larger than a quarter of it is streamed, not held; `read` is skipped above it (default: half the RAM).")
@click.option("--location", metavar="URL", help="Put the file, table-format and lance backends' files in object storage: s3://bucket/prefix "
                                               "(the server: --s3-endpoint, or an embedded S3 emulator; credentials "
                                               "from the AWS environment variables).")
@click.option("--batch-size", type=int, default=32, show_default=True,
              help="Items per mini-batch of a shuffled epoch and of an emulated accelerator's step.")
@click.option("--workers", type=int, default=4, show_default=True,
              help="Reader threads prefetching batches ahead of the training loop (per accelerator).")
@click.option("--accelerators", type=int, metavar="N",
              help="Emulate N accelerators (the feed operation): utilisation, verdict, largest N kept busy.")
@click.option("--step-time", type=LATENCY, default="50ms", show_default=True,
              help="Emulated compute per batch on an accelerator, e.g. 50ms.")
@click.option("--decode", is_flag=True,
              help="Also a shuffled epoch with every item decoded (Pillow, PyAV), shown apart from storage.")
@server_address_options
@click.option("-O", "--option", "option_pairs", multiple=True, metavar="KEY=VALUE", help="Backend option, repeatable.")
@click.option("--scratch-dir", type=click.Path(path_type=Path), help="Where scratch files go (default: system temp).")
@click.option("--sweep", is_flag=True, help="Codec and layout sweep: the variants each backend declares (Parquet codecs and row groups, CSV and JSON Lines plain and gzip).")
@click.option("--scale", metavar="SIZES", help="Run at several sizes, e.g. 10k,100k,1M, and fit how cost grows.")
@click.option("--clients", metavar="COUNTS", help="Many clients at once: run this many client processes against each "
                                                 "store after its write, per step, e.g. 4 or 1,2,4,8 (a sweep, with "
                                                 "the saturation knee marked).")
@click.option("--mix", metavar="A..F|stream", help="With --clients: YCSB's workload A (50/50 read/update), B (95/5, the "
                                            "default), C (read only), D (read latest), E (short scans), F "
                                            "(read-modify-write); stream: every client produces and consumes "
                                            "(Kafka, end-to-end latency).")
@click.option("--read-ratio", type=float, metavar="SHARE", help="With --clients, instead of --mix: the share of "
                                                                "reads (0 to 1); the rest are single-row writes.")
@click.option("--distribution", type=click.Choice(("uniform", "zipfian", "latest")),
              help="With --clients: how reads choose their key (default: the mix's, zipfian for most).")
@click.option("--target-rate", type=float, metavar="OPS", help="With --clients: pace all clients together at OPS "
                                                               "requests/s; latency counts from each request's "
                                                               "intended start (default: flat out).")
@click.option("--duration", type=float, metavar="SECONDS", help="With --clients: seconds per step (default: --max-time).")
@click.option("--operations", type=int, metavar="N", help="With --clients: requests per client per step, instead "
                                                          "of --duration.")
@click.option("-o", "--out", type=click.Path(path_type=Path), help="Run file to write (default: results/<run-id>.json).")
@FORCE
@click.option("--no-save", is_flag=True, help="Do not save the run file.")
@click.option("-f", "--format", "fmt", type=click.Choice(REPORT_FORMATS), default="table", show_default=True)
@DETAILS
@QUIET
def bench_command(
    data: Path | None,
    sample: str | None,
    rows: int,
    items: int,
    item_size: int,
    seed: int,
    input_format: str | None,
    table: str | None,
    key: str | None,
    dtype: tuple[str, ...],
    schema: str | None,
    backends: str | None,
    purpose: str | None,
    ops: str | None,
    repeat: int,
    warmup: int,
    lookups: int,
    max_time: float,
    cache: str,
    fsync: bool,
    memory_limit: int | None,
    location: str | None,
    batch_size: int,
    workers: int,
    accelerators: int | None,
    step_time: float,
    decode: bool,
    option_pairs: tuple[str, ...],
    scratch_dir: Path | None,
    sweep: bool,
    scale: str | None,
    clients: str | None,
    mix: str | None,
    read_ratio: float | None,
    distribution: str | None,
    target_rate: float | None,
    duration: float | None,
    operations: int | None,
    out: Path | None,
    force: bool,
    no_save: bool,
    fmt: str,
    details: bool,
    quiet: bool,
    **server_addresses: str | None,
) -> None:
    """Store DATA (or a generated sample) in each backend, read it back, verify, compare.

    With no DATA and no --sample, a 100k-row tabular sample is used. Server backends (MongoDB, Kafka)
    run on embedded servers unless a server address option below names your own. DATA may be a folder
    of images, video, audio or text documents: each file is one item, measured with training's
    shuffled epochs and emulated accelerators and the online pattern's fetch by id.

    \b
    Example:
      storeadvise bench --sample tabular --rows 200000
      storeadvise bench mydata.parquet --purpose training --backends parquet,csv,sqlite
      storeadvise bench --sample tabular --scale 10k,100k,1M --backends csv,parquet,sqlite
      storeadvise bench mydata.csv --sweep
      storeadvise bench mydata.csv --dtype zip=string --dtype ts=timestamp[us]
      storeadvise bench --sample tabular -b parquet,csv --location s3://my-bucket/bench --s3-endpoint http://localhost:9000
      storeadvise bench photos/ --accelerators 4 --step-time 50ms --batch-size 64 --decode
      storeadvise bench --sample images --items 2000 --item-size 100KB -b lance,parquet
      storeadvise bench --sample tabular -b sqlite,redis --clients 1,2,4 --mix B
      storeadvise bench --sample tabular -b parquet,parquet@s3,delta@s3
    """
    from storeadvise.bench.api import benchmark
    from storeadvise.bench.report import render

    options = {**_parse_options(option_pairs), **given_addresses(server_addresses)}
    if location:
        options["location"] = location
    with ProgressDisplay(quiet=quiet) as progress:
        run = benchmark(
            data,
            sample=sample,
            rows=rows,
            items=items,
            item_size=item_size,
            seed=seed,
            backends=backends,
            purpose=purpose,
            ops=ops,
            repeat=repeat,
            warmup=warmup,
            lookups=lookups,
            max_time=max_time,
            memory_limit=memory_limit,
            key=key,
            input_format=input_format,
            table=table,
            dtype=list(dtype),
            schema=schema,
            options=options,
            out=out,
            save=not no_save,
            force=force,
            scratch_dir=scratch_dir,
            sweep=sweep,
            scale=scale,
            cache=cache,
            fsync=fsync,
            batch_size=batch_size,
            workers=workers,
            accelerators=accelerators,
            step_time=step_time / 1000,
            decode=decode,
            clients=clients,
            mix=mix,
            read_ratio=read_ratio,
            distribution=distribution,
            target_rate=target_rate,
            duration=duration,
            operations=operations,
            on_event=progress,
        )
    if fmt == "table":
        from storeadvise.bench.report import print_run

        print_run(run, details=details)
    else:
        _echo(render(run, fmt, details=details))
    if run.settings.get("saved_to"):
        saved = printable(run.settings["saved_to"])
        click.echo(f"saved {saved}  (storeadvise report {saved})", err=True)
    if not run.complete:
        # After the table and the run file: what was measured is shown, and the exit code says it is not all.
        raise PartialRun.of("run", run.problems)


@click.command("report")
@click.argument("run_files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("-f", "--format", "fmt", type=click.Choice(REPORT_FORMATS), default="table", show_default=True)
@click.option("--baseline", type=click.Path(path_type=Path, dir_okay=False),
              help="An earlier run to compare with: each change is faster, slower or within noise.")
@click.option("--fail-above", type=float, metavar="RATIO",
              help="Exit with code 8 when a measurement is slower than RATIO × the first run's, beyond noise (CI).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to a file, not stdout.")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE.png|svg",
              help="Save the main chart (time per operation; several runs side by side) as a PNG or SVG picture "
                   "instead of printing the report (with -o, as well as writing it).")
@click.option("--force", is_flag=True,
              help="Replace the output file if it exists (never an input), and compare runs of different datasets.")
@DETAILS
def report_command(run_files: tuple[Path, ...], fmt: str, baseline: Path | None, fail_above: float | None,
                   output: Path | None, plot: Path | None, force: bool, details: bool) -> None:
    """Render a saved run as a table, Markdown, CSV, JSON or a self-contained HTML page; compare runs.

    Several run files are shown side by side, each against the first; runs of different datasets
    are refused unless --force.

    \b
    Example:
      storeadvise report results/20261127T052000-ab12cd.json --format markdown
      storeadvise report new.json --baseline old.json --fail-above 1.10
      storeadvise report a.json b.json c.json
      storeadvise report results/20261127T052000-ab12cd.json --details
      storeadvise report results/20261127T052000-ab12cd.json -f html -o report.html --plot times.png
    """
    from storeadvise.bench.compare import check_regressions, compare_runs
    from storeadvise.bench.report import write_report
    from storeadvise.bench.results import load_run

    if fail_above is not None and not fail_above > 0:
        raise UsageError(f"--fail-above must be a positive ratio such as 1.10, not {fail_above:g}")
    runs = [load_run(path) for path in ([baseline] if baseline else []) + list(run_files)]
    if fail_above is not None and len(runs) < 2:
        raise UsageError("--fail-above compares runs: give --baseline OLD.json or several run files")
    # One run (with its baseline) gets the full report; several are shown side by side.
    shown: Run | list[Run] = runs[-1] if len(run_files) == 1 else runs
    base = runs[0] if baseline is not None and len(run_files) == 1 else None
    comparison = compare_runs(runs, compare_anyway=force) if len(runs) > 1 else None
    for warning in comparison.warnings if comparison else []:
        if warning.startswith("WARNING"):
            click.echo(f"storeadvise: {printable(warning)}", err=True)
    if plot is not None:
        from storeadvise.bench.charts import save_plot

        # The picture shows every run given, a baseline first, as the HTML report's charts do.
        save_plot(runs, plot, force=force, inputs=[*run_files, baseline], compare_anyway=force)
        click.echo(f"wrote {printable(plot)}", err=True)
    if output is not None:
        write_report(shown, output, fmt, baseline=base, compare_anyway=force, force=force,
                     inputs=[*run_files, baseline])
        click.echo(f"wrote {printable(output)}", err=True)
    elif plot is None:
        _print_report(shown, fmt, base, compare_anyway=force, details=details)
    if comparison is not None:
        check_regressions(comparison, fail_above)


def _print_report(shown: Run | list[Run], fmt: str, base: Run | None, *, compare_anyway: bool, details: bool) -> None:
    """The report on stdout: one run (with its baseline) or several side by side."""
    from storeadvise.bench.report import print_run, render, render_runs

    if fmt == "table":
        print_run(shown, baseline=base, compare_anyway=compare_anyway, details=details)
    elif isinstance(shown, list):
        _echo(render_runs(shown, fmt, compare_anyway=compare_anyway, color=False))
    else:
        _echo(render(shown, fmt, baseline=base, compare_anyway=compare_anyway, color=False, details=details))


@click.command("sample", help=f"""Write a generated sample dataset ({', '.join(SAMPLE_KINDS)}) to a file,
    or a folder of media items ({', '.join(MEDIA_SAMPLE_KINDS)}): real JPEG/PNG images, MPEG-4 clips, WAV
    audio or text documents of about --item-size each, with a labels.csv beside them.

    \b
    Example:
      storeadvise sample tabular --rows 100000 -o tabular.parquet
      storeadvise sample time-series --rows 1M -o readings.sqlite
      storeadvise sample images --items 2000 --item-size 100KB -o photos
    """)
@click.argument("kind")
@click.option("--rows", type=COUNT, default=100_000, show_default=True, help="Rows to generate, e.g. 100000 or 100k.")
@click.option("--items", type=COUNT, default=1_000, show_default=True, help="Media items to generate, e.g. 2000 or 2k.")
@click.option("--item-size", type=SIZE, default="100KB", show_default=True, help="Typical size of a media item.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help=f"File to write; the extension picks the format ({' '.join(writable_extensions())}); "
                   "a new folder for media items.")
@click.option("--format", "output_format", metavar="FMT", help=f"Format when the extension does not say: {', '.join(writable_formats())}.")
@FORCE
def sample_command(kind: str, rows: int, items: int, item_size: int, seed: int, output: Path,
                   output_format: str | None, force: bool) -> None:
    if kind in MEDIA_SAMPLE_KINDS:
        from storeadvise.bench.formats.media import profile_line
        from storeadvise.bench.mediasamples import write_media_sample

        profile = write_media_sample(kind, items, item_size, output, seed=seed, force=force)
        click.echo(f"wrote {kind} to {printable(output)}: {profile_line(profile)}", err=True)
        return
    from storeadvise.bench.datasets import write_sample

    path = write_sample(kind, rows, output, seed=seed, output_format=output_format, force=force)
    click.echo(f"wrote {format_quantity(rows, 'rows')} {kind} rows to {printable(path)}", err=True)


@click.command("backends")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def backends_command(fmt: str) -> None:
    """List every backend, whether it can run here and why, and what it supports.

    \b
    Example:
      storeadvise backends
    """
    import json

    from storeadvise.bench.listing import list_backends

    rows = list_backends()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        state = "available" if r["available"] else "not available"
        click.echo(f"{r['name']:<{width}}  {state}: {printable(r['reason'])}")
        if r.get("supports"):
            click.echo(f"{'':<{width}}  supports: {', '.join(r['supports'])}")


HISTORY_FORMATS = ("table", "markdown", "csv", "json")


@click.command("history")
@click.option("--dir", "folder", type=click.Path(path_type=Path, file_okay=False), default=Path("results"),
              show_default=True, help="Folder of saved run files.")
@click.option("--query", "sql", metavar="SQL",
              help="DuckDB SQL over the views runs (one row per run) and measurements (one row per backend, "
                   "operation and cache state).")
@click.option("-b", "--backend", metavar="NAME", help="One backend over time (with --op: one operation of it).")
@click.option("--op", metavar="OP", help="One operation over time (with --backend: of that backend).")
@click.option("--dataset", metavar="PREFIX", help="Only runs whose dataset fingerprint starts with PREFIX.")
@click.option("-f", "--format", "fmt", type=click.Choice(HISTORY_FORMATS), default="table", show_default=True)
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False),
              help="With --backend/--op: also save their medians over time as a chart (.png or .svg).")
@FORCE
def history_command(folder: Path, sql: str | None, backend: str | None, op: str | None, dataset: str | None,
                    fmt: str, plot: Path | None, force: bool) -> None:
    """List saved runs (date, dataset fingerprint, backends, storeadvise version and git revision),
    query them with SQL, or follow one backend and operation over time.

    Files in the folder that are not run files are listed as skipped, with the reason.

    \b
    Example:
      storeadvise history
      storeadvise history --backend parquet --op read --plot parquet-read.svg
      storeadvise history --query "SELECT backend, op, median(median_s) FROM measurements GROUP BY ALL"
    """
    from storeadvise.bench.history import listing, load_history

    if sql and (backend or op):
        raise UsageError("--query is SQL over every run: filter in it (WHERE backend = 'parquet'), "
                         "not with --backend or --op")
    if plot is not None and not (backend or op):
        raise UsageError("--plot draws one backend or operation over time: give --backend and/or --op")
    history = load_history(folder, dataset=dataset)
    if sql:
        table, title = history.query(sql), "query"
    elif backend or op:
        table = history.over_time(backend, op)
        title = " ".join(part for part in (backend, op) if part) + " over time"
        if plot is not None:
            from storeadvise.bench.history import save_history_plot

            click.echo(f"wrote {printable(save_history_plot(table, title, plot, force=force))}", err=True)
    else:
        table, title = listing(history), "runs, oldest first"
    _echo(_history_text(table, title, history, fmt))


def _history_text(table: Any, title: str, history: Any, fmt: str) -> str:
    """A history table in ``fmt``; the skipped files after it (on stderr for csv and json, which scripts read)."""
    import csv
    import io
    import json

    from storeadvise.bench.history import plain_table
    from storeadvise.bench.report import REPORT_EXPORTERS
    from storeadvise.bench.table import Report

    notes = [f"skipped {printable(str(path))}: {printable(reason)}" for path, reason in history.skipped]
    if fmt in ("csv", "json"):
        for note in notes:
            click.echo(note, err=True)
        if fmt == "json":
            return json.dumps(table.to_pylist(), indent=2, default=str) + "\n"
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(table.column_names)
        writer.writerows([["" if v is None else v for v in row.values()] for row in table.to_pylist()])
        return buffer.getvalue()
    header = [("folder", printable(str(history.folder))), ("runs", str(len(history.runs)))]
    if history.skipped:
        header.append(("skipped", f"{len(history.skipped)} files that are not run files (listed below)"))
    plain = plain_table(table, title)
    report = Report(title="storeadvise history", header=header, sections=[], verification=[],
                    not_run=[], footnotes=notes, tables=[plain])
    # As wide as the widest row: a cropped run id or number says nothing.
    width = sum(max([len(h), *(len(row[i]) for row in plain.rows)]) + 3 for i, h in enumerate(plain.head))
    return REPORT_EXPORTERS[fmt](report, color=None, width=max(width, 80))
