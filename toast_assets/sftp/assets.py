"""The Toast export files on the SFTP server: external assets, the left edge of the lineage."""

import dagster as dg

from toast_assets.contract import TOAST_FILES
from toast_assets.partitions import DAILY_PARTITIONS

SFTP_GROUP = "toast_sftp"

toast_sftp_files = [
    dg.AssetSpec(
        key=[SFTP_GROUP, toast_file.entity],
        group_name=SFTP_GROUP,
        description=(
            f"{toast_file.file_name} as Toast delivers it: one file per location and business date at "
            f"`/<export_id>/<YYYYMMDD>/{toast_file.file_name}`. {toast_file.description} Toast keeps files "
            "about seven days; the landing step copies them into the lake."
        ),
        partitions_def=DAILY_PARTITIONS,
        kinds={"sftp", "csv"},
        metadata={"file_name": toast_file.file_name, "columns": len(toast_file.columns)},
    )
    for toast_file in TOAST_FILES
]
