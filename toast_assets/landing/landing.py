"""Copy a business date's Toast files into the lake, untouched, and describe them in manifests.

The source is anything that lists `RemoteFile`s and downloads one into a binary file: the
Toast SFTP client in production, a local export folder in tests and tools.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import BinaryIO, Protocol

from toast_assets.landing.lake import LakeResource
from toast_assets.landing.manifest import (
    UNRECOGNIZED_ENTITY,
    HashingWriter,
    LandedFile,
    LocationManifest,
    count_records,
    detect_encoding,
    entity_for_file,
    manifest_key,
    manifest_prefix,
    object_key,
    utc_now,
)
from toast_assets.sftp.client import RemoteFile


class ExportSource(Protocol):
    def list_tree(self, export_ids: Iterable[str] | None = None, dates: Iterable[date] | None = None) -> list[RemoteFile]: ...

    def download(self, remote: RemoteFile, fileobj: BinaryIO) -> int: ...


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


def land(
    source: ExportSource,
    lake: LakeResource,
    dates: list[date],
    export_ids: Iterable[str] | None = None,
    entities: set[str] | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> LandingReport:
    """Land every file of these dates (and locations) that the lake does not already hold."""
    report = LandingReport(dates=dates)
    remote_files = source.list_tree(export_ids=export_ids, dates=dates)
    grouped: dict[tuple[str, date], list[RemoteFile]] = defaultdict(list)
    for remote in remote_files:
        grouped[(remote.export_id, remote.business_date)].append(remote)

    for (location_id, business_date), remotes in sorted(grouped.items()):
        manifest = read_manifest(lake, business_date, location_id) or LocationManifest(location_id, business_date)
        report.locations_by_date[business_date].add(location_id)
        changed = False
        for remote in remotes:
            entity = entity_for_file(remote.name)
            if entities is not None and entity not in entities and entity != UNRECOGNIZED_ENTITY:
                continue
            known = manifest.files.get(remote.name)
            if known and known.size == remote.size and known.source_mtime == remote.mtime:
                _count(report, entity, known, downloaded=False)
                continue
            landed = _land_one(source, lake, remote, entity)
            manifest.files[remote.name] = landed
            changed = True
            _count(report, entity, landed, downloaded=True)
            if entity == UNRECOGNIZED_ENTITY:
                report.unrecognized_files.append(landed.key)
            log(f"landed {remote.path} -> {landed.key} ({landed.size} bytes, {landed.encoding})")
        if changed:
            # Written last: a manifest only ever names files that are completely in the lake.
            lake.put_bytes(manifest_key(business_date, location_id), manifest.to_bytes())
    return report


def _land_one(source: ExportSource, lake: LakeResource, remote: RemoteFile, entity: str) -> LandedFile:
    key = object_key(entity, remote.business_date, remote.export_id, remote.name)
    with lake.staging_file() as staged:
        with staged.open("wb") as handle:
            writer = HashingWriter(handle)
            source.download(remote, writer)
        payload = staged.read_bytes()
        encoding = detect_encoding(payload)
        records = None if entity == UNRECOGNIZED_ENTITY else count_records(payload, encoding)
        sha256 = writer.sha256.hexdigest()
        lake.commit(staged, key, sha256)
    return LandedFile(
        file_name=remote.name,
        entity=entity,
        location_id=remote.export_id,
        business_date=remote.business_date,
        key=key,
        size=writer.size,
        sha256=sha256,
        source_path=remote.path,
        source_mtime=remote.mtime,
        encoding=encoding,
        records=records,
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
