"""The raw load, independent of the engine: landed files of some dates → raw tables."""

from datetime import date

from toast_assets.landing.lake import LakeResource
from toast_assets.landing.landing import landed_files
from toast_assets.quality.contract_schema import contract_failures
from toast_assets.raw.prepare import prepare_file
from toast_assets.raw.warehouse import LoadResult, WarehouseResource


def load_raw(
    lake: LakeResource, warehouse: WarehouseResource, dates: list[date], entities: list[str], validate: bool = True
) -> LoadResult:
    """Replace these entities' rows for these dates with what the lake holds for them.

    With `validate`, rows that break the contract's value rules go to quarantine with the rule.
    """
    files = landed_files(lake, dates, set(entities))
    with lake.local_paths([f.key for f in files]) as paths:
        prepared = [prepare_file(f, paths[f.key]) for f in files]
        return warehouse.replace_raw_partitions(entities, dates, prepared, contract_failures if validate else None)
