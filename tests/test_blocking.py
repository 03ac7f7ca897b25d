"""Blocking checks hold back the marts of a run; warnings do not.

The whole graph runs through Dagster: generated exports over the bundled SFTP server,
landing, the raw load with its Pandera contract, and dbt.
"""

import csv
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from pipeline_resources import pipeline_resources

from toast_assets.dbt.assets import toast_dbt_assets
from toast_assets.dbt.resources import dbt_resource
from toast_assets.demo.generator import generate
from toast_assets.landing.assets import toast_landing
from toast_assets.raw.assets import toast_raw
from toast_assets.sftp.assets import toast_sftp_files

DAY = date(2026, 10, 2)
DAILY_SALES = dg.AssetKey(["toast_marts", "daily_sales_summary"])
RAW_ORDERS = dg.AssetKey(["toast_raw", "order_details"])


def corrupt_orders(path: Path, rows_to_break: int, column: str, value: str) -> None:
    raw = path.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    rows = list(csv.reader(raw.decode(encoding).splitlines()))
    index = rows[0].index(column)
    for row in rows[1 : 1 + rows_to_break]:
        row[index] = value
    with path.open("w", newline="", encoding=encoding) as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def run_day(exports: Path, tmp_path: Path, make_sftp_server, monkeypatch: pytest.MonkeyPatch) -> dg.ExecuteInProcessResult:
    _, settings = make_sftp_server(exports)
    monkeypatch.setenv("TOAST_DUCKDB_PATH", str(tmp_path / "toast.duckdb"))  # dbt's profile reads the same file
    resources = {**pipeline_resources(settings, tmp_path), "dbt": dbt_resource()}
    return dg.materialize(
        [*toast_sftp_files, toast_landing, toast_raw, toast_dbt_assets],
        resources=resources,
        partition_key=DAY.isoformat(),
        raise_on_error=False,
    )


def materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {event.asset_key for event in result.get_asset_materialization_events()}


def test_contract_failure_holds_back_the_marts(tmp_path: Path, make_sftp_server, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = generate(tmp_path / "exports", DAY, DAY, locations=2, seed=3)
    orders = tmp_path / "exports" / summary.export_ids[0] / DAY.strftime("%Y%m%d") / "OrderDetails.csv"
    corrupt_orders(orders, rows_to_break=5, column="Total", value="twelve dollars")

    result = run_day(tmp_path / "exports", tmp_path, make_sftp_server, monkeypatch)

    contract = [c for c in result.get_asset_check_evaluations() if c.asset_key == RAW_ORDERS and c.check_name == "contract_valid"]
    assert len(contract) == 1 and not contract[0].passed
    assert "above the 0.100% threshold" in (contract[0].description or "")
    assert "decimal_parses" in contract[0].metadata["top_reasons"].value
    assert RAW_ORDERS in materialized(result), "the raw table itself is written, bad rows in quarantine"
    assert DAILY_SALES not in materialized(result), "a blocking failure stops the marts of the run"


def test_warnings_do_not_hold_back_the_marts(tmp_path: Path, make_sftp_server, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = generate(tmp_path / "exports", DAY, DAY, locations=2, seed=3)
    orders = tmp_path / "exports" / summary.export_ids[0] / DAY.strftime("%Y%m%d") / "OrderDetails.csv"
    corrupt_orders(orders, rows_to_break=1, column="Total", value="1.00")  # parses, but does not add up

    result = run_day(tmp_path / "exports", tmp_path, make_sftp_server, monkeypatch)

    assert result.success
    checks = {(c.asset_key.path[-1], c.check_name): c for c in result.get_asset_check_evaluations()}
    total_rule = checks[("stg_toast__order_details", "order_total_equals_amount_tax_tip_gratuity")]
    assert not total_rule.passed and total_rule.severity == dg.AssetCheckSeverity.WARN
    assert checks[("order_details", "contract_valid")].passed
    assert DAILY_SALES in materialized(result)
