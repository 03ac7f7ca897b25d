"""The lake: where every Toast file is kept byte-for-byte, whatever the warehouse does later.

`LakeResource` is the interface the assets use; `LocalLakeResource` keeps the lake in a
folder (the embedded default). Only this module knows where the bytes physically live.
"""

import functools
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg


class LakePathError(ValueError):
    """A lake key that would leave the lake root (crafted folder or file names)."""


def check_key(key: str) -> str:
    """The key itself when it is a plain relative object key; every lake backend applies this."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise LakePathError(f"lake key {key!r} is not a relative object key")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise LakePathError(f"lake key {key!r} contains an empty, '.' or '..' component")
    return key


# A staged download (`*.part`) is written to until it is committed or removed; one a killed
# landing left behind stops changing. Removed once it has not changed for this long.
STALE_STAGED_SECONDS = 24 * 3600
_STAGING_PRUNE_INTERVAL_SECONDS = 3600.0  # a folder is looked through at most this often per process
_last_pruned: dict[tuple[str, str], float] = {}


def remove_stale_staged(
    folder: str | Path, pattern: str = "*.part", older_than: float = STALE_STAGED_SECONDS, folders: bool = False
) -> None:
    """Remove the files (with `folders`, the folders and what they hold) matching `pattern` in
    `folder` not modified for `older_than` seconds.

    A landing removes its staged file when the download is committed or fails; a landing
    process that is killed (a deploy, the out-of-memory killer) cannot, and each one left a
    partial download in the staging folder for good. Called when a landing stages a file, and
    at most once an hour per folder, so a night's thousands of files do not each list it. The
    same holds for the folders a raw load downloads a lake's files into: removed when the load
    ends, left behind when its process is killed.
    """
    key = (str(folder), pattern)
    now = time.time()
    if now - _last_pruned.get(key, float("-inf")) < _STAGING_PRUNE_INTERVAL_SECONDS:
        return
    _last_pruned[key] = now
    for path in Path(folder).glob(pattern):
        try:
            if path.is_symlink() or path.stat().st_mtime >= now - older_than:
                continue
            if folders and path.is_dir():
                shutil.rmtree(path)
            elif not folders and path.is_file():
                path.unlink()
        except OSError:
            continue  # removed meanwhile, or not ours to remove: leave it


class LakeResource(dg.ConfigurableResource):
    """Object storage for landed files and their manifests, addressed by relative keys."""

    @contextmanager
    def staging_file(self) -> Iterator[Path]:
        """A scratch file to download into before `commit` makes it visible under a key."""
        raise NotImplementedError

    def commit(self, staged: Path, key: str, sha256: str) -> None:
        """Atomically publish a staged file under `key`, keeping the previous version."""
        raise NotImplementedError

    def put_bytes(self, key: str, payload: bytes) -> None:
        raise NotImplementedError

    def get_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        raise NotImplementedError

    def list_keys(self, prefix: str) -> list[str]:
        raise NotImplementedError

    def sha256(self, key: str) -> str | None:
        """Checksum of the object as stored now, or None when it is missing."""
        raise NotImplementedError

    @contextmanager
    def local_paths(self, keys: list[str]) -> Iterator[dict[str, str]]:
        """Local file paths a CSV reader can open for these keys (downloaded when remote)."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class LocalLakeResource(LakeResource):
    """A lake in a local folder. Overwritten objects keep their old bytes under `_versions/`."""

    root: str

    def _path(self, key: str) -> Path:
        root = _resolved(self.root, os.getcwd())
        path = (root / check_key(key)).resolve()
        if root != path and root not in path.parents:
            raise LakePathError(f"lake key {key!r} resolves outside the lake root {root}")
        return path

    @contextmanager
    def staging_file(self) -> Iterator[Path]:
        staging = Path(self.root) / "_staging"
        staging.mkdir(parents=True, exist_ok=True)
        remove_stale_staged(staging)
        # Same filesystem as the lake, so the final rename is atomic.
        handle, name = tempfile.mkstemp(dir=staging, suffix=".part")
        os.close(handle)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def commit(self, staged: Path, key: str, sha256: str) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            # Lake versioning: a corrected re-delivery must not erase what arrived before.
            previous = self._path(f"_versions/{key}/{_file_sha256(target)}")
            if not previous.exists():
                previous.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(target, previous)
        os.replace(staged, target)

    def put_bytes(self, key: str, payload: bytes) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        partial.write_bytes(payload)
        os.replace(partial, target)

    def get_bytes(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    def list_keys(self, prefix: str) -> list[str]:
        root = _resolved(self.root, os.getcwd())
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else root
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def sha256(self, key: str) -> str | None:
        path = self._path(key)
        return _file_sha256(path) if path.is_file() else None

    @contextmanager
    def local_paths(self, keys: list[str]) -> Iterator[dict[str, str]]:
        yield {key: str(self._path(key)) for key in keys}

    def describe(self) -> str:
        return f"local folder {Path(self.root).resolve()}"


@functools.lru_cache(maxsize=16)
def _resolved(root: str, cwd: str) -> Path:
    """The lake root with symlinks resolved, once per root and working folder (a night lands
    thousands of keys)."""
    return (Path(cwd) / root).resolve()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
