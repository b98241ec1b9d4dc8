"""``storeadvise.recommend(...)``: the Python face of ``storeadvise recommend``.

The CLI calls this one function and renders what it returns, so the library and the command line
always give the same advice. Heavy modules (pyarrow through ``--data``, the benchmark harness through
``bench=True``) are imported only when those are asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from storeadvise.advisor.engine import Recommendation, evaluate
from storeadvise.advisor.inputs import make_inputs
from storeadvise.advisor.ruleset import load_rules


def recommend(
    modality: str | None = None,
    purpose: str | None = None,
    *,
    size: str | int | None = None,
    rows: str | int | None = None,
    structure: str | None = None,
    arrival: str | None = None,
    latency: str | float | None = None,
    readers: str | int | None = None,
    writers: str | int | None = None,
    update: str | None = None,
    items: str | int | None = None,
    item_size: str | int | None = None,
    stored_as: str | None = None,
    memory: str | int | None = None,
    data: str | Path | None = None,
    dtype: Mapping[str, Any] | Sequence[str] | str | None = None,
    schema: str | Path | None = None,
    rules: str | Path | None = None,
    bench: bool = False,
    bench_rows: int | str | None = None,
    bench_backends: Sequence[str] | None = None,
    bench_options: dict[str, Any] | None = None,
    bench_on_event: Callable[[str, str, str], None] | None = None,
) -> Recommendation:
    """Rank the storage options for this data and purpose, with reasons, caveats and a runner-up.

    ``size`` takes ``"500MB"``-style text or bytes, ``rows`` ``"10k"``-style text or a count,
    ``latency`` ``"5ms"``-style text or milliseconds. ``readers`` and ``writers`` take a number of
    processes or ``one``/``team``/``many``; ``items`` and ``item_size`` describe media (their product
    is the size when no size is given); ``memory`` is the RAM of the machine that will hold the data
    (default: this machine's) and ``stored_as`` the file format ``size`` refers to, which together
    give the estimated in-memory size the rules compare. ``data`` profiles a file (or counts a folder
    of media or text files) and fills in what was not given (explicit arguments win); ``dtype`` and
    ``schema`` give a file's columns other types than the inferred ones (``["zip=string"]``, a JSON or
    Parquet schema file; see ``storeadvise.benchmark``). ``rules`` adds or overrides rules from a TOML file.
    ``bench=True`` measures the top candidates that have a backend on ``data`` (or on a generated
    sample of the modality, ``bench_rows`` rows) and re-ranks them by the numbers that matter for
    the purpose; ``bench_backends`` picks the backends to measure instead; ``bench_on_event`` receives
    the benchmark's progress (as ``storeadvise.benchmark``'s ``on_event``).
    """
    given = {
        "modality": modality, "purpose": purpose, "size": size, "rows": rows, "structure": structure,
        "arrival": arrival, "latency": latency, "readers": readers, "writers": writers, "update": update,
        "items": items, "item_size": item_size, "stored_as": stored_as, "memory": memory,
    }
    ruleset = load_rules(rules)
    inferred: dict[str, Any] = {}
    notes: list[str] = []
    if data is None and (dtype or schema is not None):
        from storeadvise.errors import UsageError

        raise UsageError("--dtype and --schema describe the columns of --data; no --data was given")
    if data is not None:
        from storeadvise.advisor.profile import profile_inputs

        inferred, notes = profile_inputs(data, dtype=dtype, schema=schema)
    inputs = make_inputs(given, inferred, inferred_from=Path(data).name if data is not None else "data")
    # The harness measures files and the folders an input format claims (a folder of media items).
    table = str(data) if data is not None and _measurable(data) else None
    advice = evaluate(inputs, ruleset, data=table)
    if notes:
        advice = _with_notes(advice, notes)
    if bench:
        from storeadvise.advisor.evidence import gather_evidence

        advice = gather_evidence(advice, data=table, rows=bench_rows, backends=bench_backends,
                                 options=bench_options, on_event=bench_on_event, dtype=dtype, schema=schema)
    return advice


def _measurable(path: str | Path) -> bool:
    """Whether the harness can read ``path`` (imported only for a folder: a file always is)."""
    if not Path(path).is_dir():
        return True
    from storeadvise.bench.api import measurable

    return measurable(path)


def _with_notes(advice: Recommendation, notes: list[str]) -> Recommendation:
    from dataclasses import replace

    return replace(advice, notes=(*notes, *advice.notes))
