"""Backend-neutral preparation of landed files for the raw load: headers, drift, rejects.

Reading a header costs one small read per file; the rows themselves are left to the
warehouse's own bulk CSV reader.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from toast_assets.contract import BY_ENTITY, HeaderMapping, map_headers
from toast_assets.landing.manifest import LandedFile

HEADER_PROBE_BYTES = 1 << 16


@dataclass(frozen=True)
class PreparedFile:
    landed: LandedFile
    path: str  # local path the warehouse reader opens
    mapping: HeaderMapping | None  # None when the file has no header at all
    rejection: str | None = None  # why the whole file cannot be loaded

    @property
    def status(self) -> str:
        if self.rejection:
            return "rejected"
        if self.mapping is None or self.landed.records == 0:
            return "empty"
        return "loadable"

    @property
    def where(self) -> str:
        """File, location and date, as an operator searches for them."""
        return (
            f"{self.landed.file_name} (location {self.landed.location_id}, "
            f"business date {self.landed.business_date.isoformat()}, lake key {self.landed.key})"
        )


@dataclass
class FileLoadStats:
    """What became of one source file's records; loaded + quarantined must equal source."""

    entity: str
    location_id: str
    business_date: str
    file_name: str
    source_file: str
    sha256: str
    size_bytes: int
    encoding: str
    source_rows: int
    loaded_rows: int = 0
    quarantined_rows: int = 0
    status: str = "loaded"
    unknown_headers: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    rejection: str | None = None
    landed_at: str = ""


def read_header(path: str, encoding: str) -> list[str] | None:
    """The first non-empty CSV record of the file, or None for a file with no header."""
    with open(path, "rb") as handle:
        head = handle.read(HEADER_PROBE_BYTES)
    text = head.decode(encoding, errors="replace")
    for row in csv.reader(io.StringIO(text, newline=""), strict=False):
        if any(cell.strip() for cell in row):
            return row
    return None


def prepare_file(landed: LandedFile, path: str) -> PreparedFile:
    toast_file = BY_ENTITY[landed.entity]
    header = read_header(path, landed.encoding)
    if header is None:
        return PreparedFile(landed=landed, path=path, mapping=None)
    mapping = map_headers(toast_file, header)
    rejection = None
    if mapping.missing_required:
        rejection = f"missing required column(s) {', '.join(mapping.missing_required)}"
    elif mapping.duplicate_headers:
        rejection = f"duplicated header(s) {', '.join(mapping.duplicate_headers)}"
    return PreparedFile(landed=landed, path=path, mapping=mapping, rejection=rejection)


def rejected_file_records(prepared: PreparedFile) -> Iterator[tuple[int, str]]:
    """(data row number, record text) of every record of a file rejected as a whole."""
    with open(prepared.path, "rb") as handle:
        text = handle.read().decode(prepared.landed.encoding, errors="replace")
    rows = (row for row in csv.reader(io.StringIO(text, newline=""), strict=False) if row)
    next(rows, None)  # header
    for number, row in enumerate(rows, start=1):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(row)
        yield number, buffer.getvalue()


def base_stats(prepared: PreparedFile) -> FileLoadStats:
    landed = prepared.landed
    mapping = prepared.mapping
    return FileLoadStats(
        entity=landed.entity,
        location_id=landed.location_id,
        business_date=landed.business_date.isoformat(),
        file_name=landed.file_name,
        source_file=landed.key,
        sha256=landed.sha256,
        size_bytes=landed.size,
        encoding=landed.encoding,
        source_rows=landed.records or 0,
        status=prepared.status if prepared.status != "loadable" else "loaded",
        unknown_headers=list(mapping.unknown_headers) if mapping else [],
        missing_columns=list(mapping.missing_required + mapping.missing_optional) if mapping else [],
        rejection=prepared.rejection,
        landed_at=landed.landed_at,
    )
