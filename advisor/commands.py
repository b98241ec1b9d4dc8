"""``storeadvise recommend`` and ``storeadvise rules``: parse, call the library, render.

``cli.py`` imports this module only when one of these commands runs. Nothing here imports pyarrow,
the benchmark harness or rich at import time, so ``storeadvise recommend`` answers quickly.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click

from storeadvise.advisor.inputs import CHOICES, INPUT_FIELDS
from storeadvise.advisor.render import FORMATS
from storeadvise.bench.api import input_formats
from storeadvise.cli import COUNT, LATENCY, SIZE, column_type_options, given_addresses, server_address_options


def _output_format(fmt: str | None) -> str:
    """``table`` (rich) on a terminal, plain ``text`` when piped, unless a format is asked for."""
    if fmt is None:
        return "table" if sys.stdout.isatty() else "text"
    return fmt


def _echo(text: str) -> None:
    click.echo(text, nl=False)


@click.command("recommend")
@click.option("--modality", "-m", metavar="KIND",
              help=f"What the data is: {', '.join(CHOICES['modality'])} (nested = documents).")
@click.option("--purpose", "-p", metavar="PURPOSE",
              help=f"What it is for: {', '.join(CHOICES['purpose'])}.")
@click.option("--size", type=SIZE, help="How big it is, e.g. 500MB, 2TB, 1.5GiB.")
@click.option("--rows", type=COUNT, help="How many rows, e.g. 20000, 10k, 1.5M.")
@click.option("--items", type=COUNT, help="How many media items (files), e.g. 1.2M.")
@click.option("--item-size", "item_size", type=SIZE, help="Typical size of one media item, e.g. 110kB.")
@click.option("--stored-as", "stored_as", metavar="FORMAT",
              help=f"The file format --size refers to: {', '.join(CHOICES['stored_as'])} (sets the in-memory estimate).")
@click.option("--memory", type=SIZE,
              help="Memory of the machine that will hold the data (default: this machine's), e.g. 64GB.")
@click.option("--structure", metavar="flat|nested", help="Flat rows or nested records.")
@click.option("--arrival", metavar="batch|stream", help="Does data arrive in batches or continuously (stream)?")
@click.option("--latency", type=LATENCY, help="Target for online reads, e.g. 500us, 10ms.")
@click.option("--readers", metavar="N|one|team|many",
              help="How many processes read it: a number, or one, team (2-9), many (10+, on several machines).")
@click.option("--writers", metavar="N|one|team|many",
              help="How many processes write it at the same time: a number, or one, team (2-9), many (10+).")
@click.option("--update", metavar="append|in-place", help="How it changes: append-only, or updates in place.")
@click.option("--data", "data", metavar="FILE|DIR", type=click.Path(),
              help=f"Profile this file ({', '.join(input_formats())}) to infer modality, structure and size, "
                   "or a folder of images, video, audio or text files to count them and their sizes.")
@column_type_options
@click.option("--rules", "rules", metavar="FILE", type=click.Path(dir_okay=False),
              help="A TOML file of your own rules, added to (or overriding) the built-in ones.")
@click.option("--explain", is_flag=True, help="Print every rule that fired, why, and its sources.")
@click.option("--bench", "bench", is_flag=True,
              help="Measure the top candidates on --data (or a generated sample) and re-rank by the numbers.")
@click.option("--bench-rows", type=COUNT, help="Rows of the generated sample for --bench (default 10000); items of a media folder (default 500).")
@click.option("--bench-backends", metavar="LIST", help="Comma-separated backends to measure instead of the top three.")
@server_address_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format (default: a table on a terminal, plain text when piped).")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr while --bench measures.")
def recommend_command(modality: str | None, purpose: str | None, data: str | None, dtype: tuple[str, ...],
                      schema: str | None, rules: str | None, explain: bool, bench: bool, bench_rows: int | None,
                      bench_backends: str | None, fmt: str | None, quiet: bool, **options: Any) -> None:
    """Recommend where data should live: a ranked list with reasons, the runner-up and its trade-off,
    what to avoid, and (with --bench) measurements on your own data.

    \b
    Example:
      storeadvise recommend --modality tabular --purpose online
      storeadvise recommend -m nested -p batch --size 40GB --arrival stream --explain
      storeadvise recommend -m images -p training --items 1.2M --item-size 110kB
      storeadvise recommend -m tabular -p online --readers 20 --writers 4 --latency 10ms
      storeadvise recommend --data events.parquet --purpose training --bench
    """
    from storeadvise.advisor.api import recommend
    from storeadvise.advisor.render import render

    backends = [b.strip() for b in bench_backends.split(",") if b.strip()] if bench_backends else None
    inputs = {name: options.pop(name) for name in INPUT_FIELDS if name in options}
    with contextlib.ExitStack() as stack:
        progress = None
        if bench:  # the harness (and rich) only when a benchmark runs: recommend stays fast without
            from storeadvise.bench.api import ProgressDisplay

            progress = stack.enter_context(ProgressDisplay(quiet=quiet))
        advice = recommend(modality, purpose, **inputs, data=data, dtype=list(dtype) or None, schema=schema,
                           rules=rules, bench=bench, bench_rows=bench_rows, bench_backends=backends,
                           bench_options=given_addresses(options) or None, bench_on_event=progress)
    _echo(render(advice, _output_format(fmt), explain=explain))
    if advice.evidence is not None and advice.evidence.problems:
        # After the advice: what was measured is shown, and the exit code says it is not all (as bench's).
        from storeadvise.errors import PartialRun

        raise PartialRun.of("evidence", advice.evidence.problems)


@click.command("rules")
@click.argument("rule_id", required=False, metavar="[ID]")
@click.option("--rules", "rules", metavar="FILE", type=click.Path(dir_okay=False),
              help="Include your own rules file (as `recommend --rules` would).")
@click.option("--check", is_flag=True, help="Check that every rule's examples fire (and do not fire) as declared.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format (default: a table on a terminal, plain text when piped).")
def rules_command(rule_id: str | None, rules: str | None, check: bool, fmt: str | None) -> None:
    """List the advisor's rules: id, title, when it fires and what it changes. Give an ID to see one
    rule in full (rationale, caveats, sources, examples).

    \b
    Example:
      storeadvise rules
      storeadvise rules SA502
      storeadvise rules --rules my_rules.toml --check
    """
    from storeadvise.advisor.render import render_rules
    from storeadvise.advisor.ruleset import check_examples, load_rules
    from storeadvise.errors import UsageError

    ruleset = load_rules(rules)
    if check:
        problems = check_examples(ruleset)
        if problems:
            raise UsageError(f"{len(problems)} rule example(s) do not behave as declared; first: {problems[0]}")
        examples = sum(len(r.examples_fire) + len(r.examples_skip) for r in ruleset.rules)
        click.echo(f"ok: {len(ruleset.rules)} rules, {examples} examples behave as declared")
        return
    _echo(render_rules(ruleset, _output_format(fmt), rule_id=rule_id))
