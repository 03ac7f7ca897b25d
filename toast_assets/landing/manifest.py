"""What the lake knows about each landed file: size, checksum, source time, encoding, records.

A manifest is kept per business date and location. It is the raw load's list of files to
read and the reconciliation's count of source records, so it is written only after the
file it describes is safely in the lake.
"""

import hashlib
import io
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import BinaryIO

from toast_assets.contract import file_for_name
from toast_assets.lib.csvfile import count_data_records, decode

UNRECOGNIZED_ENTITY = "_unrecognized"
MANIFEST_VERSION = 1

# A UTF-8 multi-byte sequence. A file that fails strict UTF-8 decoding but contains these is
# UTF-8 with a few damaged rows (they are quarantined); one that has none is Latin-1.
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


@dataclass(frozen=True)
class LandedFile:
    """One file as landed: where it is in the lake and what it held when it arrived."""

    file_name: str
    entity: str
    location_id: str
    business_date: date
    key: str  # lake key, relative to the lake root
    size: int
    sha256: str
    source_path: str
    source_mtime: int
    encoding: str  # "utf-8", "utf-8-sig" (with BOM) or "latin-1"
    records: int | None  # data records (header excluded); None for files outside the contract
    landed_at: str

    def to_json(self) -> dict:
        data = asdict(self)
        data["business_date"] = self.business_date.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict) -> "LandedFile":
        return cls(**{**data, "business_date": date.fromisoformat(data["business_date"])})


@dataclass
class LocationManifest:
    """Every file landed for one location and business date, by file name."""

    location_id: str
    business_date: date
    files: dict[str, LandedFile] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        body = {
            "version": MANIFEST_VERSION,
            "location_id": self.location_id,
            "business_date": self.business_date.isoformat(),
            "files": {name: f.to_json() for name, f in sorted(self.files.items())},
        }
        return json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, payload: bytes) -> "LocationManifest":
        body = json.loads(payload)
        return cls(
            location_id=body["location_id"],
            business_date=date.fromisoformat(body["business_date"]),
            files={name: LandedFile.from_json(f) for name, f in body["files"].items()},
        )


def entity_for_file(file_name: str) -> str:
    toast_file = file_for_name(file_name)
    return toast_file.entity if toast_file else UNRECOGNIZED_ENTITY


def object_key(entity: str, business_date: date, location_id: str, file_name: str) -> str:
    return f"toast/{entity}/business_date={business_date.isoformat()}/location={location_id}/{file_name}"


def manifest_key(business_date: date, location_id: str) -> str:
    return f"toast/_manifests/business_date={business_date.isoformat()}/location={location_id}.json"


def manifest_prefix(business_date: date) -> str:
    return f"toast/_manifests/business_date={business_date.isoformat()}/"


class HashingWriter(io.RawIOBase):
    """Writes through to a file while hashing and counting, so a download is read once."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._target.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)


def detect_encoding(payload: bytes) -> str:
    """UTF-8 (BOM or not) when it decodes; Latin-1 only when nothing in it looks like UTF-8."""
    if payload.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return "utf-8" if _UTF8_MULTIBYTE.search(payload) else "latin-1"
    return "utf-8"


def count_records(payload: bytes, encoding: str) -> int:
    """Data records in a CSV file (header excluded, blank lines ignored), counted with `csv`.

    This count is the reconciliation's "source rows": it is taken here, independently of the
    warehouse's CSV reader, so a reader that drops rows is caught rather than trusted. The
    header is the first row with a non-blank cell (`toast_assets.lib.csvfile`), as the raw
    load finds it: blank or whitespace-only lines above it are neither header nor record.
    """
    return count_data_records(decode(payload, encoding))


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
