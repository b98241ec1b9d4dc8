"""Training-style reads: shuffled epochs read ahead by worker threads, and emulated accelerators.

A PyTorch ``DataLoader`` over a map-style dataset draws a random permutation of the item positions,
cuts it into mini-batches, and has ``num_workers`` workers fetch batches ahead of the training loop
(``prefetch_factor`` = 2 batches each). ``loader`` does the same with threads and no torch: each batch
is one ``Backend.take(positions)`` call, results come back in the sampler's order, and at most
``workers * PREFETCH`` batches are in flight. Threads rather than processes: the stores' readers
(pyarrow, Lance, SQLite, the network clients) release the GIL while they read, and a thread shares
the backend the harness opened instead of opening one per process.

``FeedJob`` emulates training on N accelerators as MLPerf Storage does: each accelerator has its own
loader over its shard of the permutation and spends ``step_time`` per batch (a wait: the emulated
compute) while its loader reads ahead. Its utilisation is the emulated compute over the wall time of
the run (measured by the runner's clock); MLPerf Storage counts a store as keeping up at 90 % or more.
``largest_kept_busy`` searches the largest N this store keeps that busy on this machine.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storeadvise.backends.operations import Tally, consume
from storeadvise.errors import UsageError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from storeadvise.backends.base import Backend

PREFETCH = 2
"""Batches each worker reads ahead: ``DataLoader``'s default ``prefetch_factor``."""
KEEPS_UP = 0.90
"""The utilisation at and above which a store keeps the accelerators busy (MLPerf Storage's rule)."""
FEED_STEPS = 32
"""Training steps each emulated accelerator takes in one run of ``feed``. Every loader starts by asking
for ``workers * PREFETCH`` batches at once, and the accelerators wait for that first batch: a start-up
cost a long training run spreads over thousands of steps. 32 steps keep it to a few percent of a run
while a search over N stays within seconds per try (docs/decisions.md, 'Emulated accelerators: 32 steps
each, threads for the loaders')."""
MAX_ACCELERATORS = 64
"""Where the search for the largest N stops doubling: 64 emulated accelerators with their loaders are
hundreds of threads on one machine, past which the emulation measures the machine, not the store."""


@dataclass(frozen=True)
class LoaderSettings:
    """How training reads: ``--batch-size``, ``--workers``, ``--accelerators``, ``--step-time``, ``--decode``."""

    batch_size: int = 32
    workers: int = 4  # docs/decisions.md, 'Shuffled epochs: four reader threads by default'
    accelerators: int | None = None
    """Accelerators to emulate (``feed``); None: only the search for the largest N that is kept busy."""
    step_time: float = 0.05
    """Seconds of emulated compute per batch."""
    decode: bool = False

    def __post_init__(self) -> None:
        for option, value in (("--batch-size", self.batch_size), ("--workers", self.workers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{option} must be a positive integer, not {value!r}")
        n = self.accelerators
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ACCELERATORS):
            raise UsageError(f"--accelerators must be an integer from 1 to {MAX_ACCELERATORS}, not {n!r}")
        if isinstance(self.step_time, bool) or not isinstance(self.step_time, (int, float)) or not self.step_time > 0:
            raise UsageError(f"--step-time must be a positive duration, not {self.step_time!r}")


MEDIA_OPS = ("write", "scan", "lookup", "take", "shuffle", "feed", "append")
"""What a folder of items is measured with when no operation or purpose is named: ingest, a sequential
epoch, an item by id (``lookup``: the online pattern) and a training batch at random positions
(``take``), a shuffled epoch, the emulated accelerators, new items."""
TRAINING_OPS = ("shuffle", "feed")
"""Added to the training purpose's operations for a folder of items."""


def training_ops(ops: list[str], named: bool, media: bool, purpose: str | None,
                 settings: LoaderSettings) -> list[str]:
    """The operations to run, given those chosen (``named``: by name or purpose) and the data (``media``:
    a folder of items, which has defaults of its own): ``feed`` when accelerators are named, ``decode``
    when asked; in run order."""
    from storeadvise.backends.operations import OPERATIONS

    chosen = set(ops) if named or not media else set(MEDIA_OPS)
    if media and purpose == "training":
        chosen |= set(TRAINING_OPS)
    if settings.accelerators is not None:
        chosen.add("feed")
    if settings.decode:
        chosen.add("decode")
    return [name for name in OPERATIONS if name in chosen]


def parse_step_time(value: float | str) -> float:
    """Seconds of a step: a number of seconds, or text such as ``50ms`` or ``0.2s``."""
    from storeadvise.units import parse_quantity

    if isinstance(value, str):
        return parse_quantity(value, "latency", "--step-time") / 1000
    return value


def loader(fetch: Callable[[Any], Any], batches: Iterable[Any], workers: int) -> Iterator[Any]:
    """``fetch(batch)`` for every batch, in the batches' order, with ``workers`` threads keeping up to
    ``workers * PREFETCH`` fetches in flight ahead of the consumer."""
    from concurrent.futures import ThreadPoolExecutor

    todo = iter(batches)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="storeadvise-loader") as pool:
        pending = deque(pool.submit(fetch, b) for b in itertools.islice(todo, workers * PREFETCH))
        try:
            while pending:
                result = pending.popleft().result()
                following = next(todo, None)
                if following is not None:
                    pending.append(pool.submit(fetch, following))
                yield result
        finally:
            for future in pending:  # a consumer that stops early leaves nothing running
                future.cancel()


def permutation(rows: int, seed: int) -> np.ndarray:
    """The positions ``0 .. rows-1`` in a seeded random order."""
    import numpy as np

    return np.random.default_rng(np.random.SeedSequence([seed, 7])).permutation(rows)


@dataclass(frozen=True)
class Epoch:
    """One shuffled epoch: every position once, in mini-batches of ``batch_size``, read by ``workers``."""

    order: np.ndarray = field(repr=False)
    batch_size: int
    workers: int
    modality: str | None = None
    """The media modality of the items, which says how to decode them (None: rows, nothing to decode)."""

    @classmethod
    def of(cls, rows: int, settings: LoaderSettings, seed: int, modality: str | None = None) -> Epoch:
        return cls(permutation(rows, seed), settings.batch_size, settings.workers, modality)

    def batches(self) -> Iterator[list[int]]:
        for start in range(0, len(self.order), self.batch_size):
            yield self.order[start:start + self.batch_size].tolist()

    def read(self, backend: Backend, decode: bool = False) -> Iterator[pa.Table]:
        """The epoch's batches as ``backend.take`` returns them (each item decoded too, with ``decode``)."""
        fetch = (lambda positions: decoded(backend.take(positions), self.modality)) if decode else backend.take
        return loader(fetch, self.batches(), self.workers)


# -- decoding ---------------------------------------------------------------------------------------

def _image(data: bytes) -> Any:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


def _frames(data: bytes) -> int:
    """Decode every video frame or audio frame of a container (PyAV: FFmpeg's decoders)."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0] if container.streams.video else container.streams.audio[0]
        return sum(frame.to_ndarray().size > 0 for frame in container.decode(stream))


def _audio(data: bytes) -> int:
    import wave

    if data[:4] != b"RIFF":
        return _frames(data)
    with wave.open(io.BytesIO(data)) as wav:
        return len(wav.readframes(wav.getnframes()))


DECODERS: dict[str, Callable[[bytes], Any]] = {
    "images": _image, "video": _frames, "audio": _audio, "text": lambda data: len(data.decode("utf-8", "replace")),
}
"""How an item of each media modality is decoded into what a model takes (pixels, frames, samples, text)."""


def decoded(table: pa.Table, modality: str | None) -> pa.Table:
    """Decode every item of a media table of ``modality`` (returned as it was): the cost a training
    step adds on top of reading. Rows that are no media items have nothing to decode. An item that
    does not decode is a ``DataError`` naming it, as a training loop would stop on it."""
    from storeadvise.errors import DataError
    from storeadvise.media import BYTES_COLUMN, ID_COLUMN

    decode = DECODERS.get(modality or "")
    if decode is None:
        raise UsageError("decode applies to a folder of images, video, audio or documents")
    for position, data in enumerate(table.column(BYTES_COLUMN).to_pylist()):
        try:
            decode(data)
        except Exception as exc:  # each decoder's own error types (Pillow, PyAV, wave)
            item = table.column(ID_COLUMN)[position].as_py() if ID_COLUMN in table.column_names else position
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"item {item} does not decode as {modality}: {why}; "
                            "remove or replace it to measure decoding") from None
    return table


def decode_skip(modality: str | None) -> str | None:
    """Why the data cannot be decoded (it is no media table), or None."""
    return None if modality in DECODERS else "decode applies to a folder of images, video, audio or documents"


# -- emulated accelerators --------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedJob:
    """``accelerators`` emulated accelerators, each taking ``FEED_STEPS`` batches from its own loader and
    spending ``step_time`` on each; ``search`` also looks for the largest N kept busy."""

    rows: int
    settings: LoaderSettings
    accelerators: int
    seed: int
    search: bool = True

    def with_accelerators(self, n: int) -> FeedJob:
        return FeedJob(self.rows, self.settings, n, self.seed, search=False)

    def shards(self) -> list[list[list[int]]]:
        """Each accelerator's batches: consecutive slices of seeded permutations (a new one whenever
        the data runs out: several epochs' worth when the data is small)."""
        import numpy as np

        size = self.settings.batch_size
        wanted = self.accelerators * FEED_STEPS * size
        orders, epoch = [], 0
        while sum(len(o) for o in orders) < wanted:
            orders.append(permutation(self.rows, self.seed + epoch))
            epoch += 1
        order = np.concatenate(orders)[:wanted]
        batches = [order[i:i + size].tolist() for i in range(0, wanted, size)]
        return [batches[a * FEED_STEPS:(a + 1) * FEED_STEPS] for a in range(self.accelerators)]

    def run(self, backend: Backend) -> Tally:
        """Every accelerator's steps, each batch consumed before its step; what they read in total."""
        shards = self.shards()
        tallies: list[Tally] = []
        errors: list[BaseException] = []
        stop = threading.Event()

        def accelerator(batches: list[list[int]]) -> None:
            try:
                for table in loader(backend.take, batches, self.settings.workers):
                    tallies.append(consume(table))
                    stop.wait(self.settings.step_time)  # the emulated compute of one training step
            except BaseException as exc:  # surfaces in the calling thread below
                errors.append(exc)
                stop.set()

        threads = [threading.Thread(target=accelerator, args=(s,), name=f"storeadvise-accelerator-{i}")
                   for i, s in enumerate(shards)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return Tally(sum(t.rows for t in tallies), sum(t.nbytes for t in tallies), max(t.held for t in tallies))

    def compute_seconds(self) -> float:
        """The emulated compute of one run, summed over the accelerators."""
        return self.accelerators * FEED_STEPS * self.settings.step_time

    def utilisation(self, seconds: float) -> float:
        """Emulated compute over the accelerators' wall time, for a run that took ``seconds``."""
        return min(1.0, self.compute_seconds() / (self.accelerators * seconds)) if seconds > 0 else 0.0

    def figures(self, seconds: float, timed: Callable[[FeedJob], float]) -> dict[str, Any]:
        """The measurement's extra facts: utilisation at N and its verdict, and (``search``) the largest
        N kept busy, found with ``timed`` (one run of a job, in seconds, on the runner's clock)."""
        used = self.utilisation(seconds)
        found: dict[str, Any] = {
            "accelerators": self.accelerators, "step_time": self.settings.step_time,
            "batch_size": self.settings.batch_size, "workers": self.settings.workers,
            "utilisation": round(used, 4), "keeps_up": used >= KEEPS_UP,
        }
        if self.search:
            largest, tried = largest_kept_busy(lambda n: self.with_accelerators(n).utilisation(
                timed(self.with_accelerators(n))))
            found.update(largest_kept_busy=largest, search=tried)
        return found


def largest_kept_busy(utilisation_at: Callable[[int], float], limit: int = MAX_ACCELERATORS
                      ) -> tuple[int, list[list[float]]]:
    """The largest N whose utilisation is at least ``KEEPS_UP`` (0 when one accelerator is not kept
    busy): N doubles from 1 until it fails, then the gap is halved. An N that falls short is tried once
    more before it counts as failed: on a shared machine one slow try is as likely as a slow store. The
    tries, as [N, utilisation] pairs, come back with it."""
    tried: list[list[float]] = []

    def busy(n: int) -> bool:
        for _ in range(2):
            used = utilisation_at(n)
            tried.append([n, round(used, 4)])
            if used >= KEEPS_UP:
                return True
        return False

    good, bad = 0, None
    n = 1
    while n <= limit:
        if not busy(n):
            bad = n
            break
        good, n = n, n * 2
    if bad is None:
        return good, tried
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if busy(middle) else (good, middle)
    return good, tried
