"""Building blocks for tests and tools: land a local export tree and load the raw tables."""

from datetime import date
from pathlib import Path

from toast_assets.contract import ENTITIES
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.landing.landing import land
from toast_assets.landing.local_source import LocalExportTree
from toast_assets.raw.duckdb_warehouse import DuckDBWarehouseResource
from toast_assets.raw.load import load_raw
from toast_assets.raw.warehouse import LoadResult


def load_raw_from_tree(export_root: Path, duckdb_path: Path, dates: list[date], lake_root: Path | None = None) -> LoadResult:
    """Land `<export_root>/<export_id>/<YYYYMMDD>/*.csv` for these dates and load DuckDB's raw tables.

    The same landing and loading code the pipeline runs, with the export folder read from
    disk instead of over SFTP. The lake defaults to a folder beside the DuckDB file.
    """
    lake = LocalLakeResource(root=str(lake_root or Path(duckdb_path).parent / "lake"))
    warehouse = DuckDBWarehouseResource(database=str(duckdb_path))
    land(LocalExportTree(Path(export_root)), lake, dates)
    return load_raw(lake, warehouse, dates, list(ENTITIES))
