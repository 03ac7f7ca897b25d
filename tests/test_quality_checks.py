"""The asset checks as Dagster runs them, against real DuckDB files.

Completeness runs after the real raw load of generated export files (one bad date, one
good); the mart invariants run after a stand-in for the dbt mart writes hand-made rows
(dbt itself runs in tests/test_quality_pipeline.py).
"""

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from toast_assets.demo.generator import generate
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.partitions import DAILY_PARTITIONS
from toast_assets.quality.checks import MART_INVARIANT_CHECKS, files_complete
from toast_assets.quality.resources import QualityPolicy
from toast_assets.quality.weekly import weekly_quality_report, weekly_run_config
from toast_assets.raw.assets import toast_raw
from toast_assets.raw.duckdb_warehouse import DuckDBWarehouseResource
from toast_assets.raw.warehouse import WarehouseResource
from toast_assets.sftp.resources import ToastSftpResource
from toast_assets.testing import load_raw_from_tree

GOOD_DAY, BAD_DAY = date(2026, 11, 2), date(2026, 11, 3)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    root = tmp_path_factory.mktemp("quality_checks")
    summary = generate(root / "export", GOOD_DAY, BAD_DAY, locations=3, seed=7, traps=False, orders_per_day=(5, 5))
    ids = summary.export_ids
    closed = root / "export" / ids[1] / f"{BAD_DAY:%Y%m%d}"
    for path in closed.iterdir():  # header-only files: a closed day
        path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    (root / "export" / ids[2] / f"{BAD_DAY:%Y%m%d}" / "KitchenTimings.csv").unlink()
    load_raw_from_tree(root / "export", root / "toast.duckdb", summary.dates, lake_root=root / "lake")
    yield root, ids
    shutil.rmtree(root, ignore_errors=True)


def completeness(root: Path, day: date, export_ids: list[str]) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        [toast_raw, files_complete],
        partition_key=day.isoformat(),
        resources={
            "lake": LocalLakeResource(root=str(root / "lake")),
            "warehouse": DuckDBWarehouseResource(database=str(root / "toast.duckdb")),
            "quality": QualityPolicy(),
            "toast_sftp": ToastSftpResource(host="sftp.invalid", username="unused", export_ids=export_ids),
        },
    )
    assert result.success
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "files_complete"]
    return evaluation


def test_completeness_passes_when_every_expected_location_delivered(loaded: tuple[Path, list[str]]) -> None:
    root, ids = loaded
    check = completeness(root, GOOD_DAY, ids)
    assert check.passed and check.description is None
    assert check.metadata["locations"].value == 3 and check.metadata["location_days_closed"].value == 0


def test_completeness_warns_on_missing_files_and_locations_but_not_on_a_closed_day(loaded: tuple[Path, list[str]]) -> None:
    root, ids = loaded
    check = completeness(root, BAD_DAY, [*ids, "999999"])
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("2 problem(s): ")
    assert "location 999999, business date 2026-11-03: no files delivered" in check.description
    assert f"location {ids[2]}, business date 2026-11-03: KitchenTimings.csv missing (8 file(s) delivered)" in check.description
    assert ids[1] not in check.description
    deliveries = check.metadata["deliveries"].value
    assert f"| 2026-11-03 | {ids[1]} | closed | 9 | yes | – |" in deliveries
    assert f"| 2026-11-03 | {ids[0]} | delivered | 9 | no | – |" in deliveries
    assert check.metadata["location_days_missing"].value == 1


def stand_in_mart(mart: str, rows: list[dict]) -> dg.AssetsDefinition:
    """What dbt would do for one date: replace the mart's rows (here hand-made)."""

    @dg.asset(key=["toast_marts", mart], partitions_def=DAILY_PARTITIONS)
    def _mart(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
        warehouse.replace_frame("toast_marts", mart, "business_date", [GOOD_DAY], pd.DataFrame(rows))

    return _mart


def daily_row(location: str, **values: float | None) -> dict:
    row = {"business_date": GOOD_DAY, "location_id": location, "orders_count": 3, "voided_orders_count": 0,
           "guests_count": 5, "net_sales": 60.0, "discount_amount": 0.0, "gross_sales": 60.0, "tax_amount": 4.8,
           "tip_amount": 9.0, "gratuity_amount": 0.0, "avg_order_value": 20.0}  # fmt: skip
    return {**row, **values}


@pytest.mark.parametrize(
    ("rows", "passed"),
    [
        ([daily_row("185129"), daily_row("185130", orders_count=0, net_sales=0.0, gross_sales=0.0, avg_order_value=None)], True),
        ([daily_row("185129", tip_amount=-9.0), daily_row("185130")], False),
    ],
)
def test_daily_sales_invariants_check(tmp_path: Path, rows: list[dict], passed: bool) -> None:
    check = next(c for c in MART_INVARIANT_CHECKS if dg.AssetKey(["toast_marts", "daily_sales_summary"]) in {k.asset_key for k in c.check_keys})
    result = dg.materialize(
        [stand_in_mart("daily_sales_summary", rows), check],
        partition_key=GOOD_DAY.isoformat(),
        resources={"warehouse": DuckDBWarehouseResource(database=str(tmp_path / "toast.duckdb"))},
    )
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.passed is passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["rows_checked"].value == 2
    if not passed:
        assert evaluation.description == (
            "1 problem(s): daily_sales_summary, location 185129, business date 2026-11-02: discounts, tax, tips and "
            "gratuity are not negative: broken on 1 row(s). Rebuild the date with dbt; if it persists, the model "
            "breaks the mart contract: report it with these rows."
        )
        assert evaluation.metadata["broken_rules"].value == {"amounts_not_negative": 1}


def test_weekly_report_runs_on_an_empty_warehouse(tmp_path: Path) -> None:
    """A fresh deployment: no raw tables, no marts, no reference yet. The report still says so."""
    result = dg.materialize(
        [weekly_quality_report],
        run_config=weekly_run_config(GOOD_DAY),
        resources={
            "warehouse": DuckDBWarehouseResource(database=str(tmp_path / "toast.duckdb")),
            "quality": QualityPolicy(),
            "toast_sftp": ToastSftpResource(host="sftp.invalid", username="unused"),
        },
    )
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert "no location delivered or was expected in these dates" in metadata["report"].value
    assert "quality_score" not in metadata  # nothing was evaluated, so no score to plot
    with duckdb.connect(str(tmp_path / "toast.duckdb"), read_only=True) as conn:
        rows = conn.execute("select check_name, location_id, status from toast_quality.weekly_quality_report").fetchall()
    assert rows == [("quality_score", None, "skipped")] * 7
