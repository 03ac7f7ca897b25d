"""The raw load, independent of the engine: landed files of some dates → raw tables."""

import hashlib
from datetime import date

from toast_assets.landing.lake import LakeResource
from toast_assets.landing.landing import landed_files
from toast_assets.landing.manifest import LandedFile
from toast_assets.lib.csvfile import LineEndings
from toast_assets.quality.contract_schema import CONTRACT_CHECKS
from toast_assets.raw.prepare import prepare_file
from toast_assets.raw.warehouse import LoadResult, WarehouseResource


class LakeIntegrityError(RuntimeError):
    """A lake object's bytes differ from what its manifest recorded when it was landed."""


class WarehouseLoadError(RuntimeError):
    """Replacing the dates in the warehouse failed; the replacement was rolled back."""


def load_raw(
    lake: LakeResource, warehouse: WarehouseResource, dates: list[date], entities: list[str], validate: bool = True
) -> LoadResult:
    """Replace these entities' rows for these dates with what the lake holds for them.

    With `validate`, rows that break the contract's value rules go to quarantine with the rule.
    Only bytes that are exactly what the manifests recorded are loaded.
    """
    files = landed_files(lake, dates, set(entities))
    with lake.local_paths([f.key for f in files]) as paths:
        styles = verify_landed(files, paths)
        prepared = [prepare_file(f, paths[f.key], styles[f.key]) for f in files]
        try:
            return warehouse.replace_raw_partitions(entities, dates, prepared, CONTRACT_CHECKS if validate else None)
        except Exception as exc:
            days = ", ".join(d.isoformat() for d in dates[:10]) + (f" and {len(dates) - 10} more" if len(dates) > 10 else "")
            raise WarehouseLoadError(
                f"replacing {', '.join(entities)} for business date(s) {days} in {warehouse.describe()} failed and was "
                f"rolled back: those dates still hold the rows of their previous load, never a mix. Cause: "
                f"{type(exc).__name__}: {exc}. Fix the cause and re-run the date(s)."
            ) from exc


def verify_landed(files: list[LandedFile], paths: dict[str, str]) -> dict[str, str]:
    """Refuse to load any file whose bytes are not the ones its manifest describes.

    A landing interrupted after it replaced an object but before it rewrote the manifest
    leaves new bytes under an old manifest entry: loading them would mix one delivery's rows
    with another's counts. Returns each file's line-ending style, read in the same pass (the
    warehouse's reader needs it), by lake key.
    """
    looks = {f.key: _digest_and_line_endings(paths[f.key]) for f in files}
    altered = [
        f"{landed.file_name} (location {landed.location_id}, business date {landed.business_date.isoformat()}, {landed.key})"
        for landed in files
        if looks[landed.key][0] != landed.sha256
    ]
    if altered:
        raise LakeIntegrityError(
            f"{len(altered)} landed file(s) no longer match the sha256 their manifest recorded: {'; '.join(altered[:20])}. "
            "A landing was interrupted after copying them and before recording them (or they were changed by hand); "
            "nothing was loaded. Re-run the landing of these dates, which lands and records them again."
        )
    return {key: style for key, (_, style) in looks.items()}


def _digest_and_line_endings(path: str) -> tuple[str, str]:
    digest, endings = hashlib.sha256(), LineEndings()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            endings.update(block)
    return digest.hexdigest(), endings.style
