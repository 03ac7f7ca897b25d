"""The lake in a Google Cloud Storage bucket: the production backend of `LakeResource`.

Same keys as the local lake, under `gs://<bucket>/<prefix>/`. Every write is conditional on
the generation the writer saw (a new object must not exist yet, an overwrite must replace the
object that was read), so two runs cannot silently clobber each other; every upload is
checked against the staged file's checksums before it counts as landed; the previous bytes of
an overwritten object are kept under `_versions/<key>/<sha256>` by a server-side copy, as the
local lake does.

Credentials: a service-account key file when one is configured, else Application Default
Credentials (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`, or the
workload identity of the machine). With STORAGE_EMULATOR_HOST set, google-cloud-storage talks
to that emulator with anonymous credentials and the key file is not used.
"""

import base64
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import google_crc32c
from dagster_gcp import GCSResource
from google.api_core import exceptions as gcs_errors
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption
from pydantic import Field, PrivateAttr

from toast_assets.landing.lake import LakePathError, LakeResource, check_key, remove_stale_staged

SHA256_METADATA = "sha256"
# GCS takes resumable uploads in pieces that are multiples of 256 KiB.
RESUMABLE_CHUNK_UNIT = 256 * 1024
# google-cloud-storage's own cut-off: it never sends more than this in one multipart request.
LIBRARY_MULTIPART_LIMIT = 8 * 1024 * 1024
_READ_BLOCK = 1 << 20


class LakeConflictError(RuntimeError):
    """Another writer changed a lake object between our read and our write."""


class LakeChecksumError(RuntimeError):
    """The bytes the lake holds after an upload are not the bytes that were staged."""


class LakeCredentialsError(RuntimeError):
    """No Google credentials could be found for the lake bucket."""


class GcsClientResource(GCSResource):
    """dagster-gcp's GCS client, optionally authenticated by a service-account key file."""

    service_account_key_path: str | None = Field(
        default=None,
        description="JSON key of a service account (TOAST_GCP_KEYFILE); unset: Application Default Credentials.",
    )

    def get_client(self) -> storage.Client:
        # The emulator check comes first: an emulator accepts no real credentials, and a key
        # file in the environment must not send a test's traffic to Google.
        if self.service_account_key_path and not os.environ.get("STORAGE_EMULATOR_HOST"):
            # Without a configured project, the key file's own project_id applies.
            project = {"project": self.project} if self.project else {}
            return storage.Client.from_service_account_json(self.service_account_key_path, **project)
        return super().get_client()


@dataclass(frozen=True)
class _Digests:
    size: int
    sha256: str  # hex, as in the manifests
    md5: str  # base64, as GCS reports md5Hash
    crc32c: str  # base64, as GCS reports crc32c


class GcsLakeResource(LakeResource):
    """A lake in a GCS bucket. Overwritten objects keep their old bytes under `_versions/`."""

    bucket: str = Field(description="Lake bucket name, without gs://.")
    prefix: str = Field(default="", description="Folder inside the bucket that holds the lake (may be empty).")
    gcs: GcsClientResource = Field(description="The GCS client: project and credentials.")
    resumable_threshold_bytes: int = Field(
        default=LIBRARY_MULTIPART_LIMIT,
        description="Files larger than this are sent as resumable uploads in chunks (at most 8 MiB takes effect).",
    )
    chunk_size_bytes: int = Field(
        default=8 * 1024 * 1024, description="Resumable upload chunk size, a multiple of 256 KiB."
    )
    list_page_size: int = Field(default=1000, description="Objects per page when listing the lake.")
    local_dir: str | None = Field(
        default=None, description="Local folder for staged uploads and downloads for the raw load; unset: the system temp folder."
    )

    _client: storage.Client | None = PrivateAttr(default=None)

    # -- the LakeResource interface -------------------------------------------------------

    @contextmanager
    def staging_file(self) -> Iterator[Path]:
        # Staged on local disk: the upload reads it twice (checksums, then the upload itself).
        folder = self._local_dir()
        remove_stale_staged(folder or tempfile.gettempdir(), "toast-lake-*.part")
        handle, name = tempfile.mkstemp(prefix="toast-lake-", suffix=".part", dir=folder)
        os.close(handle)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def commit(self, staged: Path, key: str, sha256: str) -> None:
        name = self._name(key)
        digests = _file_digests(staged)
        if digests.sha256 != sha256:
            raise LakeChecksumError(
                f"staged file for {self._url(key)} has sha256 {digests.sha256}, but landing computed {sha256} while "
                "downloading it: the local copy changed before upload; re-run the business date"
            )
        bucket = self._bucket()
        current = bucket.get_blob(name)
        version_name = None
        if current is not None:
            if (current.metadata or {}).get(SHA256_METADATA) == sha256 and current.size == digests.size:
                return  # the lake already holds exactly these bytes
            version_name = self._keep_version(current, key)

        blob = bucket.blob(name, chunk_size=self.chunk_size_bytes)
        blob.metadata = {SHA256_METADATA: sha256}
        resumable = digests.size > self.resumable_threshold_bytes
        try:
            with self._open_upload(staged) as handle:
                blob.upload_from_file(
                    handle,
                    # Without a size google-cloud-storage streams a resumable upload in chunk_size
                    # pieces, so a dropped connection resends one chunk, not the whole file.
                    size=None if resumable else digests.size,
                    content_type=_content_type(key),
                    if_generation_match=current.generation if current is not None else 0,
                    checksum="crc32c",
                )
        except gcs_errors.PreconditionFailed as exc:
            raise LakeConflictError(
                f"{self._url(key)} was written by someone else while this run landed it; nothing was overwritten. "
                "Check that no other run lands the same business date, then re-run it"
            ) from exc
        except DataCorruption as exc:
            # The library's own check of a resumable upload; it has already deleted the object.
            undone = self._undo(blob.name, None, version_name)
            raise LakeChecksumError(f"{self._url(key)} was corrupted in transit; {undone}. Re-run the business date") from exc
        self._verify(blob, digests, key, restore_from=version_name)

    def put_bytes(self, key: str, payload: bytes) -> None:
        name = self._name(key)
        bucket = self._bucket()
        current = bucket.get_blob(name)
        digests = _bytes_digests(payload)
        blob = bucket.blob(name)
        blob.metadata = {SHA256_METADATA: digests.sha256}
        try:
            blob.upload_from_string(
                payload,
                content_type=_content_type(key),
                if_generation_match=current.generation if current is not None else 0,
                checksum="crc32c",
            )
        except gcs_errors.PreconditionFailed as exc:
            raise LakeConflictError(
                f"{self._url(key)} was written by someone else at the same time; re-run the business date"
            ) from exc
        self._verify(blob, digests, key, restore_from=None)

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._bucket().blob(self._name(key)).download_as_bytes(checksum="crc32c")
        except gcs_errors.NotFound:
            return None

    def list_keys(self, prefix: str) -> list[str]:
        root = self._root()
        folder = prefix.rstrip("/")
        search = f"{self._name(folder)}/" if folder else root
        keys = []
        for blob in self._storage().list_blobs(self.bucket, prefix=search, page_size=self.list_page_size):
            key = blob.name[len(root) :]
            # Folder placeholders (made by the console) and hidden names are not lake objects.
            if key and not key.endswith("/") and not key.rsplit("/", 1)[-1].startswith("."):
                keys.append(key)
        return sorted(keys)

    def sha256(self, key: str) -> str | None:
        blob = self._bucket().get_blob(self._name(key))
        if blob is None:
            return None
        return (blob.metadata or {}).get(SHA256_METADATA) or self._download_sha256(blob)

    @contextmanager
    def local_paths(self, keys: list[str]) -> Iterator[dict[str, str]]:
        # A day old: a load killed before it could remove its folder (the files are in the lake).
        local_dir = self._local_dir()
        remove_stale_staged(local_dir or tempfile.gettempdir(), "toast-lake-*", folders=True)
        with tempfile.TemporaryDirectory(prefix="toast-lake-", dir=local_dir) as folder:
            paths: dict[str, str] = {}
            for key in keys:
                target = Path(folder, *check_key(key).split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self._bucket().blob(self._name(key)).download_to_filename(str(target), checksum="crc32c")
                except gcs_errors.NotFound as exc:
                    raise FileNotFoundError(
                        f"lake object {self._url(key)} is listed in a manifest but missing from the bucket; "
                        "re-land its business date"
                    ) from exc
                paths[key] = str(target)
            yield paths

    def describe(self) -> str:
        return f"gs://{self.bucket}/{self.prefix.strip('/')}".rstrip("/")

    # -- hooks and helpers -----------------------------------------------------------------

    @contextmanager
    def _open_upload(self, staged: Path) -> Iterator[BinaryIO]:
        """The stream an upload sends: the staged file (tests replace it to inject faults)."""
        with staged.open("rb") as handle:
            yield handle

    def _local_dir(self) -> str | None:
        if self.local_dir:
            Path(self.local_dir).mkdir(parents=True, exist_ok=True)
        return self.local_dir

    def _storage(self) -> storage.Client:
        if self._client is None:
            if self.chunk_size_bytes <= 0 or self.chunk_size_bytes % RESUMABLE_CHUNK_UNIT:
                raise ValueError(f"chunk_size_bytes={self.chunk_size_bytes} must be a positive multiple of 256 KiB")
            try:
                self._client = self.gcs.get_client()
            except DefaultCredentialsError as exc:
                raise LakeCredentialsError(
                    f"no Google credentials for the lake {self.describe()}: set TOAST_GCP_KEYFILE to a service-account "
                    "key file, or GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`"
                ) from exc
        return self._client

    def _bucket(self) -> storage.Bucket:
        return self._storage().bucket(self.bucket)

    def _root(self) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/" if prefix else ""

    def _name(self, key: str) -> str:
        name = f"{self._root()}{check_key(key)}"
        # GCS's own object name rules, beyond what every lake refuses.
        if len(name.encode("utf-8")) > 1024 or "\r" in name or "\n" in name:
            raise LakePathError(f"lake key {key!r} is not a valid GCS object name (at most 1024 bytes, no line breaks)")
        return name

    def _url(self, key: str) -> str:
        return f"gs://{self.bucket}/{self._root()}{key}"

    def _keep_version(self, current: storage.Blob, key: str) -> str:
        """Server-side copy of the object as it is now to `_versions/<key>/<sha256>`."""
        old_sha256 = (current.metadata or {}).get(SHA256_METADATA) or self._download_sha256(current)
        version_name = self._name(f"_versions/{key}/{old_sha256}")
        bucket = self._bucket()
        try:
            bucket.copy_blob(current, bucket, version_name, source_generation=current.generation, if_generation_match=0)
        except gcs_errors.PreconditionFailed:
            pass  # these very bytes are already kept: the name is their checksum
        except gcs_errors.NotFound as exc:
            raise LakeConflictError(
                f"{self._url(key)} changed while this run was keeping its previous version; re-run the business date"
            ) from exc
        return version_name

    def _verify(self, blob: storage.Blob, expected: _Digests, key: str, restore_from: str | None) -> None:
        """Compare what GCS stored with the local bytes; undo the write when they differ."""
        problems = []
        if blob.size != expected.size:
            problems.append(f"size {blob.size} != {expected.size}")
        if blob.crc32c != expected.crc32c:
            problems.append(f"crc32c {blob.crc32c} != {expected.crc32c}")
        # Composite objects have no MD5; a plain upload always does.
        if blob.md5_hash is not None and blob.md5_hash != expected.md5:
            problems.append(f"md5 {blob.md5_hash} != {expected.md5}")
        if not problems:
            return
        undone = self._undo(blob.name, blob.generation, restore_from)
        raise LakeChecksumError(
            f"{self._url(key)} as stored does not match the staged file ({'; '.join(problems)}); {undone}. "
            "Re-run the business date; if it happens again, check the network path to GCS"
        )

    def _undo(self, name: str, generation: int | None, restore_from: str | None) -> str:
        """Put back the previous version of a bad upload (or remove it); only our own write is touched."""
        bucket = self._bucket()
        if restore_from is not None:
            bucket.copy_blob(bucket.blob(restore_from), bucket, name, if_generation_match=generation or 0)
            return "the previous version was put back"
        if generation is not None:
            bucket.delete_blob(name, if_generation_match=generation)
        return "the object was removed"

    def _download_sha256(self, blob: storage.Blob) -> str:
        sink = _HashSink()
        blob.download_to_file(sink, checksum="crc32c")
        return sink.digest.hexdigest()


class _HashSink:
    """A write-only file object that only hashes, so checking a big object needs no disk."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)


def _file_digests(path: Path) -> _Digests:
    sha256, md5, crc32c, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), google_crc32c.Checksum(), 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_READ_BLOCK), b""):
            sha256.update(block)
            md5.update(block)
            crc32c.update(block)
            size += len(block)
    return _Digests(size, sha256.hexdigest(), _b64(md5.digest()), _b64(crc32c.digest()))


def _bytes_digests(payload: bytes) -> _Digests:
    return _Digests(
        len(payload),
        hashlib.sha256(payload).hexdigest(),
        _b64(hashlib.md5(payload, usedforsecurity=False).digest()),
        _b64(google_crc32c.Checksum(payload).digest()),
    )


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _content_type(key: str) -> str:
    if key.endswith(".csv"):
        return "text/csv"
    if key.endswith(".json"):
        return "application/json"
    return "application/octet-stream"
