"""The dbt project compiles for BigQuery with no network and no credentials (CI has neither)."""

import json
import os
import subprocess
import sys
from pathlib import Path

DBT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DBT = str(Path(sys.executable).with_name("dbt"))


def test_project_parses_and_compiles_for_bigquery_offline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOAST_", "GOOGLE_"))}
    # A token-based method builds credentials without a metadata server or a key file; with
    # --no-introspect and --no-populate-cache dbt sends no query, so no network is needed.
    env.update(TOAST_DBT_TARGET="bigquery", TOAST_BQ_AUTH_METHOD="oauth-secrets", TOAST_BQ_TOKEN="offline",
               TOAST_GCP_PROJECT="toast-ci", DBT_SEND_ANONYMOUS_USAGE_STATS="false")  # fmt: skip
    completed = subprocess.run(
        [DBT, "compile", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target-path",
         str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"), "--no-introspect", "--no-populate-cache",
         "--exclude", "test_type:unit", "--vars", json.dumps({"start_date": "2026-10-08", "end_date": "2026-10-10"})],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-2000:]

    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "bigquery"
    nodes = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for mart in ("daily_sales_summary", "product_performance", "store_performance", "sales_by_slice"):
        config = nodes[mart]["config"]
        assert nodes[mart]["schema"] == "toast_marts"
        assert config["incremental_strategy"] == "insert_overwrite"
        assert config["partition_by"] == {"field": "business_date", "data_type": "date", "granularity": "day"}
        assert config["cluster_by"] == ["location_id"]
        # The window's partitions are computed when the model runs (macros/incremental.sql),
        # so the parse keeps nothing that depends on the window.
        assert config["meta"]["toast_window_partitions"] is True and config.get("partitions") is None
    assert nodes["stg_toast__order_details"]["schema"] == "toast_staging"
    assert nodes["int_item_sales"]["schema"] == "toast_intermediate"
    sources = {s["name"]: s for s in manifest["sources"].values()}
    assert sources["order_details"]["schema"] == "toast_raw"
    assert sources["order_details"]["database"] == "toast-ci"

    compiled = tmp_path / "target" / "compiled" / "toast" / "models"
    staging = (compiled / "staging" / "toast" / "stg_toast__order_details.sql").read_text()
    assert "`toast-ci`.`toast_raw`.`order_details`" in staging
    assert "safe.parse_datetime('%m/%d/%y %I:%M %p'" in staging and "try_strptime" not in staging
    store = (compiled / "marts" / "store_performance.sql").read_text()
    # The rolling week reads seven days before the window.
    assert "between date '2026-10-01' and date '2026-10-10'" in store
    assert "unix_date(business_date)" in store
    slices = (compiled / "marts" / "sales_by_slice.sql").read_text()
    assert "split(dining_options, ',')[safe_offset(0)]" in slices
