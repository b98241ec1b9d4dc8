"""The ``storeadvise`` command line: a thin face of the library.

Commands live beside their concern (``advisor/commands.py``, ``bench/commands.py``) and are imported
only when invoked, so ``storeadvise --help`` and ``storeadvise recommend`` never pay for pyarrow,
pymongo or kafka-python. This module is the one place where library errors become a one-line
message and an exit code.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from typing import Any

import click

from storeadvise import __version__
from storeadvise.errors import StoreAdviseError

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:attribute, one-line help shown by `storeadvise --help` without importing it)
    "recommend": ("storeadvise.advisor.commands:recommend_command", "Recommend where data should live, with reasons."),
    "rules": ("storeadvise.advisor.commands:rules_command", "List the advisor's rules (built-in and your own)."),
    "bench": ("storeadvise.bench.commands:bench_command", "Benchmark storage backends on a sample or your file."),
    "report": ("storeadvise.bench.commands:report_command", "Render a saved benchmark run in any format."),
    "sample": ("storeadvise.bench.commands:sample_command", "Write a generated sample dataset to a file."),
    "backends": ("storeadvise.bench.commands:backends_command", "List the backends and whether they can run here."),
}

EXIT_INTERRUPTED = 130


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, _, attr = COMMANDS[cmd_name][0].partition(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoreAdviseError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"storeadvise: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("storeadvise: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="storeadvise")
@click.option("--debug", is_flag=True, envvar="STOREADVISE_DEBUG", help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Where should this data live? Advice with reasons, and measurements on your own data.

    \b
    Example:
      storeadvise recommend --modality tabular --purpose online
      storeadvise bench --sample tabular --rows 200000
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    from storeadvise.signals import request_stop

    # `kill PID` cleans up like Ctrl-C: stop embedded servers, drop scratch, save the run. An inherited
    # "ignore" (a shell's background job) is kept for SIGINT.
    signal.signal(signal.SIGTERM, request_stop)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, request_stop)
    # A closed pipe (`storeadvise report x | head`) is not an error worth a traceback.
    try:
        cli.main(args=argv, prog_name="storeadvise")
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()
