"""Object storage as a location: a backend's folder in an S3-compatible bucket instead of on the disk.

``--location s3://bucket/prefix`` (the backend option ``location``) puts the file backends' part files,
the table formats' tables and Lance's dataset under ``prefix/storeadvise_<run id>/<backend>/`` in
``bucket``. The bucket's server is a service like
MongoDB's (``SERVICE``): ``--s3-endpoint URL`` / ``STOREADVISE_S3_ENDPOINT`` names yours, otherwise an
embedded S3 emulator (moto's server mode, in memory only) is started on a loopback port. Credentials
for your server come from the usual AWS environment variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``) or the AWS configuration files, read by the client
itself: storeadvise never takes them as options, and masks the secret ones in everything it prints or
saves. The embedded emulator accepts any credentials and gets a fixed pair of its own, so that your
AWS keys are never sent to it.

The client is pyarrow's filesystem layer (``pyarrow.fs.S3FileSystem``, the AWS C++ SDK): it is
already a dependency, every file format here reads and writes through its streams and files, and
``pyarrow.dataset`` pushes projections and row-group filters down to ranged GETs through it
(docs/decisions.md, 'Object storage: the pyarrow S3 filesystem'). A backend that wants the location
asks ``remote_folder(settings, name)``: the one place where a location becomes a filesystem and a
folder. The file backends read and write through that filesystem; the table formats and Lance are
handed the same folder as an ``s3://`` URL with their own clients' settings, made here too
(``RemoteFolder.storage_options`` for the Rust ``object_store`` clients of deltalake, Lance and polars,
``RemoteFolder.iceberg_properties`` for pyiceberg's FileIO). ``Located`` is what every backend with a
folder shares about where it is.

What a run creates is removed at its end: the run's folder, and the bucket when the run created it
(it did not exist) and it is empty again. Nothing else in your bucket is listed, read or written.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from storeadvise.backends.base import Durability
from storeadvise.backends.masking import mask_uri
from storeadvise.backends.services import Launch, Service
from storeadvise.errors import BackendUnavailable, UsageError

if TYPE_CHECKING:
    import pyarrow.fs as pafs

    from storeadvise.backends._s3requests import RequestLog
    from storeadvise.backends.base import BackendSettings
    from storeadvise.backends.services import ServiceStatus

LOCATION_OPTION = "location"
SCHEME = "s3://"
EMBEDDED_CREDENTIALS = ("storeadvise", "storeadvise-embedded-emulator")
"""What the embedded emulator is sent as credentials (it accepts any): never the user's AWS keys."""
CONNECT_TIMEOUT_S = 3.0
REQUEST_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 1.0
RECORDING_FILE = "requests.jsonl"
LOCATED_SUFFIX = "@s3"
"""``-b parquet,parquet@s3``: the backend with this suffix runs on object storage, the plain one locally."""
DEFAULT_LOCATION = "s3://storeadvise-scratch"
"""Where ``NAME@s3`` puts its data when the run gives no ``--location`` (a bucket the run creates and removes)."""
OBJECT_WRITE = Durability(
    True, "an object exists once the last request of its upload is answered; how durably is the object store's "
          "promise (AWS S3 stores it redundantly before answering), not checked here; --fsync changes nothing",
)
EMULATOR_WRITE = Durability(
    False, "the embedded S3 emulator keeps objects in its memory only: they are gone when it stops; "
           "--fsync changes nothing",
)


# -- where: s3://bucket/prefix -------------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectLocation:
    """A bucket and a key prefix (no leading or trailing slash; may be empty)."""

    bucket: str
    prefix: str = ""

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}".rstrip("/")

    def folder(self, *names: str) -> str:
        """The path of a folder under the prefix, as pyarrow's filesystem names it (``bucket/key``)."""
        return "/".join(part for part in (self.bucket, self.prefix, *names) if part)


def parse_location(text: str | None) -> ObjectLocation | None:
    """The object-storage location ``text`` names, or None for no location (the local scratch folder).
    A ``UsageError`` for any other form: a location is an ``s3://bucket/prefix`` URL."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if not text.lower().startswith(SCHEME):
        raise UsageError(f"--location {text!r}: give an object-storage URL such as s3://bucket/prefix "
                         "(local files go in --scratch-dir)")
    bucket, _, prefix = text[len(SCHEME):].partition("/")
    if not 3 <= len(bucket) <= 63 or not all(c.isalnum() or c in "-." for c in bucket) or bucket != bucket.lower():
        raise UsageError(f"--location {text!r}: {bucket!r} is not a bucket name (3-63 lower-case letters, "
                         "digits, '-' and '.')")
    return ObjectLocation(bucket, prefix.strip("/"))


def located_options(name: str, location: str | None) -> dict[str, str]:
    """The options that run the backend ``name`` on object storage (``NAME@s3``): at ``location`` (an
    ``s3://`` URL), or at ``DEFAULT_LOCATION`` (on the embedded server unless ``--s3-endpoint`` names
    yours). A ``UsageError`` for a backend that keeps its data elsewhere (a database file or server)."""
    from storeadvise.backends import backend_class

    options = {LOCATION_OPTION: location or DEFAULT_LOCATION}
    if backend_class(name).needs_service(options) is not SERVICE:
        raise UsageError(f"{name}{LOCATED_SUFFIX}: {name} does not keep its data in files, so it cannot be put "
                         "in object storage")
    return options


def location_service(options: Mapping[str, Any] | None) -> Service | None:
    """The service a location needs (the S3 server when ``options`` name an object-storage location)."""
    return SERVICE if parse_location((options or {}).get(LOCATION_OPTION)) is not None else None


# -- the service: moto's emulator embedded, or your S3-compatible server ---------------------------------
def _launch(scratch: Path, port: int) -> Launch:
    """moto's S3 server on ``port``; it keeps every object in its own memory (no data folder). Its request
    recorder, off until ``RequestLog`` turns it on, writes into the server's scratch folder."""
    return Launch([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], f"http://127.0.0.1:{port}",
                  env={"MOTO_RECORDER_FILEPATH": str(scratch / RECORDING_FILE)})


def _http_server(address: str) -> str | None:
    """The ``Server`` header of an unauthenticated GET of the endpoint, or None when nothing answers.
    Any HTTP answer (403 included: no credentials were sent) means a server is listening."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(address, timeout=PROBE_TIMEOUT_S) as response:
            return response.headers.get("Server") or ""
    except urllib.error.HTTPError as exc:
        return exc.headers.get("Server") or ""
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _answers(address: str) -> bool:
    return _http_server(address) is not None


def _version() -> str | None:
    from importlib.metadata import version

    return version("moto")


def _scratch_names(address: str, prefix: str) -> list[str]:
    """Every object or folder on the server with a path part that starts with ``prefix`` (a run's own
    live under ``<prefix>/`` in some bucket). It lists every bucket it may: for tests and checks of a
    server of your own set aside for them, with the AWS environment's credentials (else the emulator's)."""
    import pyarrow.fs as pafs

    fs = filesystem(address, embedded=not os.environ.get("AWS_ACCESS_KEY_ID"))
    found = []
    for bucket in fs.get_file_info(pafs.FileSelector("/")):
        for info in fs.get_file_info(pafs.FileSelector(bucket.path, recursive=True)):
            if any(part.startswith(prefix) for part in info.path.split("/")):
                found.append(info.path)
    return found


def _installed() -> bool:
    """moto with what its server mode needs (``moto[server]``: Flask and its CORS extension)."""
    return all(importlib.util.find_spec(name) is not None for name in ("moto", "flask", "flask_cors"))


SERVICE = Service(
    name="s3",
    product="S3-compatible object storage",
    embedded_product="moto (an S3 emulator, in memory)",
    address_option="s3_endpoint",
    metavar="URL",
    client="pyarrow",
    installed=_installed,
    launch=_launch,
    ready=_answers,
    version=_version,
    scratch_names=_scratch_names,
    install="pip install 'storeadvise[s3]'",
    secret_environment=("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
)


def region() -> str:
    """The AWS region requests are signed for: the environment's, else us-east-1 (what S3-compatible
    servers accept)."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def filesystem(endpoint: str, *, embedded: bool, attempts: int = 3) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem for ``endpoint``: path-style requests (what S3-compatible servers
    answer), http or https as the URL says, credentials from the AWS environment (the embedded
    emulator's own pair for it), bounded connect and request timeouts."""
    import pyarrow.fs as pafs

    scheme, _, host = endpoint.partition("://")
    if not host:
        scheme, host = "https", endpoint
    keys = dict(zip(("access_key", "secret_key"), EMBEDDED_CREDENTIALS, strict=True)) if embedded else {}
    return pafs.S3FileSystem(
        endpoint_override=host.rstrip("/"), scheme=scheme, force_virtual_addressing=False,
        connect_timeout=CONNECT_TIMEOUT_S, request_timeout=REQUEST_TIMEOUT_S,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=attempts),
        allow_bucket_creation=True, allow_bucket_deletion=True, **keys,
    )


# -- a backend's folder in the bucket ------------------------------------------------------------------
@dataclass
class RemoteFolder:
    """One backend's folder on object storage: the filesystem, the location, the folder's path in it
    (``bucket/prefix/storeadvise_<run id>/<backend>``) and whether this run created the bucket."""

    status: ServiceStatus | None
    where: ObjectLocation
    path: str
    fs: Any = None
    created_bucket: bool = False
    _deleter: Any = field(default=None, repr=False)
    _server: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return SCHEME + self.path

    def connect(self) -> None:
        """Make the filesystem and check the server answers and the bucket can be had (created when it
        does not exist); ``BackendUnavailable`` with the reason within seconds otherwise."""
        import pyarrow.fs as pafs

        if self.status is None or self.status.unavailable or not self.status.address:
            raise BackendUnavailable(self.status.unavailable if self.status and self.status.unavailable
                                     else f"{self.where.url} needs an S3 endpoint: {SERVICE.no_address}")
        endpoint = self.status.address
        self._server = _http_server(endpoint)
        if self._server is None:
            raise BackendUnavailable(f"cannot reach the S3 endpoint {mask_uri(endpoint)}")
        self.fs = filesystem(endpoint, embedded=self.status.embedded)
        try:
            if self.fs.get_file_info(self.where.bucket).type == pafs.FileType.NotFound:
                self.fs.create_dir(self.where.bucket)
                self.created_bucket = True
        except OSError as exc:
            raise BackendUnavailable(f"cannot use {self.where.url} at {mask_uri(endpoint)} ({exc})") from None

    def file(self, name: str) -> str:
        return f"{self.path}/{name}"

    def names(self, start: str = "") -> list[str]:
        """The file names directly in the folder that start with ``start``, sorted."""
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.File and i.base_name.startswith(start))

    def sizes(self, start: str = "") -> int:
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        return sum(i.size for i in infos if i.type == pafs.FileType.File and i.base_name.startswith(start))

    def exists(self, name: str) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(self.file(name)).type == pafs.FileType.File

    def write_bytes(self, name: str, data: bytes) -> None:
        with self.fs.open_output_stream(self.file(name)) as out:
            out.write(data)

    def read_bytes(self, name: str) -> bytes:
        with self.fs.open_input_stream(self.file(name)) as source:
            return source.read()

    def listing(self, under: str = "") -> list[Any]:
        """Every object below the folder (or its sub-folder ``under``), recursively, as pyarrow ``FileInfo``s."""
        import pyarrow.fs as pafs

        base = f"{self.path}/{under}".rstrip("/")
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        return [i for i in infos if i.type == pafs.FileType.File]

    def total_bytes(self, under: str = "") -> int:
        """The bytes of every object below the folder (or ``under``), as the object store lists them."""
        return sum(i.size for i in self.listing(under))

    def uri(self, under: str = "") -> str:
        """The folder (or its sub-folder ``under``) as an ``s3://bucket/key`` URL, what other clients open."""
        return f"{self.url}/{under}".rstrip("/")

    def credentials(self) -> dict[str, str]:
        """The access key pair (and session token) to hand a client that takes them as settings: the
        emulator's own pair, or what the AWS environment gives; empty when the environment gives none
        (the client then looks in the AWS configuration files itself). Never printed or saved."""
        if self.embedded:
            return dict(zip(("access_key_id", "secret_access_key"), EMBEDDED_CREDENTIALS, strict=True))
        names = {"access_key_id": "AWS_ACCESS_KEY_ID", "secret_access_key": "AWS_SECRET_ACCESS_KEY",
                 "session_token": "AWS_SESSION_TOKEN"}
        return {key: os.environ[env] for key, env in names.items() if os.environ.get(env)}

    def storage_options(self) -> dict[str, str]:
        """Settings of the Rust ``object_store`` S3 client (deltalake, Lance, polars): the endpoint with
        path-style requests, plain http when the endpoint says so, the region, the credentials, and
        conditional puts (``If-None-Match``) for delta-rs's atomic commits without a lock service."""
        assert self.status is not None and self.status.address
        endpoint = self.status.address.rstrip("/")
        options = {
            "aws_endpoint": endpoint, "aws_region": region(), "aws_virtual_hosted_style_request": "false",
            "allow_http": str(endpoint.startswith("http://")).lower(), "conditional_put": "etag",
            "connect_timeout": f"{CONNECT_TIMEOUT_S:g}s", "timeout": f"{REQUEST_TIMEOUT_S:g}s",
        }
        return options | {f"aws_{key}": value for key, value in self.credentials().items()}

    def iceberg_properties(self) -> dict[str, str]:
        """pyiceberg's FileIO settings: its pyarrow FileIO (the same C++ S3 client as the file backends)
        with the endpoint, region and credentials."""
        assert self.status is not None and self.status.address
        properties = {"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO", "s3.endpoint": self.status.address,
                      "s3.region": region(), "s3.force-virtual-addressing": "false",
                      "s3.connect-timeout": f"{CONNECT_TIMEOUT_S:g}", "s3.request-timeout": f"{REQUEST_TIMEOUT_S:g}"}
        return properties | {f"s3.{key.replace('_', '-')}": value for key, value in self.credentials().items()}

    def _client(self) -> Any:
        """boto3's S3 client, which deletes: pyarrow's filesystem puts an empty marker object in the parent
        "folder" of whatever it deletes (in your bucket, where there was none), boto3 deletes only the keys."""
        if self._deleter is None:
            import boto3
            from botocore.config import Config

            assert self.status is not None and self.status.address
            keys = dict(zip(("aws_access_key_id", "aws_secret_access_key"), EMBEDDED_CREDENTIALS, strict=True))
            self._deleter = boto3.client(
                "s3", endpoint_url=self.status.address, region_name=region(),
                config=Config(connect_timeout=CONNECT_TIMEOUT_S, retries={"max_attempts": 2},
                              s3={"addressing_style": "path"}),
                **(keys if self.embedded else {}),
            )
        return self._deleter

    def _delete_under(self, key_prefix: str) -> None:
        client = self._client()
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.where.bucket, Prefix=key_prefix)
        try:
            for page in pages:
                objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if objects:
                    client.delete_objects(Bucket=self.where.bucket, Delete={"Objects": objects, "Quiet": True})
        except client.exceptions.NoSuchBucket:  # removed already (a second clean-up): nothing of ours is left
            pass

    def clear(self) -> None:
        """Delete every object of the folder (and only those)."""
        if self.fs is not None:
            self._delete_under(self.path.partition("/")[2] + "/")

    def remove(self) -> None:
        """Delete the folder's objects, and the bucket if this run created it and it is empty again."""
        if self.fs is None:
            return
        try:
            self.clear()
            client = self._client()
            if self.created_bucket and not client.list_objects_v2(Bucket=self.where.bucket, MaxKeys=1).get("Contents"):
                client.delete_bucket(Bucket=self.where.bucket)
                self.created_bucket = False
        except Exception:  # botocore's errors: a server gone away leaves nothing of ours to delete
            pass

    def left_behind(self, run_prefix: str) -> list[str]:
        """The objects under the location whose key starts with the run's prefix (for tests and checks)."""
        import pyarrow.fs as pafs

        if self.fs.get_file_info(self.where.bucket).type == pafs.FileType.NotFound:
            return []
        base = self.where.folder()
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        start = self.where.folder(run_prefix)
        return [i.path for i in infos if i.path.startswith(start)]

    @property
    def embedded(self) -> bool:
        return bool(self.status and self.status.embedded)

    def request_log(self) -> RequestLog | None:
        """A counter of the requests the server answers, on the embedded server (its own recorder); None
        on yours, which exposes no such count to a client."""
        from storeadvise.backends._s3requests import RequestLog

        return RequestLog(self) if self.embedded and self.status and self.status.address else None

    def durability(self) -> Durability:
        """What a write guarantees once the upload's last request is answered (``--fsync`` changes nothing:
        there is no file to sync; the server decides)."""
        return EMULATOR_WRITE if self.embedded else OBJECT_WRITE

    def server_info(self, client: str = "pyarrow.fs.S3FileSystem") -> dict[str, Any]:
        """Which server answered (the embedded emulator, or the ``Server`` header of yours) and which
        client asked it."""
        embedded = self.embedded
        assert self.status is not None
        return {
            "product": SERVICE.embedded_product if embedded else (self._server or SERVICE.product),
            "version": self.status.version if embedded else None,
            "protocol": "S3 API",
            "embedded": embedded,
            "address": mask_uri(self.status.address or ""),
            "location": self.url,
            "client": client,
        }


def remote_folder(settings: BackendSettings, name: str) -> RemoteFolder | None:
    """The backend ``name``'s folder on object storage when the run's options give a location, else None
    (cheap: ``RemoteFolder.connect`` talks to the server). ``settings.service`` is the S3 service's
    status, which the runner resolves for a backend that needs it (``location_service``)."""
    where = parse_location(settings.options.get(LOCATION_OPTION))
    if where is None:
        return None
    status = settings.service if settings.service is not None and settings.service.service is SERVICE else None
    return RemoteFolder(status, where, where.folder(settings.scratch_name, name))


class Located:
    """What a backend whose folder may be on object storage shares (a mixin before ``Backend``): the
    folder there (``self.remote``, None for the local scratch folder), the S3 service it then needs,
    connecting at ``open``, and the server and durability it reports."""

    remote: RemoteFolder | None = None
    object_client: ClassVar[str] = "pyarrow.fs.S3FileSystem"
    """The S3 client the backend's library talks through, for reports."""

    def locate(self, settings: BackendSettings, name: str) -> None:
        """Find the backend's folder on object storage when the run gives a location."""
        self.remote = remote_folder(settings, name)
        if self.remote is not None:
            self.service = SERVICE  # its status, cache state and clean-up checks go by the bucket's server

    @classmethod
    def needs_service(cls, options: Mapping[str, Any] | None) -> Service | None:
        return location_service(options)

    def open(self) -> None:
        if self.remote is not None:
            self.remote.connect()

    def server_info(self) -> dict[str, Any] | None:
        return self.remote.server_info(self.object_client) if self.remote is not None else None

    def durability(self) -> Durability:
        return self.remote.durability() if self.remote is not None else super().durability()  # type: ignore[misc]

    def request_log(self) -> RequestLog | str | None:
        from storeadvise.backends._s3requests import TRAFFIC_NOT_EXPOSED

        if self.remote is None:
            return None
        return self.remote.request_log() or TRAFFIC_NOT_EXPOSED
