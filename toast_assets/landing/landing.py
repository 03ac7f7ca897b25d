"""Copy a business date's Toast files into the lake, untouched, and describe them in manifests.

The source is anything that lists `RemoteFile`s and downloads one into a binary file: the
Toast SFTP client in production, a local export folder in tests and tools.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO, Protocol

from toast_assets.landing.fetch import (
    BATCH_FILES,
    Fetched,
    FetchItem,
    Folder,
    LocalStagingError,
    ParallelFetch,
    SourceChangedError,
    fetch_in_process,
    where,
)
from toast_assets.landing.lake import LakePathError, LakeResource
from toast_assets.landing.manifest import (
    UNRECOGNIZED_ENTITY,
    LandedFile,
    LocationManifest,
    entity_for_file,
    manifest_key,
    manifest_prefix,
    object_key,
    utc_now,
)
from toast_assets.sftp.client import RemoteFile

__all__ = ["LakeWriteError", "LandingReport", "SourceChangedError", "land", "landed_files", "read_manifest"]


class ExportSource(Protocol):
    def list_tree(self, export_ids: Iterable[str] | None = None, dates: Iterable[date] | None = None) -> list[RemoteFile]: ...

    def list_files(self, export_id: str, business_date: date) -> list[RemoteFile]: ...

    def download(self, remote: RemoteFile, fileobj: BinaryIO) -> int: ...


class LakeWriteError(RuntimeError):
    """Writing into the lake failed (disk full, permissions, the bucket refused): the file or
    folder involved was not recorded as landed, so no load reads it."""


@dataclass
class EntityLanding:
    files: int = 0
    downloaded: int = 0
    unchanged: int = 0
    bytes: int = 0
    locations: set[tuple[str, date]] = field(default_factory=set)  # (location, business date)


@dataclass
class LandingReport:
    dates: list[date]
    by_entity: dict[str, EntityLanding] = field(default_factory=lambda: defaultdict(EntityLanding))
    locations_by_date: dict[date, set[str]] = field(default_factory=lambda: defaultdict(set))
    unrecognized_files: list[str] = field(default_factory=list)
    # Source entries passed over (path -> why): non-date folders such as `20261399`, odd names.
    skipped_entries: dict[str, str] = field(default_factory=dict)


def land(
    source: ExportSource,
    lake: LakeResource,
    dates: list[date],
    export_ids: Iterable[str] | None = None,
    entities: set[str] | None = None,
    log: Callable[[str], None] = lambda message: None,
    parallel: ParallelFetch | None = None,
) -> LandingReport:
    """Land every file of these dates (and locations) that the lake does not already hold.

    Changed files are fetched folder by folder over `source`'s connection, or, for a batch
    big enough, over `parallel`'s connections in worker processes. Each folder is published
    (objects, then its manifest) as soon as it is fetched, so a failure keeps every folder
    landed before it and the next try fetches only the rest.
    """
    report = LandingReport(dates=dates)
    remote_files = source.list_tree(export_ids=export_ids, dates=dates)
    report.skipped_entries.update(getattr(source, "skipped", {}))
    grouped: dict[tuple[str, date], list[RemoteFile]] = defaultdict(list)
    for remote in remote_files:
        grouped[(remote.export_id, remote.business_date)].append(remote)

    pending: list[tuple[LocationManifest, list[tuple[RemoteFile, str]]]] = []
    for (location_id, business_date), remotes in sorted(grouped.items()):
        manifest = read_manifest(lake, business_date, location_id) or LocationManifest(location_id, business_date)
        report.locations_by_date[business_date].add(location_id)
        wanted: list[tuple[RemoteFile, str]] = []
        for remote in remotes:
            entity = entity_for_file(remote.name)
            if entities is not None and entity not in entities and entity != UNRECOGNIZED_ENTITY:
                continue
            known = manifest.files.get(remote.name)
            if known and known.size == remote.size and known.source_mtime == remote.mtime:
                _count(report, entity, known, downloaded=False)
                continue
            wanted.append((remote, entity))
        if wanted:
            pending.append((manifest, wanted))
    for batch in _batches(pending):
        _land_batch(source, lake, batch, report, log, parallel)
    return report


def _batches(pending: list[tuple[LocationManifest, list]]) -> Iterator[list[tuple[LocationManifest, list]]]:
    batch: list[tuple[LocationManifest, list]] = []
    files = 0
    for entry in pending:
        if batch and files + len(entry[1]) > BATCH_FILES:
            yield batch
            batch, files = [], 0
        batch.append(entry)
        files += len(entry[1])
    if batch:
        yield batch


def _land_batch(
    source: ExportSource,
    lake: LakeResource,
    batch: list[tuple[LocationManifest, list[tuple[RemoteFile, str]]]],
    report: LandingReport,
    log: Callable[[str], None],
    parallel: ParallelFetch | None,
) -> None:
    with ExitStack() as staging:
        try:
            folders = [
                Folder(
                    manifest.location_id,
                    manifest.business_date,
                    [
                        FetchItem(remote, str(staging.enter_context(lake.staging_file())), entity)
                        for remote, entity in wanted
                    ],
                )
                for manifest, wanted in batch
            ]
        except OSError as exc:
            raise LakeWriteError(
                f"creating staging files in the lake ({lake.describe()}) failed: {exc}. Nothing was downloaded; free "
                "space or fix permissions there, then re-run the date(s)"
            ) from exc
        fetched = (
            parallel.run(folders)
            if parallel is not None and parallel.worth_it(folders)
            else fetch_in_process(source, folders)
        )
        try:
            # The folder's changed files are all downloaded before any is published, so the
            # second look at the folder can refuse them while Toast is still writing one (same
            # size as listed when read, grown since): a truncated file is never landed.
            for index, files in fetched:
                _publish_folder(lake, batch[index][0], folders[index], files, report, log)
        except LocalStagingError as exc:
            raise LakeWriteError(
                f"{exc} (lake {lake.describe()}). Nothing of that location's files for that date was recorded as "
                "landed (the folders fetched before it are); free space or fix permissions there, then re-run the date(s)"
            ) from exc
        finally:
            fetched.close()  # stops the workers of a parallel fetch left early


def _publish_folder(
    lake: LakeResource,
    manifest: LocationManifest,
    folder: Folder,
    files: list[Fetched],
    report: LandingReport,
    log: Callable[[str], None],
) -> None:
    for item, fetched in zip(folder.items, files, strict=True):
        landed = _publish(lake, item, fetched)
        manifest.files[item.remote.name] = landed
        _count(report, item.entity, landed, downloaded=True)
        if item.entity == UNRECOGNIZED_ENTITY:
            report.unrecognized_files.append(landed.key)
        log(f"landed {item.remote.path} -> {landed.key} ({landed.size} bytes, {landed.encoding})")
    # Written last: a manifest only ever names files that are completely in the lake.
    key = manifest_key(folder.business_date, folder.location_id)
    _lake_write(
        lambda: lake.put_bytes(key, manifest.to_bytes()),
        lake,
        f"the manifest of location {folder.location_id}, business date {folder.business_date.isoformat()} ({key})",
        "Its new files are in the lake but not recorded as landed, so no load reads them",
    )


def _lake_write(write: Callable[[], None], lake: LakeResource, what: str, consequence: str) -> None:
    """Run a lake write; any backend failure becomes a LakeWriteError naming what was written where."""
    try:
        write()
    except LakePathError:
        raise  # a refused key is a safety stop, reported as itself
    except Exception as exc:
        raise LakeWriteError(
            f"writing {what} into the lake ({lake.describe()}) failed: {type(exc).__name__}: {exc}. {consequence}; "
            "fix the lake (free space, permissions, bucket access) and re-run the date"
        ) from exc


def _publish(lake: LakeResource, item: FetchItem, fetched: Fetched) -> LandedFile:
    remote, entity = item.remote, item.entity
    key = object_key(entity, remote.business_date, remote.export_id, remote.name)
    _lake_write(
        lambda: lake.commit(Path(item.staging_path), key, fetched.sha256),
        lake,
        f"{where(remote)} to {key}",
        "The file is not recorded as landed (the manifest is written last), so no load reads it",
    )
    return LandedFile(
        file_name=remote.name,
        entity=entity,
        location_id=remote.export_id,
        business_date=remote.business_date,
        key=key,
        size=fetched.size,
        sha256=fetched.sha256,
        source_path=remote.path,
        source_mtime=remote.mtime,
        encoding=fetched.encoding,
        records=fetched.records,
        landed_at=utc_now(),
    )


def _count(report: LandingReport, entity: str, landed: LandedFile, downloaded: bool) -> None:
    entry = report.by_entity[entity]
    entry.files += 1
    entry.bytes += landed.size
    entry.locations.add((landed.location_id, landed.business_date))
    if downloaded:
        entry.downloaded += 1
    else:
        entry.unchanged += 1


def read_manifest(lake: LakeResource, business_date: date, location_id: str) -> LocationManifest | None:
    payload = lake.get_bytes(manifest_key(business_date, location_id))
    return LocationManifest.from_bytes(payload) if payload is not None else None


def landed_files(lake: LakeResource, dates: list[date], entities: set[str] | None = None) -> list[LandedFile]:
    """Every landed file of these dates per the manifests, optionally for some entities only."""
    out: list[LandedFile] = []
    for business_date in dates:
        for key in lake.list_keys(manifest_prefix(business_date)):
            manifest = LocationManifest.from_bytes(lake.get_bytes(key) or b"{}")
            out += [f for f in manifest.files.values() if entities is None or f.entity in entities]
    return sorted(out, key=lambda f: (f.entity, f.business_date, f.location_id, f.file_name))
