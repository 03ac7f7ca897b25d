"""The quality checks and the weekly report, end to end on five weeks of generated exports.

Three locations × 28 days (so the anomaly rules have three same-weekday points of history,
the policy's minimum, before the last week),
with problems injected into the last week with the `csv` module: a location missing a day,
a location with 90% of its orders gone on one date, a closed day, a ragged row, an
unparseable timestamp, non-numeric money, a duplicate key and an order whose total does
not add up. One Dagster run lands nothing new but loads the raw tables, builds the marts
with dbt and evaluates every check over the whole range; then the `weekly_validation` job
reports on the last week. Expected problems come from the injections, never from the
pipeline's tables.
"""

import csv
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from toast_assets.contract import ENTITIES
from toast_assets.demo.generator import generate
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.landing.landing import land
from toast_assets.landing.local_source import LocalExportTree
from toast_assets.quality.checks import QUALITY_CHECKS
from toast_assets.quality.freshness import with_mart_freshness
from toast_assets.quality.mart_invariants import MARTS
from toast_assets.quality.resources import QualityPolicy
from toast_assets.quality.weekly import weekly_quality_report, weekly_run_config, weekly_validation
from toast_assets.raw.assets import toast_raw
from toast_assets.raw.duckdb_warehouse import DuckDBWarehouseResource
from toast_assets.sftp.resources import ToastSftpResource

pytestmark = pytest.mark.timeout(600)

# Monday to Sunday, four weeks: every partition of a range run costs Dagster events, so no more than needed.
START, END = date(2026, 10, 12), date(2026, 11, 8)
WEEK = [END - timedelta(days=6 - i) for i in range(7)]  # 2026-11-02 .. 2026-11-08
SEED, LOCATIONS = 7, 3
DBT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

MISSING_DAY = 1, date(2026, 11, 4)  # (location index, date): the folder is not delivered
SALES_DROP = 2, date(2026, 11, 5)  # 90% of the orders (and their items, modifiers, payments) removed
CLOSED_DAY = 0, date(2026, 11, 6)  # every file header-only
ORDER_TOTAL = 0, date(2026, 11, 2)  # one order's Total off by 5.00
RAGGED_ROW = 0, date(2026, 11, 3)  # a record with three fields in OrderDetails.csv
BAD_TIMESTAMP = 2, date(2026, 11, 3)  # an item's Sent Date in no known format
BAD_MONEY = 0, date(2026, 11, 7)  # a payment Amount that is not a number
DUPLICATE_KEY = 2, date(2026, 11, 7)  # a cash entry repeated
ORDER_TOTAL_TEST = dg.AssetCheckKey(dg.AssetKey(["toast_staging", "stg_toast__order_details"]), "order_total_equals_amount_tax_tip_gratuity")


@dataclass
class Pipeline:
    export_ids: list[str]
    duckdb_path: Path
    instance: dg.DagsterInstance
    daily: dg.ExecuteInProcessResult
    weekly: dg.ExecuteInProcessResult
    defs: dg.Definitions


def read_csv(path: Path) -> tuple[list[list[str]], bool]:
    raw = path.read_bytes()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.reader(handle)), raw.startswith(b"\xef\xbb\xbf")


def write_csv(path: Path, rows: list[list[str]], bom: bool) -> None:
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def edit(folder: Path, file_name: str, change: Callable[[list[str], list[list[str]]], list[list[str]]]) -> None:
    rows, bom = read_csv(folder / file_name)
    header = rows[0]
    write_csv(folder / file_name, [header, *change(header, rows[1:])], bom)


def inject_problems(export: Path, ids: list[str]) -> None:
    def folder(where: tuple[int, date]) -> Path:
        return export / ids[where[0]] / f"{where[1]:%Y%m%d}"

    shutil.rmtree(folder(MISSING_DAY))

    drop = folder(SALES_DROP)
    orders, _ = read_csv(drop / "OrderDetails.csv")
    order_id = orders[0].index("Order Id")
    keep = {row[order_id] for row in orders[1 : 1 + max(1, (len(orders) - 1) // 10)]}
    for name in ("OrderDetails.csv", "ItemSelectionDetails.csv", "ModifiersSelectionDetails.csv", "PaymentDetails.csv"):
        edit(drop, name, lambda header, rows: [r for r in rows if r[header.index("Order Id")] in keep])

    for path in folder(CLOSED_DAY).iterdir():
        edit(path.parent, path.name, lambda header, rows: [])

    def off_by_five(header: list[str], rows: list[list[str]]) -> list[list[str]]:
        total = header.index("Total")
        rows[0][total] = f"{float(rows[0][total]) + 5:.2f}"
        return rows

    edit(folder(ORDER_TOTAL), "OrderDetails.csv", off_by_five)
    edit(folder(RAGGED_ROW), "OrderDetails.csv", lambda header, rows: [*rows, ["ragged", "row", "here"]])

    def bad_timestamp(header: list[str], rows: list[list[str]]) -> list[list[str]]:
        rows[0][header.index("Sent Date")] = "31/31/26 25:99"
        return rows

    edit(folder(BAD_TIMESTAMP), "ItemSelectionDetails.csv", bad_timestamp)

    def bad_money(header: list[str], rows: list[list[str]]) -> list[list[str]]:
        rows[0][header.index("Amount")] = "twelve"
        return rows

    edit(folder(BAD_MONEY), "PaymentDetails.csv", bad_money)
    edit(folder(DUPLICATE_KEY), "CashEntries.csv", lambda header, rows: [*rows, rows[0]])


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    root = tmp_path_factory.mktemp("quality_pipeline")
    export, duckdb_path, lake_root = root / "export", root / "warehouse.duckdb", root / "lake"
    summary = generate(export, START, END, locations=LOCATIONS, seed=SEED, orders_per_day=(20, 40))
    inject_problems(export, summary.export_ids)
    lake = LocalLakeResource(root=str(lake_root))
    land(LocalExportTree(export), lake, summary.dates)

    with pytest.MonkeyPatch.context() as env:
        env.setenv("TOAST_DUCKDB_PATH", str(duckdb_path))
        env.setenv("TOAST_DBT_TARGET", "duckdb")
        if not (DBT_DIR / "target" / "manifest.json").exists():
            # What the build step does (`dagster-dbt project prepare-and-package`).
            subprocess.run(
                [str(Path(sys.executable).with_name("dbt")), "parse", "--quiet", "--project-dir", str(DBT_DIR),
                 "--profiles-dir", str(DBT_DIR), "--target", "duckdb"],
                check=True, capture_output=True, timeout=300,
            )  # fmt: skip
        from toast_assets.dbt.assets import toast_dbt_assets
        from toast_assets.dbt.resources import dbt_resource

        resources = {
            "lake": lake,
            "warehouse": DuckDBWarehouseResource(database=str(duckdb_path)),
            # The injected bad rows are a larger share of these small files than a real day's:
            # quarantine must not hold the marts back here (the weekly report still fails them).
            "quality": QualityPolicy(quarantine_threshold=0.01),
            "toast_sftp": ToastSftpResource(host="sftp.invalid", username="unused"),
            "dbt": dbt_resource(),
        }
        instance = dg.DagsterInstance.ephemeral()
        dbt_assets = with_mart_freshness(toast_dbt_assets)
        assets = [toast_raw, dbt_assets, weekly_quality_report]
        # The raw tables, the three marts and what they are built from, every quality check, and
        # of the dbt tests only the one an injected problem trips (each check costs the run time).
        marts = dg.AssetSelection.assets(*(["toast_marts", mart] for mart in MARTS)).upstream()
        selection = (
            (dg.AssetSelection.assets(toast_raw) | marts) - dg.AssetSelection.checks_for_assets(dbt_assets)
        ) | dg.AssetSelection.checks(*QUALITY_CHECKS, ORDER_TOTAL_TEST)
        daily = dg.materialize(
            [toast_raw, dbt_assets, *QUALITY_CHECKS],
            selection=selection,
            resources=resources,
            instance=instance,
            tags={"dagster/asset_partition_range_start": START.isoformat(), "dagster/asset_partition_range_end": END.isoformat()},
        )
        defs = dg.Definitions(assets=assets, asset_checks=QUALITY_CHECKS, jobs=[weekly_validation], resources=resources)
        weekly = defs.resolve_job_def("weekly_validation").execute_in_process(run_config=weekly_run_config(END), instance=instance)
        yield Pipeline(summary.export_ids, duckdb_path, instance, daily, weekly, defs)


def evaluation(result: dg.ExecuteInProcessResult, asset: str, name: str) -> dg.AssetCheckEvaluation:
    matches = [e for e in result.get_asset_check_evaluations() if e.asset_key.to_user_string() == asset and e.check_name == name]
    assert len(matches) == 1, f"{asset}:{name} evaluated {len(matches)} time(s)"
    return matches[0]


def text(e: dg.AssetCheckEvaluation, key: str) -> str:
    return e.metadata[key].value if hasattr(e.metadata[key], "value") else str(e.metadata[key])


def report(pipeline: Pipeline) -> str:
    return pipeline.weekly.get_asset_materialization_events()[0].materialization.metadata["report"].value


def test_warnings_do_not_stop_the_marts(pipeline: Pipeline) -> None:
    assert pipeline.daily.success
    built = {e.asset_key.to_user_string() for e in pipeline.daily.get_asset_materialization_events()}
    assert {"toast_marts/daily_sales_summary", "toast_marts/product_performance", "toast_marts/store_performance"} <= built
    for asset, name in (("toast_raw/file_manifest", "files_complete"), ("toast_marts/daily_sales_summary", "volumes_within_history")):
        check = evaluation(pipeline.daily, asset, name)
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN, name
    # The raw contract held (threshold raised above): the marts were not held back by it.
    assert all(evaluation(pipeline.daily, f"toast_raw/{e}", "contract_valid").passed for e in ENTITIES)


def test_completeness_reports_the_missing_day_and_the_closed_day(pipeline: Pipeline) -> None:
    ids = pipeline.export_ids
    check = evaluation(pipeline.daily, "toast_raw/file_manifest", "files_complete")
    missing = f"location {ids[MISSING_DAY[0]]}, business date {MISSING_DAY[1].isoformat()}: no files delivered"
    assert missing in check.description
    deliveries = text(check, "deliveries")
    assert f"| {MISSING_DAY[1].isoformat()} | {ids[MISSING_DAY[0]]} | no files |" in deliveries
    assert f"| {CLOSED_DAY[1].isoformat()} | {ids[CLOSED_DAY[0]]} | closed | 9 | yes |" in deliveries
    assert check.metadata["location_days_missing"].value == 1
    # The generator's own traps in the first week: a closed day and a missing KitchenTimings.csv.
    assert check.metadata["location_days_closed"].value == 2
    assert "KitchenTimings.csv missing" in text(check, "problem_list")


def test_anomalies_flag_the_sales_drop_and_the_stopped_delivery(pipeline: Pipeline) -> None:
    ids = pipeline.export_ids
    check = evaluation(pipeline.daily, "toast_marts/daily_sales_summary", "volumes_within_history")
    problems = text(check, "problem_list")
    drop = f"location {ids[SALES_DROP[0]]}, {SALES_DROP[1]:%A} {SALES_DROP[1].isoformat()}: drop"
    assert f"{drop} (-9" in problems and "net sales" in problems and "orders" in problems
    assert f"location {ids[MISSING_DAY[0]]}, {MISSING_DAY[1]:%A} {MISSING_DAY[1].isoformat()}: stopped delivering" in problems
    # The first weeks have no same-weekday history: compared nothing there, and said so.
    assert check.metadata["not_compared_short_history"].value > 0
    assert "History too short" in text(check, "anomalies")


def test_mart_invariants_hold_on_the_built_marts(pipeline: Pipeline) -> None:
    for mart in ("daily_sales_summary", "product_performance", "store_performance"):
        check = evaluation(pipeline.daily, f"toast_marts/{mart}", "invariants_hold")
        assert check.passed, check.description
        assert check.severity == dg.AssetCheckSeverity.ERROR
        assert check.metadata["rows_checked"].value > 0


def test_weekly_report_lists_the_injected_problems(pipeline: Pipeline) -> None:
    assert pipeline.weekly.success
    ids = pipeline.export_ids
    md = report(pipeline)
    assert f"location {ids[MISSING_DAY[0]]}, business date {MISSING_DAY[1].isoformat()}: no files delivered" in md
    assert f"location {ids[MISSING_DAY[0]]}, {MISSING_DAY[1]:%A} {MISSING_DAY[1].isoformat()}: stopped delivering" in md
    assert f"location {ids[SALES_DROP[0]]}, {SALES_DROP[1]:%A} {SALES_DROP[1].isoformat()}: drop" in md
    quarantine = md.split("## Quarantine", 1)[1].split("## Reconciliation", 1)[0]
    for rule in ("wrong_field_count", "timestamp_parses", "decimal_parses", "natural_key_unique"):
        assert f"| {rule} | 1 |" in quarantine, rule
    assert "all " in md.split("## Reconciliation", 1)[1] and "balanced" in md
    recorded = md.split("## Recorded dbt tests and business rules", 1)[1].split("## Daily net sales", 1)[0]
    # The range run's dbt test stands for every date it built (dbt does not say which date failed).
    week = f"{WEEK[0].isoformat()} to {WEEK[-1].isoformat()}"
    assert f"| order_total_equals_amount_tax_tip_gratuity | WARN | {week} | 1 |" in recorded
    # Per location: the closed day is counted as closed, the missing day as a day without files.
    per_location = md.split("## Per location", 1)[1].split("##", 1)[0].splitlines()
    cells = {loc: next(line for line in per_location if line.startswith(f"| {loc} |")).split(" | ") for loc in ids}
    assert cells[ids[CLOSED_DAY[0]]][5] == "1"  # closed days
    assert cells[ids[MISSING_DAY[0]]][6] == "1"  # days without files
    assert "## Daily net sales" in md and "all locations" in md


def test_weekly_table_has_checks_and_scores_per_location_and_date(pipeline: Pipeline) -> None:
    ids = pipeline.export_ids
    with duckdb.connect(str(pipeline.duckdb_path), read_only=True) as conn:
        dates = [r[0] for r in conn.execute("select distinct business_date from toast_quality.weekly_quality_report order by 1").fetchall()]
        scores = dict(
            ((loc, d), value)
            for loc, d, value in conn.execute(
                "select location_id, business_date, value from toast_quality.weekly_quality_report where check_name = 'quality_score'"
            ).fetchall()
        )
        statuses = dict(
            ((check, loc, d), status)
            for check, loc, d, status in conn.execute(
                "select check_name, location_id, business_date, status from toast_quality.weekly_quality_report "
                "where subject in ('location day', 'delivery')"
            ).fetchall()
        )
        quarantined = conn.execute(
            "select location_id, business_date, subject, status from toast_quality.weekly_quality_report "
            "where check_name = 'rows_quarantined' and status <> 'pass' order by 2, 1"
        ).fetchall()
        rows_before = conn.execute("select count(*) from toast_quality.weekly_quality_report").fetchone()[0]
    assert dates == WEEK
    missing = (ids[MISSING_DAY[0]], MISSING_DAY[1])
    assert scores[missing] == 0.0
    assert scores[(ids[CLOSED_DAY[0]], CLOSED_DAY[1])] == 1.0
    assert 0 < scores[(ids[SALES_DROP[0]], SALES_DROP[1])] < 1
    assert all(scores[(None, d)] is not None for d in WEEK)
    assert statuses[("files_complete", *missing)] == "warn"
    assert statuses[("volumes_within_history", *missing)] == "warn"
    assert statuses[("files_complete", ids[CLOSED_DAY[0]], CLOSED_DAY[1])] == "pass"
    assert {(loc, d, subject) for loc, d, subject, _ in quarantined} == {
        (ids[RAGGED_ROW[0]], RAGGED_ROW[1], "OrderDetails.csv"),
        (ids[BAD_TIMESTAMP[0]], BAD_TIMESTAMP[1], "ItemSelectionDetails.csv"),
        (ids[BAD_MONEY[0]], BAD_MONEY[1], "PaymentDetails.csv"),
        (ids[DUPLICATE_KEY[0]], DUPLICATE_KEY[1], "CashEntries.csv"),
    }
    metadata = pipeline.weekly.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["quality_score"].value < 1
    assert {f"quality_score/{loc}" for loc in ids} <= set(metadata)
    assert metadata["rows_quarantined"].value == 4 and metadata["recorded_checks_not_passing"].value >= 1

    # A rerun for the same week replaces its rows instead of adding to them.
    again = pipeline.defs.resolve_job_def("weekly_validation").execute_in_process(run_config=weekly_run_config(END), instance=pipeline.instance)
    assert again.success
    with duckdb.connect(str(pipeline.duckdb_path), read_only=True) as conn:
        assert conn.execute("select count(*) from toast_quality.weekly_quality_report").fetchone()[0] == rows_before
