"""The dbt project as partitioned Dagster assets: staging, intermediate, marts, the locations seed.

One daily partition is one business date. Every run, a single day or a year-long backfill,
is one `dbt build` over the run's partition window (single-run backfill policy), because a
dbt invocation costs seconds. The window goes to dbt as environment variables, not `--vars`:
changed vars make dbt re-parse the whole project (~6 s). dbt reads them only when it runs a
node (macros/window.sql), so a new window re-parses nothing.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, dbt_assets

from toast_assets.dbt.partition_vars import partition_window_env, partition_window_vars
from toast_assets.dbt.project import DBT_BUILD_EXCLUDE_ARGS, DUCKDB_TARGET, toast_dbt_project
from toast_assets.dbt.resources import ToastDbtCliResource
from toast_assets.dbt.translator import ToastDbtTranslator
from toast_assets.partitions import DAILY_PARTITIONS

TOAST_DBT_TRANSLATOR = ToastDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=toast_dbt_project.manifest_path,
    project=toast_dbt_project,
    name="toast_dbt_assets",
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=TOAST_DBT_TRANSLATOR,
)
def toast_dbt_assets(context: dg.AssetExecutionContext, dbt: ToastDbtCliResource) -> Iterator[Any]:
    """Typed staging views, intermediate joins and the sales, product and store marts for the
    run's business dates; dbt tests report as asset checks, column types reach the catalog."""
    dbt_vars = partition_window_vars(context.partition_time_window)
    context.log.info(f"dbt build for business dates {dbt_vars['start_date']} .. {dbt_vars['end_date']}")
    invocation = dbt.cli_with_env(["build", *DBT_BUILD_EXCLUDE_ARGS], partition_window_env(dbt_vars), context=context)
    events = invocation.stream()
    if dbt.target == DUCKDB_TARGET:
        # No adapter on DuckDB (the YAML-documented types stand), and the column-metadata
        # wrapper would poll in a busy loop for the whole dbt run, costing a core.
        yield from events
    else:
        # Column types come from the warehouse where the resource has an adapter (BigQuery).
        yield from events.fetch_column_metadata(with_column_lineage=False)
    dbt.keep_parse_state(invocation)
