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
from collections.abc import Callable
from typing import Any, TypeVar

import click

from storeadvise import __version__
from storeadvise.errors import StoreAdviseError
from storeadvise.formatting import printable
from storeadvise.units import parse_quantity

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:attribute, one-line help shown by `storeadvise --help` without importing it)
    "recommend": ("storeadvise.advisor.commands:recommend_command", "Recommend where data should live, with reasons."),
    "rules": ("storeadvise.advisor.commands:rules_command", "List the advisor's rules (built-in and your own)."),
    "bench": ("storeadvise.bench.commands:bench_command", "Benchmark storage backends on a sample or your file."),
    "report": ("storeadvise.bench.commands:report_command", "Render a saved benchmark run in any format."),
    "sample": ("storeadvise.bench.commands:sample_command", "Write a generated sample dataset to a file."),
    "history": ("storeadvise.bench.commands:history_command", "List saved runs; query them with SQL; one over time."),
    "backends": ("storeadvise.bench.commands:backends_command", "List the backends and whether they can run here."),
}

EXIT_INTERRUPTED = 130

# `storeadvise` alone prints its help (click 8.2 and later raise this for it): help, not an error.
_SHOWS_HELP: tuple[type[Exception], ...] = tuple(
    cls for cls in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if cls is not None
)


class Quantity(click.ParamType):
    """An option holding a size, count or latency, read by ``units.parse_quantity``: ``--rows 10k`` means
    the same on every command, and a mistake is reported as every other usage error is."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = {"size": "size", "rows": "count", "latency": "latency"}[kind]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | float:
        option = max(param.opts, key=len) if param is not None and param.opts else None
        number = parse_quantity(value, self.kind, option)
        return number if self.kind == "latency" else int(number)


SIZE = Quantity("size")
COUNT = Quantity("rows")
LATENCY = Quantity("latency")


_Command = TypeVar("_Command", bound=Callable[..., Any])


def server_address_options(command: _Command) -> _Command:
    """One option per declared service for the address of the user's own server (``--mongo-uri``,
    ``--kafka-bootstrap``); the command receives them as keyword arguments named by the service's
    address option, None when not given."""
    from storeadvise.backends.services import declared_services

    for service in reversed(declared_services().values()):
        command = click.option(service.cli_option, service.address_option, metavar=service.metavar, help=service.help)(
            command
        )
    return command


def column_type_options(command: _Command) -> _Command:
    """``--dtype COLUMN=TYPE`` (repeatable) and ``--schema FILE``: the types to read a data file's columns
    in instead of the inferred ones (``bench`` and ``recommend --data``; parsed by the library)."""
    command = click.option(
        "--schema", "schema", metavar="FILE", type=click.Path(dir_okay=False),
        help='Column types for the data file: a JSON object {"zip": "string"}, or a Parquet/Arrow file\'s '
             "schema. --dtype wins where both name a column.")(command)
    return click.option(
        "--dtype", "dtype", multiple=True, metavar="COLUMN=TYPE",
        help="Read a column of the data file in this type, not the inferred one; repeatable. An Arrow type "
             "(int32, timestamp[ms], decimal128(12, 2)) or string, int, float, bool, date, timestamp.")(command)


def given_addresses(addresses: dict[str, str | None]) -> dict[str, str]:
    """The server addresses given on the command line, as backend options."""
    return {option: address for option, address in addresses.items() if address}


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

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _SHOWS_HELP:
            raise
        except click.ClickException as exc:
            _fail(ctx, _click_message(exc), exc.exit_code)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoreAdviseError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _fail(ctx, str(exc), exc.exit_code)
        except click.ClickException as exc:  # click's own parsing of a command's options and arguments
            _fail(ctx, _click_message(exc), exc.exit_code)
        except KeyboardInterrupt:
            click.echo("storeadvise: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)


def _click_message(exc: click.ClickException) -> str:
    """Click's message, with where to find help when it is about how the command was called."""
    message = exc.format_message()
    where = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and where is not None:
        return f"{message.rstrip('.')}; see '{where.command_path} --help'"
    return message


def _fail(ctx: click.Context, message: str, exit_code: int) -> None:
    """Every error the command line reports, in one style: one line on stderr and the error's exit code."""
    from storeadvise.backends.masking import mask_secrets

    # One line, whatever the message quotes from the user's file: every control character is escaped.
    click.echo(f"storeadvise: error: {printable(mask_secrets(message), keep='')}", err=True)
    ctx.exit(exit_code)


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
