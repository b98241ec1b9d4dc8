"""Modalities: what kind of data it is, defined once for the advisor and the benchmark harness.

The advisor takes a modality as input (``--modality``), the harness generates samples of some of them
(``storeadvise sample KIND``, ``bench --sample KIND``) and infers one from a file. Each entry says what
it means, the spellings the advisor accepts, a rough size per row, and whether the harness can
generate (and so benchmark) a sample of it; ``bench.samples.GENERATORS`` holds one generator per
``SAMPLE_KINDS`` entry, which a test checks.

Standard library only, beside ``units`` because the advisor and the harness both use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Modality:
    """One kind of data."""

    name: str
    meaning: str
    aliases: tuple[str, ...]  # other spellings the advisor accepts (after lower-casing, spaces to hyphens)
    row_bytes: int  # rough bytes per row or item, only to estimate a size from a row count
    sample: bool  # the harness generates samples of it, so it can be benchmarked without the user's data
    media: bool = False  # items are files of encoded bytes (read one by one), not rows loaded into a table
    stored_as: str | None = None  # the file format the advisor assumes a size refers to, when not told
    extensions: tuple[str, ...] = ()  # file name endings that say a file in a folder is one item of it


MODALITIES: dict[str, Modality] = {
    m.name: m
    for m in (
        Modality("tabular", "rows and columns of numbers, categories, text labels and dates",
                 ("table", "tables", "structured"), 100, sample=True, stored_as="csv"),
        Modality("time-series", "measurements indexed by time", ("timeseries", "ts", "time-series-data"), 50,
                 sample=True, stored_as="csv"),
        Modality("images", "image files", ("image", "img", "photos", "pictures"), 200_000, sample=False,
                 media=True, extensions=("jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "heic", "avif")),
        Modality("video", "video files", ("videos", "movies", "clips"), 50_000_000, sample=False, media=True,
                 extensions=("mp4", "mov", "mkv", "avi", "webm", "m4v", "mpeg", "mpg")),
        Modality("audio", "audio files (speech, music, recordings)",
                 ("sound", "speech", "recordings", "podcasts", "music"), 5_000_000, sample=False, media=True,
                 extensions=("wav", "mp3", "flac", "ogg", "opus", "m4a", "aac")),
        Modality("text", "documents of free text", ("free-text", "freetext", "texts", "corpus"), 2_000,
                 sample=True, stored_as="jsonl", extensions=("txt", "md", "rst", "html", "htm")),
        Modality("embeddings", "dense numeric arrays: embeddings, feature vectors, tensors",
                 ("embedding", "arrays", "array", "vectors", "tensors"), 3_072, sample=False, stored_as="parquet"),
        Modality("nested", "nested documents: structs, lists, lists of structs",
                 ("documents", "document", "docs", "json", "nested-documents"), 1_000, sample=True,
                 stored_as="jsonl"),
    )
}
"""Modality name -> definition, in the order the advisor lists them."""

SAMPLE_KINDS: tuple[str, ...] = tuple(name for name, m in MODALITIES.items() if m.sample)
"""The modalities the harness generates samples of (``storeadvise sample KIND``)."""

MEDIA_SAMPLE_KINDS: dict[str, str] = {"images": "images", "video": "video", "audio": "audio", "documents": "text"}
"""The folders of media items the harness generates (``storeadvise sample images -o DIR``), each with
the modality of its items: a folder of documents holds items of free text."""
