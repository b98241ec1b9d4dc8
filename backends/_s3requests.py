"""Requests and bytes an operation makes on object storage, counted where they arrive: the embedded S3
server's own request recorder (moto's ``/moto-api/recorder/``). The clients in play keep no counts that
Python can read (pyarrow's C++ S3 client; the Rust ``object_store`` of deltalake, Lance and polars), so
on your own server the counts are "not exposed" (docs/decisions.md, 'Object storage: requests and bytes
counted by the embedded S3 server')."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from storeadvise.backends._objectstore import REQUEST_TIMEOUT_S

if TYPE_CHECKING:
    from storeadvise.backends._objectstore import RemoteFolder

RECORDER = "/moto-api/recorder/"
TRAFFIC_SOURCE = "the embedded S3 server's own request log (moto's recorder), one untimed run"
TRAFFIC_NOT_EXPOSED = ("not exposed: your S3 server does not report a client's requests, and pyarrow's, "
                       "delta-rs's and Lance's S3 clients keep no counts")


class RequestLog:
    """The requests the embedded S3 server answered while the block ran, from its own request recorder
    (moto's ``/moto-api/recorder/``: every request it receives, with its headers and body, appended to a
    file): how many, by HTTP method, the bytes uploaded (request bodies: ``x-amz-decoded-content-length``
    for a chunked upload, else ``Content-Length``) and the object bytes downloaded (a GET's ``Range``,
    or the object's size for a whole-object GET; listings' and errors' response bodies are not counted).
    Recording slows the server (it writes every body to its log), so it runs only around an untimed call."""

    def __init__(self, folder: RemoteFolder) -> None:
        assert folder.status is not None and folder.status.address
        self.folder = folder
        self.address = folder.status.address.rstrip("/")
        self.requests = self.sent = self.received = 0
        self.by_method: dict[str, int] = {}

    def _call(self, action: str, method: str = "POST") -> bytes:
        import urllib.request

        request = urllib.request.Request(self.address + RECORDER + action, method=method)
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.read()

    def __enter__(self) -> RequestLog:
        self._call("reset-recording")
        self._call("start-recording")
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        self._call("stop-recording")
        if kind is None:
            self.tally(self._call("download-recording", "GET").splitlines())

    def tally(self, lines: list[bytes]) -> None:
        whole: list[str] = []
        for entry in recorded(lines):
            method, headers = entry["method"], {k.lower(): v for k, v in entry["headers"].items()}
            self.requests += 1
            self.by_method[method] = self.by_method.get(method, 0) + 1
            if method in ("PUT", "POST"):
                self.sent += int(headers.get("x-amz-decoded-content-length") or headers.get("content-length") or 0)
            elif method == "GET" and "range" in headers:
                self.received += _range_bytes(headers["range"])
            elif method == "GET":
                whole.append(entry["url"])
        self.received += sum(self._object_size(url) for url in whole)

    def _object_size(self, url: str) -> int:
        """The size of the object a whole-object GET asked for (0 for a bucket listing or a missing object)."""
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(url)
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        if not key or "list-type" in parts.query:
            return 0
        try:
            return int(self.folder._client().head_object(Bucket=bucket, Key=key)["ContentLength"])
        except Exception:  # botocore's errors: an object deleted since (or a GET that was refused)
            return 0

    def record(self) -> dict[str, Any]:
        """The counts, as a measurement keeps them."""
        return {"requests": self.requests, "bytes_sent": self.sent, "bytes_received": self.received,
                "by_method": dict(sorted(self.by_method.items())), "source": TRAFFIC_SOURCE}


def recorded(lines: list[bytes]) -> Iterator[dict[str, Any]]:
    """The requests in the recorder's lines. It writes a request and then its line break in two writes, so
    requests answered at once (concurrent uploads of large bodies) can share a line: each line is read as
    the JSON objects it holds, one after the other."""
    import json

    decoder = json.JSONDecoder()
    for line in lines:
        text, at = line.decode(), 0
        while at < len(text):
            entry, at = decoder.raw_decode(text, at)
            yield entry


def _range_bytes(header: str) -> int:
    """The bytes a ``Range: bytes=a-b`` header asks for (0 for forms this does not read)."""
    first, _, last = header.partition("=")[2].partition(",")[0].partition("-")
    if first.strip().isdigit() and last.strip().isdigit():
        return int(last) - int(first) + 1
    return 0
