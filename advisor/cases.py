"""Ten realistic cases and the answer a senior data engineer gives: the advisor's acceptance test.

Written down before the rules were reworked (issue 12), with the inputs a user would type. The tests
check the advisor against them and the README shows them as a table (``advisor/grid.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Case:
    """One situation and the engineer's answer to it."""

    name: str
    situation: str
    inputs: dict[str, Any]  # keyword arguments of ``storeadvise.recommend``
    first: str
    runner_up: str
    reason: str  # why the first choice wins, in one sentence


CASES: tuple[Case, ...] = (
    Case("csv-exploration-40gb", "An analyst explores 40 GB of CSV exports on a 16 GB laptop",
         {"modality": "tabular", "purpose": "exploration", "size": "40GB", "memory": "16GB", "readers": "1"},
         "parquet", "duckdb",
         "Loaded by pandas it would need several times the RAM: convert once to Parquet and read only the "
         "columns you need; DuckDB queries it out of core."),
    Case("features-one-service", "Features of 2M customers (800 MB) served to one service on one node, 5 ms",
         {"modality": "tabular", "purpose": "online", "size": "800MB", "latency": "5ms", "readers": "1",
          "memory": "64GB", "writers": "1"},
         "sqlite", "redis",
         "An indexed lookup in process answers in microseconds with no server; Redis when replicas multiply."),
    Case("features-many-replicas", "20 replicas on several nodes read features (5 GB) at 10 ms; 4 jobs write",
         {"modality": "tabular", "purpose": "online", "size": "5GB", "latency": "10ms", "readers": "20",
          "memory": "64GB", "writers": "4"},
         "redis", "postgres",
         "Many processes on several machines need a low-latency key-value server over the network."),
    Case("orders-many-writers", "An orders table (50 GB) updated in place by 30 processes, read online",
         {"modality": "tabular", "purpose": "online", "size": "50GB", "memory": "64GB", "readers": "many",
          "writers": "30", "update": "in-place"},
         "postgres", "mongo",
         "Many concurrent writers updating relational rows need a client-server SQL database with row locks."),
    Case("imagenet-training", "1.2M JPEG images of 110 kB for training on one GPU node",
         {"modality": "images", "purpose": "training", "items": "1.2M", "item_size": "110kB"},
         "webdataset", "lance",
         "Millions of small files make epochs seek-bound: sequential tar shards stream at disk speed."),
    Case("thumbnails-online", "200k product thumbnails of 15 kB served by one web service on one node",
         {"modality": "images", "purpose": "online", "items": "200k", "item_size": "15kB", "readers": "1"},
         "sqlite", "lmdb",
         "SQLite reads blobs around 10 kB faster than separate files, in process, by key."),
    Case("podcast-audio-sharing", "50k podcast episodes of 30 MB shared with a research team",
         {"modality": "audio", "purpose": "sharing", "items": "50k", "item_size": "30MB", "readers": "team"},
         "objectstore", "files_index",
         "Large encoded audio files are shared as they are, from a bucket, with a manifest of paths and labels."),
    Case("sensor-lake", "2 TB of sensor time series, appended nightly by 4 jobs, read by a team",
         {"modality": "time-series", "purpose": "batch", "size": "2TB", "update": "append", "memory": "64GB",
          "readers": "team", "writers": "4"},
         "delta", "iceberg",
         "Several jobs writing the same partitioned Parquet dataset need atomic commits: a table format."),
    Case("documents-online", "5 GB of nested order documents, read and updated in place by 3 services",
         {"modality": "nested", "purpose": "online", "size": "5GB", "memory": "64GB", "readers": "3", "writers": "3",
          "update": "in-place"},
         "mongo", "postgres",
         "Documents fetched and updated whole by id from several services are a document database's home "
         "ground; PostgreSQL's JSONB is the relational alternative."),
    Case("text-pretraining", "200 GB of text for language-model training on one node",
         {"modality": "text", "purpose": "training", "size": "200GB", "memory": "64GB"},
         "parquet", "arrow",
         "Compressed columnar shards stream the text column for every epoch; Arrow memory-maps it uncompressed."),
)
