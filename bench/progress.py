"""What a benchmark shows on stderr while it runs, drawn from the runner's events (the runner never
prints). Used by ``storeadvise bench`` and ``storeadvise recommend --bench``; rich is imported only
when a live display is drawn on a terminal."""

from __future__ import annotations

import sys
from typing import Any

from storeadvise.formatting import fmt_time, printable


class ProgressDisplay:
    """What a benchmark shows on stderr while it runs, fed by the runner's ``on_event``.

    On a terminal: a live line with backend k of n, the operation and what it is doing, the operations
    done, the time elapsed and the time budget left (at most ``--max-time`` per operation not yet run);
    it disappears when the run ends. Elsewhere (CI, ``| tee``): one plain line per finished backend and
    operation, ``parquet scan: 12.3 ms median, n=5 (3/8 backends, 41.0 s)``, so a long run is never
    silent. ``quiet``: nothing.
    """

    def __init__(self, *, quiet: bool = False, terminal: bool | None = None) -> None:
        self.quiet = quiet
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.live: Any = None
        if not quiet and self.terminal:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.live = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                TextColumn("{task.fields[done]}"), TimeElapsedColumn(), TextColumn("{task.fields[left]}"),
                console=Console(stderr=True), transient=True,
            )
            self.task = self.live.add_task("starting", total=None, done="", left="")

    def __enter__(self) -> ProgressDisplay:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def __call__(self, backend: str, op: str, message: str) -> None:
        from storeadvise.bench.events import Progress

        if self.quiet or not isinstance(message, Progress):
            return
        where = " ".join(part for part in (backend, op) if part)
        at = message.position
        if self.live is None:
            if message.finished:
                line = f"{where}: {message} ({at.backend_index}/{at.backend_count} backends, {fmt_time(at.elapsed)})"
                print(printable(line), file=sys.stderr, flush=True)
            return
        from rich.markup import escape

        step = f"[{at.backend_index}/{at.backend_count}] [bold]{escape(printable(where))}[/bold] " if where else ""
        self.live.update(self.task, description=step + escape(printable(message)), completed=at.ops_done,
                         total=at.ops_total, done=f"{at.ops_done}/{at.ops_total} operations",
                         left=f"≤ {fmt_time(at.budget_left, trim=True)} budget left")
