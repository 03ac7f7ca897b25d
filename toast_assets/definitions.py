"""The Dagster code location: assembles assets, checks, jobs and resources. Nothing else."""

import dagster as dg

from toast_assets.automation import AUTOMATION_SCHEDULES, AUTOMATION_SENSORS, backfill_chunk_days, with_backfill_chunks
from toast_assets.dbt.assets import toast_dbt_assets
from toast_assets.dbt.resources import dbt_resource
from toast_assets.landing.assets import toast_landing
from toast_assets.notify import build_notifier
from toast_assets.partitions import DAILY_PARTITIONS
from toast_assets.quality.checks import QUALITY_CHECKS
from toast_assets.quality.freshness import with_mart_freshness
from toast_assets.quality.weekly import QUALITY_GROUP, weekly_quality_report, weekly_validation, weekly_validation_schedule
from toast_assets.raw.assets import toast_raw
from toast_assets.raw.warehouse import WAREHOUSE_WRITE_TAGS
from toast_assets.resources import build_resources
from toast_assets.settings import load_config
from toast_assets.sftp.assets import toast_sftp_files

CONFIG = load_config()

toast_daily = dg.define_asset_job(
    name="toast_daily",
    description="Land, load and model the Toast exports of one business date or a range, as one run.",
    # The weekly report is not partitioned and has its own job.
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("toast_sftp", QUALITY_GROUP),
    partitions_def=DAILY_PARTITIONS,
    tags=WAREHOUSE_WRITE_TAGS,
)

defs = dg.Definitions(
    assets=[
        *toast_sftp_files,
        # Backfills: one run per backfill, or per TOAST_BACKFILL_CHUNK_DAYS dates when set.
        *with_backfill_chunks([toast_landing, toast_raw, with_mart_freshness(toast_dbt_assets)], backfill_chunk_days()),
        weekly_quality_report,
    ],
    asset_checks=QUALITY_CHECKS,
    jobs=[toast_daily, weekly_validation],
    schedules=[weekly_validation_schedule, *AUTOMATION_SCHEDULES],
    sensors=AUTOMATION_SENSORS,
    resources={**build_resources(CONFIG), "dbt": dbt_resource(), "notifier": build_notifier()},
    # One process per run: a process per step would re-import the code location each time.
    executor=dg.in_process_executor,
)
