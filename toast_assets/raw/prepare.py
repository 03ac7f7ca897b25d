"""Backend-neutral preparation of landed files for the raw load: headers, drift, rejects.

Reading a header costs one small read per file; the rows themselves are left to the
warehouse's own bulk CSV reader.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from toast_assets.contract import BY_ENTITY, HeaderMapping, map_headers
from toast_assets.landing.manifest import LandedFile
from toast_assets.lib.csvfile import csv_rows, data_records, decode, is_blank

HEADER_PROBE_BYTES = 1 << 16


@dataclass(frozen=True)
class PreparedFile:
    landed: LandedFile
    path: str  # local path the warehouse reader opens
    mapping: HeaderMapping | None  # None when the file has no header at all
    rejection: str | None = None  # why the whole file cannot be loaded
    header_line: int = 1  # CSV row position of the header (blank lines above it skipped)
    line_endings: str | None = None  # lf, crlf, cr or mixed (csvfile.line_endings); None: not read yet

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


def read_header_row(path: str, encoding: str) -> tuple[list[str] | None, int]:
    """The header (the first CSV row with a non-blank cell) and its row position, or
    (None, 0) when the first 64 KiB hold none."""
    with open(path, "rb") as handle:
        head = handle.read(HEADER_PROBE_BYTES)
    # As `layout` finds the header, stopping there: the records are the bulk reader's business.
    for position, row in enumerate(csv_rows(decode(head, encoding)), start=1):
        if not is_blank(row):
            return row, position
    return None, 0


def read_header(path: str, encoding: str) -> list[str] | None:
    """The first CSV row with a non-blank cell, or None for a file with no header."""
    return read_header_row(path, encoding)[0]


def prepare_file(landed: LandedFile, path: str, line_endings: str | None = None) -> PreparedFile:
    header, header_line = read_header_row(path, landed.encoding)
    if header is None:
        # Records without a header cannot be mapped; quarantine them rather than drop them.
        rejection = f"no header row in the first {HEADER_PROBE_BYTES // 1024} KiB" if landed.records else None
        return PreparedFile(landed=landed, path=path, mapping=None, rejection=rejection, header_line=0, line_endings=line_endings)
    mapping = _header_mapping(landed.entity, tuple(header))
    rejection = None
    if mapping.missing_required:
        rejection = f"missing required column(s) {', '.join(mapping.missing_required)}" + _header_hint(header, mapping)
    elif mapping.duplicate_headers:
        rejection = f"duplicated header(s) {', '.join(mapping.duplicate_headers)}"
    return PreparedFile(
        landed=landed, path=path, mapping=mapping, rejection=rejection, header_line=header_line, line_endings=line_endings
    )


@lru_cache(maxsize=4096)
def _header_mapping(entity: str, header: tuple[str, ...]) -> HeaderMapping:
    """The contract mapping of a header; a night's files share a handful of headers."""
    return map_headers(BY_ENTITY[entity], header)


def _header_hint(header: list[str], mapping: HeaderMapping) -> str:
    """Why a header matches no contract column at all, when the cause is recognisable."""
    if len(mapping.unknown_headers) < len(header):
        return ""  # some columns matched: a real column was dropped or renamed
    text = ",".join(header)
    if "\x00" in text:
        return "; the header holds NUL bytes: the file looks like UTF-16 or binary, not a CSV export"
    for delimiter, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        if len(header) == 1 and delimiter in text:
            return f"; the header is one cell holding {name}s: the file looks {name}-delimited, Toast exports use commas"
    shown = text if len(text) <= 60 else text[:57] + "..."
    return f"; no header cell is a {mapping.toast_file.file_name} column (header starts {shown!r})"


def rejected_file_records(prepared: PreparedFile) -> Iterator[tuple[int, str]]:
    """(data row number, record text) of every record of a file rejected as a whole."""
    with open(prepared.path, "rb") as handle:
        text = decode(handle.read(), prepared.landed.encoding)
    for number, row in data_records(text):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(row)
        # Undecodable bytes (kept as surrogate escapes) shown as \xNN, as in other quarantine rows.
        yield number, buffer.getvalue().encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


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
