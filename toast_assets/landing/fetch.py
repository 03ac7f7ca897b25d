"""Fetching a night's export folders: download, hash, count and take a second look.

A folder (one location's files for one business date) is fetched as a whole: each changed
file is downloaded into its staging file while being hashed, its encoding detected and its
records counted, then the folder is listed again (`second_look`) so a file Toast was still
writing is refused rather than landed truncated. The caller publishes what was fetched.

A paramiko connection is bound by one core (packets are parsed and decrypted in Python), so
a big night is fetched over several connections, each in its own worker process
(`ParallelFetch`): a worker (`worker_main`) reads its folders as a pickle on stdin and
answers one pickle per folder on stdout. The worker imports only the SFTP client
and the counting code, never Dagster, so it starts in well under a second. Small nights are
fetched in the calling process over its own connection: a worker costs more than it saves.
"""

import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO, Protocol

from toast_assets.landing.manifest import UNRECOGNIZED_ENTITY, HashingWriter, count_records, detect_encoding
from toast_assets.sftp.client import RemoteFile, SftpError, SftpSettings, ToastSftpClient

# Below this many listed bytes in a batch of folders, worker processes cost more than they
# save (start-up and a handshake each, about 0.7 s, against ~25 MB/s per connection here).
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
# Folders are fetched and published in batches of at most this many files, so staging
# holds at most one batch and a long backfill lands (and resumes) batch by batch.
BATCH_FILES = 4000
# A worker imports with its parent's module search path, so it runs the same `toast_assets`
# (an installed package or a checkout) without importing what the parent's `__main__` imports.
_WORKER = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from toast_assets.landing.fetch import worker_main; sys.exit(worker_main())"
)


class FetchSource(Protocol):
    def list_files(self, export_id: str, business_date: date) -> list[RemoteFile]: ...

    def download(self, remote: RemoteFile, fileobj: BinaryIO) -> int: ...


class SourceChangedError(SftpError):
    """A file changed on the server while it was being landed: Toast is still writing it.
    Transient: the next try lands it once it holds still."""


class LocalStagingError(OSError):
    """Writing a staging file failed (disk full, permissions): the local side, not the server."""


class FetchWorkerError(RuntimeError):
    """A fetch worker process ended without answering for its folders (killed, crashed)."""


@dataclass(frozen=True)
class FetchItem:
    remote: RemoteFile
    staging_path: str
    entity: str  # the contract entity, or UNRECOGNIZED_ENTITY for a file that is only kept


@dataclass(frozen=True)
class Fetched:
    size: int
    sha256: str
    encoding: str
    records: int | None


@dataclass(frozen=True)
class Folder:
    """One location's changed files for one business date, fetched and second-looked as one."""

    location_id: str
    business_date: date
    items: list[FetchItem]

    @property
    def listed_bytes(self) -> int:
        return sum(item.remote.size for item in self.items)


def fetch_folder(source: FetchSource, folder: Folder) -> list[Fetched]:
    """Download every item of the folder into its staging file, then take the second look."""
    fetched = [fetch_file(source, item) for item in folder.items]
    second_look(source, folder.location_id, folder.business_date, [item.remote for item in folder.items])
    return fetched


def fetch_file(source: FetchSource, item: FetchItem) -> Fetched:
    try:
        with open(item.staging_path, "wb") as handle:
            writer = HashingWriter(handle)
            source.download(item.remote, writer)
        # Read back from the page cache: the counting needs the whole text anyway.
        payload = Path(item.staging_path).read_bytes()
    except OSError as exc:
        # The SFTP client raises remote trouble as SftpError: an OSError here is the local disk.
        raise LocalStagingError(f"staging {where(item.remote)} in {item.staging_path} failed: {exc}") from exc
    encoding = detect_encoding(payload)
    records = None if item.entity == UNRECOGNIZED_ENTITY else count_records(payload, encoding)
    return Fetched(size=writer.size, sha256=writer.sha256.hexdigest(), encoding=encoding, records=records)


def where(remote: RemoteFile) -> str:
    """A file as messages name it: its path, location and business date."""
    return f"{remote.path} (location {remote.export_id}, business date {remote.business_date.isoformat()})"


def second_look(source: FetchSource, location_id: str, business_date: date, downloaded: list[RemoteFile]) -> None:
    """Raise SourceChangedError when a downloaded file no longer looks as it did when listed."""
    now = {remote.name: remote for remote in source.list_files(location_id, business_date)}
    changed = []
    for remote in downloaded:
        current = now.get(remote.name)
        if current is None or (current.size, current.mtime) != (remote.size, remote.mtime):
            after = "gone" if current is None else f"{current.size} bytes, mtime {current.mtime}"
            changed.append(f"{remote.name} ({remote.size} bytes, mtime {remote.mtime} when listed; {after} now)")
    if changed:
        raise SourceChangedError(
            f"{'; '.join(changed)} of location {location_id}, business date {business_date.isoformat()} changed while "
            "it was being landed: Toast is probably still writing it. Nothing of this location's files for that date "
            "was recorded as landed; the next try lands them once they hold still"
        )


def fetch_in_process(source: FetchSource, folders: list[Folder]) -> Iterator[tuple[int, list[Fetched]]]:
    """(folder index, fetched files) in order over the caller's own connection; raises at the
    first failure, after the folders before it were yielded (and published by the caller)."""
    for index, folder in enumerate(folders):
        yield index, fetch_folder(source, folder)


class ParallelFetch:
    """Fetch folders over `connections` SFTP connections, each in its own worker process.

    `run` yields (folder index, fetched files) as workers finish folders, in no fixed order;
    the caller publishes each as it comes. A worker stops at its first failing folder; the
    other workers go on, so everything that can land does, and the first failure (by folder
    order) is raised once all workers have ended. Workers are stopped by their own process
    ids when the caller stops early.
    """

    def __init__(self, settings: SftpSettings, connections: int) -> None:
        self.settings = settings
        self.connections = connections

    def worth_it(self, folders: list[Folder]) -> bool:
        return self.connections > 1 and len(folders) > 1 and sum(f.listed_bytes for f in folders) >= PARALLEL_MIN_BYTES

    def run(self, folders: list[Folder]) -> Iterator[tuple[int, list[Fetched]]]:
        shares = _balance(folders, min(self.connections, len(folders)))
        answers: queue.Queue = queue.Queue()
        workers: list[subprocess.Popen] = []
        readers: list[threading.Thread] = []
        try:
            for share in shares:
                worker = _start_worker()
                workers.append(worker)
                mine = [(index, folders[index]) for index in share]
                reader = threading.Thread(target=_talk, args=(worker, self.settings, mine, answers), daemon=True)
                reader.start()
                readers.append(reader)
            failures: dict[int, BaseException] = {}
            ended = 0
            while ended < len(workers):
                kind, index, payload = answers.get()
                if kind == "fetched":
                    yield index, payload
                elif kind == "failed":
                    failures[index] = payload
                else:  # "ended": payload is None, or the error of a worker that died
                    ended += 1
                    if payload is not None:
                        failures[index] = payload
            if failures:
                raise failures[min(failures)]
        finally:
            for worker in workers:
                _stop(worker)
            for reader in readers:
                reader.join(timeout=5)


def _balance(folders: list[Folder], count: int) -> list[list[int]]:
    """Folder indexes per worker, the biggest folders first to the least loaded worker; each
    worker then fetches its folders in folder order."""
    loads = [0] * count
    shares: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(range(len(folders)), key=lambda i: -folders[i].listed_bytes):
        lightest = loads.index(min(loads))
        shares[lightest].append(index)
        loads[lightest] += folders[index].listed_bytes + 1
    return [sorted(share) for share in shares if share]


def _start_worker() -> subprocess.Popen:
    # stderr is the step's: a worker's traceback shows in the step's logs.
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, json.dumps(sys.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )


def _talk(
    worker: subprocess.Popen, settings: SftpSettings, share: list[tuple[int, Folder]], answers: queue.Queue
) -> None:
    """Send a worker its folders and pass its answers on; always ends with one "ended" answer,
    which carries an error when the worker stopped answering before its folders were done."""
    assert worker.stdin is not None and worker.stdout is not None
    answered: set[int] = set()
    failed = False
    try:
        worker.stdin.write(pickle.dumps((settings, share)))
        worker.stdin.close()
        while True:
            try:
                kind, index, payload = pickle.load(worker.stdout)
            except EOFError:
                break
            answered.add(index)
            failed = failed or kind == "failed"
            answers.put((kind, index, payload))
        code = worker.wait()
        stopped = None if failed or len(answered) == len(share) else f"exited with code {code}"
    except BaseException as exc:  # noqa: BLE001 - a broken pipe, a killed worker: reported below, never a hang
        stopped = f"stopped answering ({type(exc).__name__}: {exc})"
    if stopped is None:
        answers.put(("ended", -1, None))
        return
    index, folder = next((i, f) for i, f in share if i not in answered)
    answers.put(
        (
            "ended",
            index,
            FetchWorkerError(
                f"fetch worker process {worker.pid} {stopped} before it fetched location {folder.location_id}, "
                f"business date {folder.business_date.isoformat()} ({len(answered)} of its {len(share)} folder(s) done); "
                "nothing of the folders it did not finish was recorded as landed: re-run the date(s)"
            ),
        )
    )


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.kill()
    worker.wait(timeout=10)
    for pipe in (worker.stdin, worker.stdout):
        if pipe is not None and not pipe.closed:
            pipe.close()


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else an SftpError that says what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - whatever pickling raises, the message still reaches the parent
        return SftpError(f"{type(exc).__name__}: {exc}")


def worker_main() -> int:
    """A fetch worker: one connection, its folders in order, one answer per folder."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    settings, share = pickle.load(stdin)

    def answer(kind: str, index: int, payload: object) -> None:
        pickle.dump((kind, index, payload), stdout)
        stdout.flush()

    index = share[0][0] if share else 0
    try:
        with ToastSftpClient(settings) as client:
            for index, folder in share:
                answer("fetched", index, fetch_folder(client, folder))
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent, which raises it
        exc.add_note(f"(in fetch worker process {os.getpid()})")
        answer("failed", index, _portable(exc))
    return 0
