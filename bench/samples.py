"""Deterministic sample data, one generator per modality, streamed as Arrow record batches.

Why a generator and not a fixed file: the benchmark must run anywhere, at any size, with no data to
download, and two runs with the same seed must measure the same bytes. Every generator works in fixed
chunks of ``CHUNK_ROWS`` rows, each with its own random stream seeded from (seed, kind, chunk index),
so the content depends only on (kind, rows, seed): never on the batch size asked for, and never on
holding earlier chunks (a 20-million-row sample streams in the memory of one chunk). The time-series
random walk carries only its last level per series from one chunk to the next.

Choices that keep round trips honest:

- strings are never empty when not null (CSV cannot tell "" from a missing value);
- timestamps are ``timestamp[us, tz=UTC]`` instants: CSV (``...+0000``) and JSON (``...+00:00``) carry
  the offset, so a reader gets the same instants back (pyarrow's CSV reader widens them to ns);
- dates are ``date32``; about 5 % NULLs in several columns of every kind;
- timestamps sit only in top-level columns (JSON has no time type, and the JSON loader recognises
  temporal strings in top-level columns only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CHUNK_ROWS = 65_536
"""Rows generated per random stream; fixed so that the content never depends on a batch size."""

NULL_SHARE = 0.05
EPOCH_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in microseconds
EPOCH_DAYS = 19_723  # 2024-01-01 in days since 1970-01-01
DAY_US = 86_400 * 1_000_000
TS = pa.timestamp("us", tz="UTC")

_KIND_SALT = {"tabular": 1, "time-series": 2, "text": 3, "nested": 4}

CATEGORIES = ["books", "électronique", "garden", "spielzeug", "家居", "sports", "música", "tools"]
FIRST_NAMES = ["Ana", "José", "Zoë", "Jürgen", "Émile", "李", "Ngozi", "Søren", "Amélie", "Kwame", "Ola", "Chloé"]
LAST_NAMES = ["Müller", "Nguyễn", "García", "O'Brien", "王", "Okafor", "Dupont", "Smith", "Kowalski", "Øvergaard"]
EXTRAS = ["", "", "", "", " 🙂", " (admin)", ", Jr.", " 🚀"]
SERIES = ["sensor-a", "sensor-b", "sensor-c", "sensor-d"]
TAGS = ["red", "blue", "vip", "nouveau", "größe-m", "セール", "eco", "gift", "🔥hot", "b2b"]
EVENT_KINDS = ["view", "click", "cart", "purchase", "refund"]
LANGS = ["en", "de", "fr", "es", "zh"]
LANG_WEIGHTS = [0.45, 0.15, 0.15, 0.15, 0.10]
VOCAB = {
    "en": "the data store table query fast slow model train record stream file column row index "
    "batch latency memory disk cloud user event value time series key lookup write read scan",
    "de": "der die das daten speicher tabelle abfrage schnell langsam modell größe über für "
    "zeile spalte wert zeit schlüssel lesen schreiben strom datei benutzer ereignis",
    "fr": "le la les données stockage table requête rapide lent modèle entraîner fichier "
    "colonne ligne valeur temps clé lecture écriture flux utilisateur événement déjà",
    "es": "el la los datos almacén tabla consulta rápido lento modelo entrenar archivo "
    "columna fila valor tiempo clave lectura escritura flujo usuario evento año",
    "zh": "数据 存储 表格 查询 快速 缓慢 模型 训练 文件 列 行 数值 时间 键 读取 写入 流 用户 事件 索引",
}
EMOJI_WORDS = ["🙂", "📈", "✅", "🚀"]


def chunk_bounds(rows: int) -> Iterator[tuple[int, int, int]]:
    """(chunk index, first row, end row) of every generation chunk."""
    for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
        yield index, start, min(start + CHUNK_ROWS, rows)


def chunk_rng(seed: int, kind: str, index: int) -> np.random.Generator:
    """The random stream of one chunk: independent of every other chunk and of the batch size."""
    return np.random.default_rng(np.random.SeedSequence([seed, _KIND_SALT[kind], index]))


def _nulls(rng: np.random.Generator, n: int, share: float = NULL_SHARE) -> np.ndarray:
    return rng.random(n) < share


def _pick(values: list[str], rng: np.random.Generator, n: int, mask: np.ndarray | None = None,
          p: list[float] | None = None) -> pa.Array:
    """n strings drawn from ``values`` (dictionary-style take keeps it vectorised)."""
    idx = pa.array(rng.choice(len(values), size=n, p=p), type=pa.int32(), mask=mask)
    return pa.array(values, type=pa.string()).take(idx)


def _timestamps(us: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(us.astype("int64"), type=pa.int64(), mask=mask).cast(TS)


# -- generators: each yields one RecordBatch per chunk --------------------------------------------

TABULAR_SCHEMA = pa.schema([
    ("id", pa.int64()),
    ("quantity", pa.int64()),
    ("price", pa.float64()),
    ("score", pa.float64()),
    ("category", pa.string()),
    ("name", pa.string()),
    ("active", pa.bool_()),
    ("updated_at", TS),
    ("signup_date", pa.date32()),
])


def _tabular(rows: int, seed: int) -> Iterator[pa.RecordBatch]:
    for index, start, end in chunk_bounds(rows):
        rng = chunk_rng(seed, "tabular", index)
        n = end - start
        first = _pick(FIRST_NAMES, rng, n)
        last = _pick(LAST_NAMES, rng, n)
        extra = _pick(EXTRAS, rng, n)
        name = pc.binary_join_element_wise(first, last, " ")
        name = pc.binary_join_element_wise(name, extra, "")
        name = pc.if_else(pa.array(_nulls(rng, n)), pa.scalar(None, pa.string()), name)
        yield pa.RecordBatch.from_arrays([
            pa.array(np.arange(start, end, dtype=np.int64)),
            pa.array(rng.integers(0, 1_000, n), type=pa.int64(), mask=_nulls(rng, n)),
            pa.array(np.round(rng.lognormal(3.0, 1.0, n), 2), mask=_nulls(rng, n)),
            pa.array(rng.normal(0.0, 1.0, n)),
            _pick(CATEGORIES, rng, n),
            name,
            pa.array(rng.random(n) < 0.6, mask=_nulls(rng, n)),
            _timestamps(EPOCH_US + rng.integers(0, 365 * DAY_US, n)),
            pa.array((EPOCH_DAYS - rng.integers(0, 3_650, n)).astype(np.int32), type=pa.int32(),
                     mask=_nulls(rng, n)).cast(pa.date32()),
        ], schema=TABULAR_SCHEMA)


TIME_SERIES_SCHEMA = pa.schema([
    ("id", pa.int64()),
    ("ts", TS),
    ("series_id", pa.string()),
    ("temperature", pa.float64()),
    ("humidity", pa.float64()),
    ("pressure", pa.float64()),
    ("power", pa.float64()),
])
_TS_START = np.array([[20.0, 55.0, 1013.0, 500.0]]) + np.arange(len(SERIES))[:, None] * [1.5, 3.0, 0.5, 40.0]
_TS_STEP = np.array([0.02, 0.05, 0.01, 2.0])  # random-walk step per measurement column


def _time_series(rows: int, seed: int) -> Iterator[pa.RecordBatch]:
    """One reading per series per second, series interleaved, so ``ts`` is sorted."""
    level = _TS_START.copy()  # last value of every (series, measurement): the only carried state
    n_series = len(SERIES)
    for index, start, end in chunk_bounds(rows):
        rng = chunk_rng(seed, "time-series", index)
        n = end - start
        row = np.arange(start, end, dtype=np.int64)
        series = row % n_series
        second = row // n_series
        values = np.empty((n, len(_TS_STEP)))
        steps = rng.normal(0.0, 1.0, (n, len(_TS_STEP))) * _TS_STEP
        for s in range(n_series):
            sel = series == s
            if sel.any():
                walk = level[s] + np.cumsum(steps[sel], axis=0)
                values[sel] = walk
                level[s] = walk[-1]
        daily = 4.0 * np.sin(2 * np.pi * (second % 86_400) / 86_400)
        yield pa.RecordBatch.from_arrays([
            pa.array(row),
            _timestamps(EPOCH_US + second * 1_000_000),
            pa.array(SERIES, type=pa.string()).take(pa.array(series.astype(np.int32))),
            pa.array(np.round(values[:, 0] + daily, 3)),
            pa.array(np.round(np.clip(values[:, 1], 0.0, 100.0), 2), mask=_nulls(rng, n, 0.01)),
            pa.array(np.round(values[:, 2], 2)),
            pa.array(np.round(np.maximum(values[:, 3], 0.0), 1), mask=_nulls(rng, n, 0.01)),
        ], schema=TIME_SERIES_SCHEMA)


TEXT_SCHEMA = pa.schema([
    ("id", pa.int64()),
    ("title", pa.string()),
    ("body", pa.string()),
    ("lang", pa.string()),
    ("created_at", TS),
])
WORDS_PER_LANG = 32  # every vocabulary has the same size, so a word index is lang * 32 + (0..31)
_VOCAB_LISTS = [(VOCAB[lang].split() * 2)[: WORDS_PER_LANG - len(EMOJI_WORDS)] + EMOJI_WORDS for lang in LANGS]
_WORD_ARRAY = pa.array([w for words in _VOCAB_LISTS for w in words], type=pa.string())


def _documents(rng: np.random.Generator, lang: np.ndarray, words: np.ndarray) -> pa.Array:
    """One string per row: ``words[i]`` words of language ``lang[i]``, joined by spaces (vectorised)."""
    word_lang = np.repeat(lang.astype(np.int32), words)
    idx = word_lang * WORDS_PER_LANG + rng.integers(0, WORDS_PER_LANG, len(word_lang), dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(words)]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), _WORD_ARRAY.take(pa.array(idx)))
    return pc.binary_join(lists, " ")


def _text(rows: int, seed: int) -> Iterator[pa.RecordBatch]:
    """Documents from tens to thousands of characters (word counts are log-normal)."""
    for index, start, end in chunk_bounds(rows):
        rng = chunk_rng(seed, "text", index)
        n = end - start
        lang = rng.choice(len(LANGS), size=n, p=LANG_WEIGHTS)
        body_words = np.clip(np.round(rng.lognormal(np.log(60.0), 0.9, n)), 3, 3_000).astype(np.int64)
        title = pc.utf8_capitalize(_documents(rng, lang, rng.integers(2, 9, n)))
        title = pc.if_else(pa.array(_nulls(rng, n, 0.02)), pa.scalar(None, pa.string()), title)
        yield pa.RecordBatch.from_arrays([
            pa.array(np.arange(start, end, dtype=np.int64)),
            title,
            _documents(rng, lang, body_words),
            pa.array(LANGS, type=pa.string()).take(pa.array(lang.astype(np.int32))),
            _timestamps(EPOCH_US + rng.integers(0, 365 * DAY_US, n)),
        ], schema=TEXT_SCHEMA)


USER_TYPE = pa.struct([("name", pa.string()), ("age", pa.int64()), ("country", pa.string())])
EVENT_TYPE = pa.struct([("kind", pa.string()), ("value", pa.float64())])
NESTED_SCHEMA = pa.schema([
    ("id", pa.int64()),
    ("user", USER_TYPE),
    ("tags", pa.list_(pa.string())),
    ("events", pa.list_(EVENT_TYPE)),
    ("created_at", TS),
])
COUNTRIES = ["DE", "FR", "NG", "JP", "BR", "US", "CN", "ES"]


def _offsets(rng: np.random.Generator, n: int, most: int) -> tuple[pa.Array, int]:
    lengths = rng.integers(0, most + 1, n)
    return pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)), int(lengths.sum())


def _nested(rows: int, seed: int) -> Iterator[pa.RecordBatch]:
    """Documents as MongoDB or a JSON store would hold them: a sub-object, a list, a list of objects."""
    for index, start, end in chunk_bounds(rows):
        rng = chunk_rng(seed, "nested", index)
        n = end - start
        first = _pick(FIRST_NAMES, rng, n)
        user = pa.StructArray.from_arrays(
            [
                pc.binary_join_element_wise(first, _pick(LAST_NAMES, rng, n), " "),
                pa.array(rng.integers(16, 90, n), type=pa.int64(), mask=_nulls(rng, n)),
                _pick(COUNTRIES, rng, n, mask=_nulls(rng, n)),
            ],
            fields=list(USER_TYPE),
            mask=pa.array(_nulls(rng, n, 0.03)),
        )
        tag_offsets, tag_total = _offsets(rng, n, 4)
        tags = pa.ListArray.from_arrays(tag_offsets, _pick(TAGS, rng, tag_total), mask=pa.array(_nulls(rng, n)))
        event_offsets, event_total = _offsets(rng, n, 5)
        events = pa.ListArray.from_arrays(
            event_offsets,
            pa.StructArray.from_arrays(
                [_pick(EVENT_KINDS, rng, event_total), pa.array(np.round(rng.exponential(20.0, event_total), 2))],
                fields=list(EVENT_TYPE),
            ),
            mask=pa.array(_nulls(rng, n)),
        )
        yield pa.RecordBatch.from_arrays([
            pa.array(np.arange(start, end, dtype=np.int64)),
            user,
            tags,
            events,
            _timestamps(EPOCH_US + rng.integers(0, 365 * DAY_US, n)),
        ], schema=NESTED_SCHEMA)


GENERATORS: dict[str, tuple[pa.Schema, Callable[[int, int], Iterator[pa.RecordBatch]]]] = {
    "tabular": (TABULAR_SCHEMA, _tabular),
    "time-series": (TIME_SERIES_SCHEMA, _time_series),
    "text": (TEXT_SCHEMA, _text),
    "nested": (NESTED_SCHEMA, _nested),
}
"""Sample kind -> (schema, generator(rows, seed)). The keys are ``datasets.SAMPLE_KINDS``."""

KEY_COLUMN = "id"
TIME_COLUMNS = {"tabular": "updated_at", "time-series": "ts", "text": "created_at", "nested": "created_at"}
