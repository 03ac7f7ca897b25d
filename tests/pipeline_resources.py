"""The pipeline's resources for a test: a served export tree, a lake folder, a DuckDB file."""

from pathlib import Path

import dagster as dg

from toast_assets.landing.lake import LocalLakeResource
from toast_assets.quality.resources import QualityPolicy
from toast_assets.raw.duckdb_warehouse import DuckDBWarehouseResource
from toast_assets.sftp.client import SftpSettings
from toast_assets.sftp.resources import ToastSftpResource


def pipeline_resources(settings: SftpSettings, folder: Path, **sftp_overrides: object) -> dict[str, dg.ConfigurableResource]:
    """Resources for landing and raw assets against a test SFTP server, storing under `folder`."""
    sftp = {
        "host": settings.host,
        "port": settings.port,
        "username": settings.username,
        "private_key_path": settings.private_key_path,
        "known_hosts_path": settings.known_hosts_path,
        **sftp_overrides,
    }
    return {
        "toast_sftp": ToastSftpResource(**sftp),
        "lake": LocalLakeResource(root=str(folder / "lake")),
        "warehouse": DuckDBWarehouseResource(database=str(folder / "toast.duckdb")),
        "quality": QualityPolicy(),
    }
