"""Asset keys and groups for the dbt project, so the lineage runs unbroken from raw to marts."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

# dbt schema (BigQuery dataset) -> Dagster group. The schema is also the asset key prefix.
SCHEMA_GROUPS: dict[str, str] = {
    "toast_staging": "staging",
    "toast_intermediate": "intermediate",
    "toast_marts": "marts",
    "toast_reference": "reference",
}
RAW_KEY_PREFIX = "toast_raw"


class ToastDbtTranslator(DagsterDbtTranslator):
    """dbt sources take the raw-table assets' keys (`toast_raw/<entity>`); models and seeds
    are keyed `<schema>/<name>` (`toast_staging/stg_toast__order_details`,
    `toast_marts/daily_sales_summary`) and grouped by layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([RAW_KEY_PREFIX, dbt_resource_props["name"]])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props["schema"]
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return None
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props["schema"]
        return SCHEMA_GROUPS.get(schema)
