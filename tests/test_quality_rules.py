"""The quality rules as pure functions: a minimal bad input that trips each, a good one that passes.

Frames are written by hand in the shape the warehouse returns; every expected number is
worked out here, not read from the code under test.
"""

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from toast_assets.quality.anomalies import (
    ANOMALIES,
    anomaly_findings,
    evaluate_anomalies,
    location_day_metrics,
    robust_z,
)
from toast_assets.quality.completeness import (
    ALWAYS_ON_FILES,
    COMPLETENESS,
    OPTIONAL_FILES,
    closed_location_days,
    completeness_markdown,
    evaluate_completeness,
    evaluate_quarantine,
    evaluate_reconciliation,
    expected_locations,
    normalize_manifest,
)
from toast_assets.quality.findings import FAILED, PASS, SKIPPED, WARNED, Finding, findings_frame
from toast_assets.quality.mart_invariants import (
    MART_INVARIANTS,
    evaluate_daily_sales,
    evaluate_product_performance,
    evaluate_store_performance,
    mart_invariant_findings,
)
from toast_assets.quality.resources import QualityPolicy
from toast_assets.quality.scoring import location_scores, quality_scores, score_findings, weighted_share
from toast_assets.raw.duckdb_warehouse import DuckDBWarehouseResource
from toast_assets.raw.warehouse import Reconciliation

MONDAY = date(2026, 11, 9)
A, B, C = "185129", "185130", "185131"
POLICY = QualityPolicy()


def manifest(*days: tuple[str, date], status: str = "loaded", rows: int = 10, skip: tuple[str, ...] = (), extra: list[dict] | None = None) -> pd.DataFrame:
    """Manifest rows: every always-on file (minus `skip`) for each (location, date)."""
    records = [
        {"entity": entity, "location_id": location, "business_date": d, "file_name": name,
         "source_file": f"toast/{entity}/business_date={d}/location={location}/{name}",
         "source_rows": 0 if status == "empty" else rows, "loaded_rows": 0 if status == "empty" else rows,
         "quarantined_rows": 0, "status": status, "rejection": None}
        for location, d in days for entity, name in ALWAYS_ON_FILES.items() if name not in skip
    ]  # fmt: skip
    return normalize_manifest(pd.DataFrame([*records, *(extra or [])]))


def by_location(findings: list[Finding], check: str | None = None) -> dict[tuple[str | None, date, str], Finding]:
    return {(f.location_id, f.business_date, f.subject): f for f in findings if check is None or f.check == check}


# ---------------------------------------------------------------------------------------------
# Completeness, reconciliation, quarantine
# ---------------------------------------------------------------------------------------------


def test_completeness_tells_delivered_closed_partial_and_missing_apart() -> None:
    frame = pd.concat([
        manifest((A, MONDAY)),
        manifest((B, MONDAY), status="empty"),
        manifest((C, MONDAY), skip=("KitchenTimings.csv",)),
    ])  # fmt: skip
    expected = {MONDAY: frozenset({A, B, C, "999999"})}
    findings = by_location(evaluate_completeness([MONDAY], expected, frame), COMPLETENESS)
    assert findings[(A, MONDAY, "location day")].status == PASS
    closed = findings[(B, MONDAY, "location day")]
    assert closed.status == PASS and closed.figures["state"] == "closed"
    assert closed.message == f"location {B}, business date 2026-11-09: closed: all 8 file(s) arrived header-only."
    partial = findings[(C, MONDAY, "location day")]
    assert partial.status == WARNED and partial.figures["missing_files"] == ["KitchenTimings.csv"]
    assert partial.message.startswith(f"location {C}, business date 2026-11-09: KitchenTimings.csv missing (7 file(s) delivered).")
    missing = findings[("999999", MONDAY, "location day")]
    assert missing.status == WARNED and "no files delivered" in missing.message and "/999999/20261109/" in missing.message
    table = completeness_markdown(list(findings.values()))
    assert f"| 2026-11-09 | {B} | closed | 8 | yes | – |" in table
    assert "| 2026-11-09 | 999999 | no files | 0 | no |" in table


def test_completeness_passes_when_everything_arrived_and_time_entries_are_optional() -> None:
    assert "TimeEntries.csv" in OPTIONAL_FILES.values() and len(ALWAYS_ON_FILES) == 8
    findings = evaluate_completeness([MONDAY], {MONDAY: frozenset({A, B})}, manifest((A, MONDAY), (B, MONDAY)))
    assert [f.status for f in findings] == [PASS, PASS]


def test_expected_locations_come_from_config_else_reference_and_recent_deliveries() -> None:
    reference = pd.DataFrame({"export_id": [A, B], "opened_on": [date(2020, 1, 1), MONDAY + timedelta(days=1)]})
    history = manifest((C, MONDAY - timedelta(days=3)), ("777777", MONDAY - timedelta(days=40)))
    assert expected_locations([MONDAY], [A], reference, history, 28) == {MONDAY: frozenset({A})}
    # B opens tomorrow; 777777 last delivered 40 days ago, outside the 28-day look-back.
    assert expected_locations([MONDAY], [], reference, history, 28) == {MONDAY: frozenset({A, C})}


def test_closed_days_are_location_days_with_only_header_only_files() -> None:
    frame = pd.concat([manifest((A, MONDAY), status="empty"), manifest((B, MONDAY)), manifest((C, MONDAY), status="empty", skip=("OrderDetails.csv",))])
    assert closed_location_days(frame) == {(A, MONDAY), (C, MONDAY)}


def test_reconciliation_fails_a_file_whose_rows_are_not_all_accounted_for() -> None:
    good = Reconciliation("order_details", A, "2026-11-09", "OrderDetails.csv", 120, 118, 2)
    bad = Reconciliation("order_details", B, "2026-11-09", "OrderDetails.csv", 120, 100, 10)
    findings = evaluate_reconciliation([good, bad])
    assert [f.status for f in findings] == [PASS, FAILED]
    assert findings[0].message == f"OrderDetails.csv of location {A}, business date 2026-11-09: 120 source rows = 118 loaded + 2 quarantined"
    assert "(+10 unaccounted)" in findings[1].message and findings[1].severity == "error"


def test_quarantine_warns_below_the_threshold_and_fails_above_it_or_on_a_rejected_file() -> None:
    frame = manifest((A, MONDAY), rows=1000)
    files = frame.set_index("file_name")["source_file"]
    rejected = {"entity": "cash_entries", "location_id": B, "business_date": MONDAY, "file_name": "CashEntries.csv",
                "source_file": "toast/cash_entries/x/CashEntries.csv", "source_rows": 4, "loaded_rows": 0,
                "quarantined_rows": 4, "status": "rejected", "rejection": "required column 'Entry Id' missing"}  # fmt: skip
    frame = pd.concat([frame, normalize_manifest(pd.DataFrame([rejected]))], ignore_index=True)
    quarantine = pd.DataFrame(
        [
            {"source_file": files["OrderDetails.csv"], "row_number": 7, "rule": "wrong_field_count"},
            *({"source_file": files["PaymentDetails.csv"], "row_number": n, "rule": "decimal_parses;timestamp_parses"} for n in range(1, 4)),
        ]
    )
    findings = {f.subject: f for f in evaluate_quarantine(frame, quarantine, threshold=0.002)}
    assert findings["CheckDetails.csv"].status == PASS
    assert findings["OrderDetails.csv"].status == WARNED and "1 of 1000 rows quarantined (0.10%, within" in findings["OrderDetails.csv"].message
    payments = findings["PaymentDetails.csv"]
    assert payments.status == FAILED and payments.figures["rules"] == {"decimal_parses": 3, "timestamp_parses": 3}
    assert "3 of 1000 rows quarantined (0.30%, above the 0.20% threshold): decimal_parses (3), timestamp_parses (3)" in payments.message
    cash = findings["CashEntries.csv"]
    assert cash.status == FAILED and cash.message.startswith(f"CashEntries.csv of location {B}, business date 2026-11-09: file rejected")


# ---------------------------------------------------------------------------------------------
# Anomalies
# ---------------------------------------------------------------------------------------------


def history_frames(values: dict[str, list[float | None]], today: dict[str, float | None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily rows for each location: `values` are the previous weeks' Mondays (oldest first)."""
    rows, days = [], []
    for location, history in values.items():
        weeks = [*history, today.get(location)]
        for back, value in enumerate(reversed(weeks)):
            d = MONDAY - timedelta(days=7 * back)
            if value is None:
                continue
            rows.append({"location_id": location, "business_date": d, "net_sales": value, "orders_count": value / 20})
            days.append((location, d))
    return pd.DataFrame(rows), manifest(*days)


def anomalies(values: dict[str, list[float | None]], today: dict[str, float | None], policy: QualityPolicy = POLICY) -> dict:
    daily, frame = history_frames(values, today)
    return by_location(evaluate_anomalies([MONDAY], location_day_metrics(daily, frame), frame, policy), ANOMALIES)


def test_robust_z_uses_median_and_mad_with_a_floor() -> None:
    median, mad, used, z = robust_z(10, [100, 102, 98, 104, 96], mad_floor=0.1)
    assert (median, mad, used) == (100, 2, 10.0)  # MAD 2 floored at 10% of the median
    assert z == pytest.approx(0.6745 * (10 - 100) / 10)
    assert robust_z(130, [100, 140, 60, 100, 100], mad_floor=0.01)[1:] == (0, 1.0, pytest.approx(0.6745 * 30))


def test_a_90_percent_drop_is_flagged_with_its_numbers() -> None:
    findings = anomalies({A: [1000, 1040, 980, 1010]}, {A: 100})
    drop = findings[(A, MONDAY, "net sales")]
    assert drop.status == WARNED and drop.figures["direction"] == "drop"
    assert drop.figures["expected"] == 1005 and drop.figures["history_points"] == 4
    assert drop.message.startswith(
        f"location {A}, Monday 2026-11-09: drop (-90%): net sales 100.00 against a median of 1,005.00 over the last 4 Mondays"
    )
    assert "ask the store whether it closed early" in drop.message
    assert findings[(A, MONDAY, "orders")].status == WARNED


def test_a_flat_history_does_not_flag_a_small_change_and_a_spike_is_flagged() -> None:
    assert anomalies({A: [1000, 1000, 1000, 1000]}, {A: 1080})[(A, MONDAY, "net sales")].status == PASS
    spike = anomalies({A: [1000, 1000, 1000, 1000]}, {A: 2500})[(A, MONDAY, "net sales")]
    assert spike.status == WARNED and spike.figures["direction"] == "spike" and "spike (+150%)" in spike.message


def test_too_short_a_history_is_said_not_flagged() -> None:
    short = anomalies({A: [1000, 1000]}, {A: 10})[(A, MONDAY, "net sales")]
    assert short.status == SKIPPED
    assert short.message == f"location {A}, Monday 2026-11-09: net sales 10.00: history too short (2 earlier Monday(s), needs 3), not compared"
    # A location's first day ever: nothing to compare with, and the check still runs.
    first = anomalies({A: []}, {A: 10})
    assert {f.status for f in first.values()} == {SKIPPED} and "history too short (0 earlier Monday(s)" in first[(A, MONDAY, "orders")].message


def test_a_location_that_stops_delivering_is_flagged() -> None:
    findings = anomalies({A: [1000, 1000, 1000], B: [500, 500, 500]}, {A: 1000})
    stopped = findings[(B, MONDAY, "delivery")]
    assert stopped.status == WARNED
    assert stopped.message.startswith(f"location {B}, Monday 2026-11-09: stopped delivering: no files, although it delivered on 3 of the previous 6 Mondays")
    assert findings[(A, MONDAY, "net sales")].status == PASS


def test_a_closed_day_is_not_compared_and_not_used_as_history() -> None:
    daily, frame = history_frames({A: [1000, 1000, 1000, 0]}, {A: 0})
    closed = pd.concat([frame[frame["business_date"] < MONDAY - timedelta(days=7)],
                        manifest((A, MONDAY - timedelta(days=7)), (A, MONDAY), status="empty")])  # fmt: skip
    findings = by_location(evaluate_anomalies([MONDAY], location_day_metrics(daily, closed), closed, POLICY))
    assert findings[(A, MONDAY, "delivery")].status == PASS and "closed" in findings[(A, MONDAY, "delivery")].message
    assert (A, MONDAY, "net sales") not in findings


def test_row_counts_count_a_missing_file_as_zero_rows() -> None:
    frame = pd.concat([manifest((A, MONDAY - timedelta(days=7)), rows=50), manifest((A, MONDAY), rows=50, skip=("KitchenTimings.csv",))])
    metrics = location_day_metrics(pd.DataFrame(columns=["location_id", "business_date", "net_sales", "orders_count"]), frame)
    today = metrics[(metrics["business_date"] == MONDAY)].set_index("metric")["value"]
    assert today["kitchen_timings rows"] == 0 and today["order_details rows"] == 50


# ---------------------------------------------------------------------------------------------
# Mart invariants
# ---------------------------------------------------------------------------------------------


def daily_row(location: str = A, d: date = MONDAY, **values: float) -> dict:
    row = {"business_date": d, "location_id": location, "orders_count": 4, "voided_orders_count": 1, "guests_count": 7,
           "net_sales": 100.0, "discount_amount": 5.0, "gross_sales": 105.0, "tax_amount": 8.0, "tip_amount": 15.0,
           "gratuity_amount": 0.0, "avg_order_value": 25.0}  # fmt: skip
    return {**row, **values}


def test_daily_sales_invariants_pass_on_good_rows_and_name_the_broken_rule() -> None:
    good = pd.DataFrame([daily_row(), daily_row(B, orders_count=0, voided_orders_count=0, net_sales=0.0, avg_order_value=None)])
    delivered = manifest((A, MONDAY), (B, MONDAY))
    assert [f.status for f in evaluate_daily_sales(good, delivered, [MONDAY])] == [PASS, PASS]

    bad = pd.DataFrame([daily_row(orders_count=-1), daily_row(B, orders_count=0, net_sales=12.5)])
    findings = by_location(evaluate_daily_sales(bad, delivered, [MONDAY]))
    negative = findings[(A, MONDAY, "daily_sales_summary")]
    assert negative.status == FAILED and negative.severity == "error" and negative.check == MART_INVARIANTS
    assert negative.message.startswith(
        f"daily_sales_summary, location {A}, business date 2026-11-09: orders, voided orders and guests are not negative: broken on 1 row(s)"
    )
    assert "a day without orders has no net sales" in findings[(B, MONDAY, "daily_sales_summary")].message


def test_a_delivered_location_day_without_a_daily_row_fails() -> None:
    findings = evaluate_daily_sales(pd.DataFrame([daily_row()]), manifest((A, MONDAY), (B, MONDAY), status="empty"), [MONDAY])
    missing = by_location(findings)[(B, MONDAY, "daily_sales_summary")]
    assert missing.status == FAILED and "no row, although the location delivered files that day" in missing.message


def product_row(item: str, net: float, share: float | None, orders: int = 2, **values: float) -> dict:
    return {"business_date": MONDAY, "location_id": A, "menu_item": item, "quantity_sold": 2.0, "net_sales": net,
            "voided_quantity": 0.0, "orders_count": orders, "share_of_location_net_sales": share, **values}  # fmt: skip


def test_product_shares_must_lie_in_0_1_and_add_up_to_1() -> None:
    daily = pd.DataFrame([daily_row()])
    good = pd.DataFrame([product_row("Burger", 60.0, 0.6), product_row("Fries", 40.0, 0.4)])
    assert [f.status for f in evaluate_product_performance(good, daily)] == [PASS]
    bad = pd.DataFrame([product_row("Burger | Deluxe", 60.0, 1.2), product_row("Fries", 40.0, 0.4, orders=9)])
    finding = evaluate_product_performance(bad, daily)[0]
    assert finding.status == FAILED
    assert "share_of_location_net_sales lies in [0, 1]: broken on 1 row(s), e.g. 'Burger | Deluxe'" in finding.message
    assert "shares add up to 1 per location-day with net sales" in finding.message
    assert "an item is in no more orders than the location had that day: broken on 1 row(s), e.g. 'Fries'" in finding.message
    assert finding.figures["broken"] == {"share_between_0_and_1": 1, "shares_add_up_to_1": 2, "item_orders_within_location_orders": 1}


def store_row(d: date = MONDAY, **values: float | None) -> dict:
    row = {"business_date": d, "location_id": A, "net_sales": 100.0, "orders_count": 4, "avg_order_value": 25.0,
           "net_sales_7d": 100.0 + 6 * 50.0, "net_sales_vs_prior_week": 50.0, "tip_rate": 0.15, "card_payment_share": 0.8,
           "avg_ticket_minutes": 12.5, "labor_hours": 20.0, "labor_cost": 300.0, "labor_cost_pct": 3.0,
           "sales_per_labor_hour": 5.0}  # fmt: skip
    return {**row, **values}


def store_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The day (100.00) and the seven days before it (50.00 each) in the daily mart and manifest."""
    days = [MONDAY - timedelta(days=k) for k in range(8)]
    daily = pd.DataFrame([daily_row(d=d, net_sales=100.0 if d == MONDAY else 50.0, avg_order_value=25.0 if d == MONDAY else 12.5) for d in days])
    return daily, manifest(*((A, d) for d in days))


def test_store_invariants_recompute_the_rolling_week_and_the_ratios() -> None:
    daily, delivered = store_inputs()
    assert [f.status for f in evaluate_store_performance(pd.DataFrame([store_row()]), daily, delivered)] == [PASS]
    bad = pd.DataFrame([store_row(net_sales_7d=100.0, labor_cost_pct=0.3, tip_rate=None)])
    finding = evaluate_store_performance(bad, daily, delivered)[0]
    assert finding.status == FAILED
    assert set(finding.figures["broken"]) == {
        "net_sales_7d_is_rolling_week", "labor_cost_pct_is_cost_over_net_sales", "tip_rate_is_tips_over_net_sales",
    }  # fmt: skip
    assert "net_sales_7d = daily net sales summed over the 7 dates ending that day: broken on 1 row(s)" in finding.message


def test_store_rolling_week_is_not_judged_when_a_delivered_day_was_never_built() -> None:
    daily, delivered = store_inputs()
    unbuilt = daily[daily["business_date"] != MONDAY - timedelta(days=3)]
    # With a delivered but unbuilt day the rolling sum cannot be recomputed: not judged.
    assert [f.status for f in evaluate_store_performance(pd.DataFrame([store_row(net_sales_7d=999.0)]), unbuilt, delivered)] == [PASS]
    # A day without any delivery adds nothing: the sum is 50.00 smaller and must be.
    undelivered = delivered[delivered["business_date"] != MONDAY - timedelta(days=3)]
    assert evaluate_store_performance(pd.DataFrame([store_row()]), unbuilt, undelivered)[0].status == FAILED
    assert evaluate_store_performance(pd.DataFrame([store_row(net_sales_7d=350.0)]), unbuilt, undelivered)[0].status == PASS


def test_a_mart_missing_a_contract_column_fails_for_its_dates() -> None:
    daily = pd.DataFrame([daily_row()]).drop(columns=["tip_amount"])
    [finding] = evaluate_daily_sales(daily, manifest((A, MONDAY)), [MONDAY])
    assert finding.status == FAILED and finding.location_id is None and "column(s) tip_amount missing" in finding.message


def test_mart_invariants_read_the_marts_through_the_warehouse(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouseResource(database=str(tmp_path / "toast.duckdb"))
    daily, delivered = store_inputs()
    warehouse.replace_frame("toast_marts", "daily_sales_summary", "business_date", list(daily["business_date"]), daily)
    warehouse.replace_frame("toast_raw", "file_manifest", "business_date", list(set(delivered["business_date"])), delivered)
    warehouse.replace_frame("toast_marts", "store_performance", "business_date", [MONDAY], pd.DataFrame([store_row(labor_cost_pct=0.5)]))
    [store] = mart_invariant_findings(warehouse, "store_performance", [MONDAY])
    assert store.status == FAILED and list(store.figures["broken"]) == ["labor_cost_pct_is_cost_over_net_sales"]
    assert [f.status for f in mart_invariant_findings(warehouse, "daily_sales_summary", [MONDAY])] == [PASS]
    # No product rows for the date: nothing to judge.
    assert mart_invariant_findings(warehouse, "product_performance", [MONDAY]) == []
    # The anomaly rule reads the same tables: four earlier Mondays are not there, so it says so.
    assert {f.status for f in anomaly_findings(warehouse, [MONDAY], POLICY)} == {SKIPPED}


# ---------------------------------------------------------------------------------------------
# Scores and the findings table
# ---------------------------------------------------------------------------------------------


def finding(check: str, severity: str, status: str, location: str | None = A, d: date = MONDAY, subject: str = "") -> Finding:
    return Finding(check, severity, status, location, d, "message", subject)  # type: ignore[arg-type]


def test_score_weighs_errors_three_times_warnings_and_ignores_skipped() -> None:
    findings = [
        finding("rows_reconciled", "error", PASS, subject="OrderDetails.csv"),
        finding("rows_reconciled", "error", FAILED, subject="PaymentDetails.csv"),  # one failing file fails the check
        finding("files_complete", "warn", PASS),
        finding("volumes_within_history", "warn", SKIPPED),
        finding("order_total_equals_amount_tax_tip_gratuity", "warn", WARNED, location=None),
    ]
    assert quality_scores(findings).to_dict("records") == [
        {"location_id": A, "business_date": MONDAY, "score": 0.25, "checks": 2, "checks_passed": 1}
    ]
    assert location_scores(findings) == {A: 0.25}
    assert weighted_share([]) is None
    rows = {(f.location_id, f.business_date): f for f in score_findings(findings, [MONDAY, MONDAY + timedelta(days=1)])}
    assert rows[(A, MONDAY)].figures["value"] == 0.25 and rows[(A, MONDAY)].status == FAILED
    assert rows[(None, MONDAY)].figures["value"] == pytest.approx(1 / 5)  # the group-wide warning counts for the date
    assert rows[(None, MONDAY + timedelta(days=1))].status == SKIPPED  # always one row per date


def test_findings_table_keeps_its_types_in_the_warehouse_and_replaces_by_date(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouseResource(database=str(tmp_path / "toast.duckdb"))
    rows = [
        Finding("quality_score", "warn", SKIPPED, None, MONDAY, "no checks", "score", {"value": None}),
        Finding("files_complete", "warn", WARNED, A, MONDAY, "no files", "location day", {"value": 0, "expected": 8, "missing_files": ["A.csv"]}),
    ]
    warehouse.replace_frame("toast_quality", "weekly_quality_report", "business_date", [MONDAY], findings_frame(rows))
    warehouse.replace_frame("toast_quality", "weekly_quality_report", "business_date", [MONDAY], findings_frame(rows))
    with duckdb.connect(str(tmp_path / "toast.duckdb"), read_only=True) as conn:
        types = dict(conn.execute("select column_name, data_type from information_schema.columns where table_name = 'weekly_quality_report'").fetchall())
        stored = conn.execute("select location_id, value, expected, figures from toast_quality.weekly_quality_report order by check_name").fetchall()
    assert types["business_date"] == "DATE" and types["location_id"] == "VARCHAR" and types["value"] == "DOUBLE"
    assert stored == [(A, 0.0, 8.0, '{"expected": 8, "missing_files": ["A.csv"], "value": 0}'), (None, None, None, '{"value": null}')]
