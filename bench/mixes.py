"""Mixed online workloads for many clients at once: YCSB's core workloads A-F as data, and key choice.

A mix is a handful of proportions and a request distribution, as a YCSB workload file is
(``workloads/workloada``: ``readproportion=0.5``, ``updateproportion=0.5``,
``requestdistribution=zipfian``); ``bench.load`` turns it into calls on a backend and never knows
which mix it serves. A new mix is one entry in ``MIXES``.

How each kind of request drives a backend (the operations of ``backends.operations``):

- ``read``: ``lookup`` of one stored key;
- ``update``: ``update`` of one stored row in place, by key: a key from the client's own share of the
  stored keys (writers never touch each other's rows), its new values another row of the dataset's. A
  backend without ``update`` but with ``write_one`` stores a new row instead, and the step says so
  (``UPDATES_AS_INSERTS``);
- ``insert``: ``write_one`` of a new row whose key lies in the client's own key range;
- ``rmw`` (read-modify-write): a ``lookup`` of a key of the client's own share, then the ``update`` of
  that row, timed as one request (a ``lookup`` and a ``write_one`` where the backend cannot update);
- ``scan`` (a short range of up to ``SCAN_ROWS`` consecutive rows): ``take`` of consecutive positions;
- ``deliver`` (a stream's round trip, the OpenMessaging Benchmark's end-to-end latency): ``stream_latency``,
  one new record sent and consumed back; every client produces and consumes at once.

A backend that lacks an operation a mix needs cannot run that mix: the step is reported unsupported
with the reason, never faked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storeadvise.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

SCAN_ROWS = 100
"""The longest short scan, in rows (YCSB's ``maxscanlength`` default); each scan's length is uniform in
1..SCAN_ROWS."""
ZIPF_THETA = 0.99
"""YCSB's ``ZipfianGenerator.ZIPFIAN_CONSTANT``: the skew of the zipfian request distribution."""
DISTRIBUTIONS = ("uniform", "zipfian", "latest")
KINDS = ("read", "update", "insert", "rmw", "scan", "deliver")
NEEDS = {"read": ("lookup",), "update": ("update",), "insert": ("write_one",), "rmw": ("lookup", "update"),
         "scan": ("take",), "deliver": ("stream_latency",)}
"""The backend operations each request kind is made of (on a backend that can ``update``)."""
WRITES = ("update", "insert", "rmw", "deliver")
"""Request kinds that write: one new row, or one stored row updated in place (``UPDATES``)."""
UPDATES = ("update", "rmw")
"""Request kinds that update one stored row in place where the backend declares ``update``."""
UPDATES_AS_INSERTS = "updates measured as inserts: no in-place update"
"""The step's label where a mix's updates store new rows (``write_one``) because the backend cannot update."""


def updates_in_place(supports: frozenset[str] | set[str]) -> bool:
    """Whether a backend declaring ``supports`` serves the ``UPDATES`` kinds with ``update`` (else ``write_one``)."""
    return "update" in supports


@dataclass(frozen=True)
class Mix:
    """A mixed workload: the share of each request kind and how keys are chosen."""

    name: str
    description: str
    shares: dict[str, float]
    """Request kind (``KINDS``) -> its share of the requests; the shares add up to 1."""
    distribution: str = "zipfian"

    def __post_init__(self) -> None:
        if abs(sum(self.shares.values()) - 1) > 1e-9 or any(k not in KINDS for k in self.shares):
            raise UsageError(f"mix {self.name}: shares of {', '.join(KINDS)} adding up to 1, not {self.shares}")
        if self.distribution not in DISTRIBUTIONS:
            raise UsageError(f"unknown key distribution {self.distribution!r}; choose from {', '.join(DISTRIBUTIONS)}")

    @property
    def kinds(self) -> list[str]:
        """The request kinds this mix issues, in ``KINDS`` order."""
        return [k for k in KINDS if self.shares.get(k, 0) > 0]

    def needs(self, supports: frozenset[str] | set[str] | None = None) -> list[str]:
        """The backend operations this mix calls on a backend declaring ``supports`` (None: one that can
        ``update``; one that cannot stores its updates as new rows, with ``write_one``)."""
        as_inserts = supports is not None and not updates_in_place(supports)
        return list(dict.fromkeys("write_one" if op == "update" and as_inserts else op
                                  for kind in self.kinds for op in NEEDS[kind]))

    def updates_as_inserts(self, supports: frozenset[str] | set[str]) -> bool:
        """Whether this mix's updates are measured as inserts on a backend declaring ``supports``."""
        return any(kind in UPDATES for kind in self.kinds) and not updates_in_place(supports)

    def missing(self, supports: frozenset[str] | set[str]) -> str | None:
        """Why a backend declaring ``supports`` cannot run this mix, or None."""
        in_place = self.needs()
        lacking = [op for op in self.needs(supports) if op not in supports]
        # Updates need update, or write_one to measure them as inserts: name both.
        lacking = ["update (or write_one)" if op == "write_one" and op not in in_place else op for op in lacking]
        if not lacking:
            return None
        hint = " (a stream: --mix stream)" if "stream_latency" in supports and "stream_latency" not in lacking else ""
        return f"mix {self.name} needs {' and '.join(lacking)}, which the backend does not support{hint}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "shares": dict(self.shares),
                "distribution": self.distribution}


MIXES: dict[str, Mix] = {
    mix.name: mix
    for mix in (
        Mix("A", "update heavy: 50% reads, 50% updates", {"read": 0.5, "update": 0.5}),
        Mix("B", "read mostly: 95% reads, 5% updates", {"read": 0.95, "update": 0.05}),
        Mix("C", "read only", {"read": 1.0}),
        Mix("D", "read latest: 95% reads of recent rows, 5% inserts", {"read": 0.95, "insert": 0.05}, "latest"),
        Mix("E", f"short scans: 95% scans of up to {SCAN_ROWS} rows, 5% inserts", {"scan": 0.95, "insert": 0.05}),
        Mix("F", "read-modify-write: 50% reads, 50% read-modify-writes", {"read": 0.5, "rmw": 0.5}),
        Mix("stream", "OpenMessaging's shape: every client produces records and consumes them back, latency end "
                      "to end", {"deliver": 1.0}, "uniform"),
    )
}
"""YCSB's core workloads (``workloads/workloada`` ... ``workloadf``), and the OpenMessaging Benchmark's
producers and consumers at once for a stream."""
DEFAULT_MIX = "B"


def choose_mix(mix: str | None = None, read_ratio: float | None = None, distribution: str | None = None) -> Mix:
    """The mix ``--mix`` names (A-F, default B), or reads and updates in the ratio ``--read-ratio`` gives;
    ``distribution`` overrides the mix's key distribution."""
    if mix is not None and read_ratio is not None:
        raise UsageError("give either --mix or --read-ratio, not both")
    if read_ratio is not None:
        if isinstance(read_ratio, bool) or not isinstance(read_ratio, (int, float)) or not 0 <= read_ratio <= 1:
            raise UsageError(f"--read-ratio must be a number from 0 to 1, not {read_ratio!r}")
        shares = {k: v for k, v in (("read", float(read_ratio)), ("update", 1 - float(read_ratio))) if v > 0}
        chosen = Mix(f"read={read_ratio:g}", f"{read_ratio:.0%} reads, {1 - read_ratio:.0%} updates", shares)
    else:
        name = (mix or DEFAULT_MIX).strip().lower()
        found = [m for key, m in MIXES.items() if key.lower() == name]
        if not found:
            raise UsageError(f"unknown mix {mix!r}; choose from {', '.join(MIXES)} (YCSB's core workloads A-F; "
                             "stream for a stream's producers and consumers)")
        chosen = found[0]
    if distribution is None:
        return chosen
    if distribution not in DISTRIBUTIONS:
        raise UsageError(f"unknown key distribution {distribution!r}; choose from {', '.join(DISTRIBUTIONS)}")
    return Mix(chosen.name, chosen.description, chosen.shares, distribution)


class KeyChooser:
    """Which of ``n`` stored rows a request reads: uniform, zipfian (YCSB's theta 0.99, hot rows scattered
    over the key space by a permutation every client shares, as YCSB's ``ScrambledZipfianGenerator``
    does) or latest (zipfian over recency: the most recently inserted rows are the hottest). Draws
    come from numpy's generator, seeded per client, in blocks (outside any request's clock)."""

    BLOCK = 4096

    def __init__(self, n: int, distribution: str, seed: int, client: int) -> None:
        import numpy as np

        if n < 1:
            raise UsageError("a mixed workload needs stored rows to read; the dataset is empty")
        self.n = n
        self.distribution = distribution
        self._rng = np.random.default_rng([seed, client])
        self._p: np.ndarray | None = None
        self._order: np.ndarray | None = None
        if distribution in ("zipfian", "latest"):
            weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** ZIPF_THETA
            self._p = weights / weights.sum()
        if distribution == "zipfian":
            # The same permutation in every client: they share their hot rows, as the clients of one service do.
            self._order = np.random.default_rng(seed).permutation(n)
        self._block: list[int] = []

    def next_rank(self) -> int:
        """The next draw: a row position for uniform and zipfian, a recency rank (0 = newest) for latest."""
        if not self._block:
            self._block = self._draw().tolist()[::-1]
        return self._block.pop()

    def _draw(self) -> np.ndarray:
        if self._p is None:
            return self._rng.integers(0, self.n, self.BLOCK)
        ranks = self._rng.choice(self.n, size=self.BLOCK, p=self._p)
        return self._order[ranks] if self._order is not None else ranks

    def pick(self, stored: list[Any], own: list[Any]) -> Any:
        """A key to read: from the stored keys (in the order they were stored) and, for latest, this
        client's own inserts (newest last), which are the most recent rows it knows to exist."""
        rank = self.next_rank()
        if self.distribution != "latest":
            return stored[rank]
        if rank < len(own):
            return own[-1 - rank]
        return stored[max(0, len(stored) - 1 - (rank - len(own)))]


def draw_kinds(mix: Mix, count: int, rng: np.random.Generator) -> list[str]:
    """``count`` request kinds drawn in the mix's proportions."""
    kinds = mix.kinds
    return [kinds[i] for i in rng.choice(len(kinds), size=count, p=[mix.shares[k] for k in kinds])]
