"""The marts end to end: demo files -> raw tables -> `dbt build` (through the Dagster assets) -> marts.

Every expected value is computed here from the generated CSV files with the `csv` module and
plain Python, never read back from the warehouse, and compared with every mart row. The demo
tree carries the traps of real exports: voided orders and items, deferred (gift card) items,
discounts, after-midnight orders, a location with reordered columns and an extra column, a
byte-order mark, a closed day (header-only files) and a missing KitchenTimings file.
"""

import csv
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from toast_assets.demo.generator import TrapPlan, generate
from toast_assets.testing import load_raw_from_tree

pytestmark = pytest.mark.timeout(600)

START, END = date(2026, 10, 1), date(2026, 10, 9)  # 9 days: two dates have a prior week in range
LOCATIONS, SEED = 3, 7
DBT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DBT = str(Path(sys.executable).with_name("dbt"))
CENT = Decimal("0.01")

DAILY_COLUMNS = [
    "business_date", "location_id", "location_name", "orders_count", "voided_orders_count", "guests_count",
    "net_sales", "discount_amount", "gross_sales", "tax_amount", "tip_amount", "gratuity_amount", "avg_order_value",
]  # fmt: skip
PRODUCT_COLUMNS = [
    "business_date", "location_id", "menu_item", "menu_group", "sales_category", "quantity_sold", "gross_sales",
    "discount_amount", "net_sales", "voided_quantity", "orders_count", "share_of_location_net_sales",
]  # fmt: skip
STORE_COLUMNS = [
    "business_date", "location_id", "net_sales", "orders_count", "avg_order_value", "net_sales_7d",
    "net_sales_vs_prior_week", "tip_rate", "card_payment_share", "avg_ticket_minutes", "labor_hours", "labor_cost",
    "labor_cost_pct", "sales_per_labor_hour", "cash_over_short",
]  # fmt: skip
MART_KEYS = {
    "daily_sales_summary": ("location_id", "business_date"),
    "product_performance": ("location_id", "business_date", "menu_item"),
    "store_performance": ("location_id", "business_date"),
    "sales_by_slice": ("location_id", "business_date", "slice", "slice_value"),
}

# ---------------------------------------------------------------------------------------------
# Expectations from the CSV files, in plain Python
# ---------------------------------------------------------------------------------------------

TIMESTAMP_FORMATS = ("%m/%d/%y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def money(text: str | None) -> Decimal:
    text = (text or "").replace("$", "").replace(",", "").strip()
    return Decimal(text) if text else Decimal(0)


def flag(text: str | None) -> bool:
    return (text or "").strip().lower() == "true"


def stamp(text: str | None) -> datetime | None:
    text = (text or "").strip()
    for fmt in TIMESTAMP_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def ratio(numerator: Decimal | None, denominator: Decimal | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(numerator / denominator)


def cents(value: Decimal) -> Decimal:
    # Money rounds half up (away from zero), as the marts' SQL and financial reports do.
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def read_rows(folder: Path, file_name: str) -> list[dict[str, str]] | None:
    """Rows of one delivered file keyed by header (any column order), or None when not delivered."""
    path = folder / file_name
    if not path.exists():
        return None
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass
class Expected:
    daily: dict[tuple[str, date], dict]
    products: dict[tuple[str, date, str], dict]
    store: dict[tuple[str, date], dict]
    slices: dict[tuple[str, date, str, str], dict]
    order_opened: dict[tuple[str, date, str], datetime]
    after_midnight_orders: int
    voided_orders: int
    voided_items: int
    deferred_items: int
    discounted_items: int


def expected_marts(export_root: Path, export_ids: list[str], dates: list[date]) -> Expected:
    daily: dict[tuple[str, date], dict] = {}
    products: dict[tuple[str, date, str], dict] = {}
    operations: dict[tuple[str, date], dict] = {}
    order_opened: dict[tuple[str, date, str], datetime] = {}
    slices: dict[tuple[str, date, str, str], dict] = defaultdict(lambda: {"orders_count": 0, "net_sales": Decimal(0)})
    counts = defaultdict(int)
    for location in export_ids:
        for day in dates:
            folder = export_root / location / f"{day:%Y%m%d}"
            if not folder.is_dir():
                continue
            orders = read_rows(folder, "OrderDetails.csv") or []
            items = read_rows(folder, "ItemSelectionDetails.csv") or []
            live = [o for o in orders if not flag(o["Voided"])]
            sold = [i for i in items if not flag(i["Void?"]) and not flag(i["Deferred"])]
            net_by_order: dict[str, Decimal] = defaultdict(Decimal)
            for item in sold:
                net_by_order[item["Order Id"]] += money(item["Net Price"])
            for order in orders:
                opened = stamp(order["Opened"])
                values = {
                    "daypart": order["Service"] or "(none)",
                    "revenue_center": order["Revenue Center"] or "(none)",
                    "dining_option": order["Dining Options"].split(",")[0].strip() or "(none)",
                    "order_source": order["Order Source"] or "(none)",
                    "hour_of_day": f"{opened.hour:02d}",
                }
                for slice_name, value in values.items():
                    entry = slices[(location, day, slice_name, value)]
                    entry["orders_count"] += not flag(order["Voided"])
                    entry["net_sales"] += net_by_order[order["Order Id"]]
                assert opened is not None, order["Opened"]
                order_opened[(location, day, order["Order Id"])] = opened
                counts["after_midnight"] += opened.date() > day
            counts["voided_orders"] += len(orders) - len(live)
            counts["voided_items"] += sum(flag(i["Void?"]) for i in items)
            counts["deferred_items"] += sum(flag(i["Deferred"]) for i in items)
            counts["discounted_items"] += sum(money(i["Discount"]) != 0 for i in sold)

            net = sum((money(i["Net Price"]) for i in sold), Decimal(0))
            discount = sum((money(i["Discount"]) for i in sold), Decimal(0))
            tips = sum((money(o["Tip"]) for o in live), Decimal(0))
            daily[(location, day)] = {
                "orders_count": len(live),
                "voided_orders_count": len(orders) - len(live),
                "guests_count": int(sum((money(o["# of Guests"]) for o in live), Decimal(0))),
                "net_sales": net,
                "discount_amount": discount,
                "gross_sales": net + discount,
                "tax_amount": sum((money(o["Tax"]) for o in live), Decimal(0)),
                "tip_amount": tips,
                "gratuity_amount": sum((money(o["Gratuity"]) for o in live), Decimal(0)),
                "avg_order_value": cents(net / len(live)) if live else None,
            }

            per_item: dict[str, dict] = {}
            for item in items:
                entry = per_item.setdefault(
                    item["Menu Item"],
                    {"groups": set(), "categories": set(), "quantity_sold": Decimal(0), "discount_amount": Decimal(0),
                     "net_sales": Decimal(0), "voided_quantity": Decimal(0), "orders": set()},
                )  # fmt: skip
                entry["groups"].add(item["Menu Group"] or None)
                entry["categories"].add(item["Sales Category"] or None)
                if flag(item["Void?"]):
                    entry["voided_quantity"] += money(item["Qty"])
                elif not flag(item["Deferred"]):
                    entry["quantity_sold"] += money(item["Qty"])
                    entry["discount_amount"] += money(item["Discount"])
                    entry["net_sales"] += money(item["Net Price"])
                    entry["orders"].add(item["Order Id"])
            for name, entry in per_item.items():
                products[(location, day, name)] = {
                    "menu_group": entry["groups"].pop() if len(entry["groups"]) == 1 else None,
                    "sales_category": entry["categories"].pop() if len(entry["categories"]) == 1 else None,
                    "quantity_sold": entry["quantity_sold"],
                    "gross_sales": entry["net_sales"] + entry["discount_amount"],
                    "discount_amount": entry["discount_amount"],
                    "net_sales": entry["net_sales"],
                    "voided_quantity": entry["voided_quantity"],
                    "orders_count": len(entry["orders"]),
                    "share_of_location_net_sales": ratio(entry["net_sales"], net),
                }

            payments = read_rows(folder, "PaymentDetails.csv") or []
            captured = [p for p in payments if p["Status"] == "CAPTURED" and not p["Void Date"]]
            kitchen = read_rows(folder, "KitchenTimings.csv")
            minutes = []
            for ticket in kitchen or []:
                fired, fulfilled = stamp(ticket["Fired Date"]), stamp(ticket["Fulfilled Date"])
                if fired and fulfilled and fulfilled >= fired:
                    minutes.append((fulfilled - fired).total_seconds() / 60)
            shifts = read_rows(folder, "TimeEntries.csv") or []
            cash = [c for c in read_rows(folder, "CashEntries.csv") or [] if c["Action"].startswith("CLOSE_OUT_")]
            sign = {"CLOSE_OUT_EXACT": 0, "CLOSE_OUT_OVERAGE": 1, "CLOSE_OUT_SHORTAGE": -1}
            labor_hours = sum((money(s["Payable Hours"]) for s in shifts), Decimal(0)) if shifts else None
            labor_cost = sum((money(s["Total Pay"]) for s in shifts), Decimal(0)) if shifts else None
            operations[(location, day)] = {
                "tip_rate": ratio(tips, net),
                "card_payment_share": ratio(
                    sum((money(p["Amount"]) for p in captured if p["Type"] in ("Credit", "Debit")), Decimal(0)),
                    sum((money(p["Amount"]) for p in captured), Decimal(0)),
                ),
                "avg_ticket_minutes": sum(minutes) / len(minutes) if minutes else None,
                "labor_hours": labor_hours,
                "labor_cost": labor_cost,
                "labor_cost_pct": ratio(labor_cost, net),
                "sales_per_labor_hour": ratio(net, labor_hours),
                "cash_over_short": sum((sign[c["Action"]] * abs(money(c["Amount"])) for c in cash), Decimal(0)) if cash else None,
            }

    store: dict[tuple[str, date], dict] = {}
    for (location, day), sales in daily.items():
        week = [daily.get((location, day - timedelta(days=back))) for back in range(7)]
        prior = daily.get((location, day - timedelta(days=7)))
        store[(location, day)] = {
            "net_sales": sales["net_sales"],
            "orders_count": sales["orders_count"],
            "avg_order_value": sales["avg_order_value"],
            "net_sales_7d": sum((w["net_sales"] for w in week if w), Decimal(0)),
            "net_sales_vs_prior_week": sales["net_sales"] - prior["net_sales"] if prior else None,
            **operations[(location, day)],
        }
    return Expected(
        daily=daily,
        products=products,
        store=store,
        slices=dict(slices),
        order_opened=order_opened,
        after_midnight_orders=counts["after_midnight"],
        voided_orders=counts["voided_orders"],
        voided_items=counts["voided_items"],
        deferred_items=counts["deferred_items"],
        discounted_items=counts["discounted_items"],
    )


# ---------------------------------------------------------------------------------------------
# Building: the Dagster assets for the whole range, then the dbt CLI for re-runs
# ---------------------------------------------------------------------------------------------


@dataclass
class Built:
    root: Path
    export_root: Path
    duckdb_path: Path
    plan: TrapPlan
    export_ids: list[str]
    dates: list[date]
    expected: Expected
    result: dg.ExecuteInProcessResult


def run_dbt(args: list[str], target_path: Path) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [DBT, *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target", "duckdb",
         "--target-path", str(target_path), "--log-path", str(target_path / "logs")],
        capture_output=True, text=True, env=os.environ.copy(), timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-3000:]
    return completed


def window_vars(first: date, last: date) -> str:
    return json.dumps({"start_date": first.isoformat(), "end_date": last.isoformat()})


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("dbt_marts")
    export_root, duckdb_path = root / "export", root / "warehouse.duckdb"
    summary = generate(export_root, START, END, locations=LOCATIONS, seed=SEED, orders_per_day=(20, 40))
    load_raw_from_tree(export_root, duckdb_path, summary.dates)
    expected = expected_marts(export_root, summary.export_ids, summary.dates)

    with pytest.MonkeyPatch.context() as env:
        env.setenv("TOAST_DUCKDB_PATH", str(duckdb_path))
        env.setenv("TOAST_DBT_TARGET", "duckdb")
        # What the build step does (`dagster-dbt project prepare-and-package`): the manifest
        # must exist before the assets module is imported. Parsed with the run's vars, so the
        # run reuses this parse (dagster-dbt copies partial_parse.msgpack into its target).
        run_dbt(["parse", "--quiet", "--vars", window_vars(START, END)], DBT_DIR / "target")
        from toast_assets.dbt.assets import toast_dbt_assets
        from toast_assets.dbt.resources import dbt_resource

        result = dg.materialize(
            [toast_dbt_assets],
            resources={"dbt": dbt_resource()},
            tags={"dagster/asset_partition_range_start": START.isoformat(), "dagster/asset_partition_range_end": END.isoformat()},
        )
        yield Built(root, export_root, duckdb_path, summary.plan, summary.export_ids, summary.dates, expected, result)


def fetch(duckdb_path: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(duckdb_path), read_only=True) as conn:
        cursor = conn.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def mart(duckdb_path: Path, name: str) -> dict[tuple, dict]:
    rows = fetch(duckdb_path, f"select * from toast_marts.{name}")
    keyed = {tuple(row[k] for k in MART_KEYS[name]): row for row in rows}
    assert len(keyed) == len(rows), f"{name} has duplicate keys"
    return keyed


def assert_close(actual, expected, what: str) -> None:
    if expected is None:
        assert actual is None, f"{what}: expected NULL, got {actual}"
    elif isinstance(expected, float):
        assert actual is not None and abs(float(actual) - expected) < 1e-9 + 1e-6 * abs(expected), f"{what}: {actual} != {expected}"
    elif isinstance(expected, Decimal):
        assert actual is not None and abs(Decimal(str(actual)) - expected) <= Decimal("0.005"), f"{what}: {actual} != {expected}"
    else:
        assert actual == expected, f"{what}: {actual!r} != {expected!r}"


def assert_mart_matches(rows: dict[tuple, dict], expected: dict[tuple, dict], name: str) -> None:
    assert set(rows) == set(expected), f"{name}: keys differ: {sorted(set(rows) ^ set(expected))[:5]}"
    for key, values in expected.items():
        for column, value in values.items():
            assert_close(rows[key][column], value, f"{name}{key}.{column}")


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_dagster_run_builds_every_dbt_asset_and_passes_every_check(built: Built) -> None:
    assert built.result.success
    materialized = {e.asset_key.to_user_string() for e in built.result.get_asset_materialization_events()}
    assert {"toast_marts/daily_sales_summary", "toast_marts/product_performance", "toast_marts/store_performance",
            "toast_staging/stg_toast__order_details", "toast_reference/locations"} <= materialized  # fmt: skip
    evaluations = built.result.get_asset_check_evaluations()
    assert evaluations, "dbt tests should report as asset checks"
    failed = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed]
    assert not failed
    # Column names, types and descriptions reach the asset catalog.
    from toast_assets.dbt.assets import toast_dbt_assets

    spec = toast_dbt_assets.specs_by_key[dg.AssetKey(["toast_marts", "daily_sales_summary"])]
    columns = spec.metadata["dagster/column_schema"].columns
    assert [c.name for c in columns][: len(DAILY_COLUMNS)] == DAILY_COLUMNS
    assert all(c.type and c.description for c in columns)


def test_mart_columns_follow_the_contract(built: Built) -> None:
    for name, columns in (("daily_sales_summary", DAILY_COLUMNS), ("product_performance", PRODUCT_COLUMNS),
                          ("store_performance", STORE_COLUMNS)):  # fmt: skip
        names = [r["column_name"] for r in fetch(built.duckdb_path,
                 f"select column_name from information_schema.columns where table_schema = 'toast_marts' "
                 f"and table_name = '{name}' order by ordinal_position")]  # fmt: skip
        assert [n for n in names if n in columns] == columns, name


def test_demo_tree_has_the_traps_the_marts_must_survive(built: Built) -> None:
    expected, plan = built.expected, built.plan
    assert expected.after_midnight_orders > 0
    assert expected.voided_orders > 0 and expected.voided_items > 0
    assert expected.deferred_items > 0 and expected.discounted_items > 0
    assert plan.closed_day is not None and plan.missing_file is not None and plan.reordered_location is not None
    assert plan.bom_location is not None


def test_daily_sales_summary_matches_the_files(built: Built) -> None:
    rows = mart(built.duckdb_path, "daily_sales_summary")
    assert_mart_matches(rows, built.expected.daily, "daily_sales_summary")
    names = {r["export_id"]: r["location_name"] for r in fetch(built.duckdb_path, "select * from toast_reference.locations")}
    for (location, _), row in rows.items():
        assert row["location_name"] == names[location]
        assert row["is_known_location"] is True


def test_closed_day_is_a_row_of_zeros(built: Built) -> None:
    location, day = built.plan.closed_day
    row = mart(built.duckdb_path, "daily_sales_summary")[(location, day)]
    assert row["orders_count"] == 0 and row["net_sales"] == 0 and row["guests_count"] == 0
    assert row["avg_order_value"] is None
    store = mart(built.duckdb_path, "store_performance")[(location, day)]
    assert store["net_sales"] == 0 and store["tip_rate"] is None and store["labor_hours"] is None
    assert not [k for k in mart(built.duckdb_path, "product_performance") if k[:2] == (location, day)]


def test_missing_kitchen_file_leaves_only_ticket_times_unknown(built: Built) -> None:
    location, day, file_name = built.plan.missing_file
    assert file_name == "KitchenTimings.csv"
    row = mart(built.duckdb_path, "store_performance")[(location, day)]
    assert row["avg_ticket_minutes"] is None
    assert row["net_sales"] > 0 and row["labor_hours"] is not None and row["card_payment_share"] is not None


def test_product_performance_matches_the_files_and_adds_up_to_daily_sales(built: Built) -> None:
    rows = mart(built.duckdb_path, "product_performance")
    expected = {key: {c: v for c, v in values.items() if v is not None or not c.startswith(("menu_", "sales_"))}
                for key, values in built.expected.products.items()}  # fmt: skip
    assert_mart_matches(rows, expected, "product_performance")
    totals: dict[tuple, Decimal] = defaultdict(Decimal)
    for (location, day, _), row in rows.items():
        totals[(location, day)] += row["net_sales"]
    for key, daily in mart(built.duckdb_path, "daily_sales_summary").items():
        assert totals.get(key, Decimal(0)) == daily["net_sales"], key


def test_store_performance_matches_the_files(built: Built) -> None:
    rows = mart(built.duckdb_path, "store_performance")
    assert_mart_matches(rows, built.expected.store, "store_performance")
    # The rolling values of the first days read what exists before them; two dates have a prior week.
    assert sum(r["net_sales_vs_prior_week"] is not None for r in rows.values()) == 2 * LOCATIONS


def test_sales_by_slice_matches_the_files(built: Built) -> None:
    rows = mart(built.duckdb_path, "sales_by_slice")
    assert_mart_matches(rows, built.expected.slices, "sales_by_slice")
    # After-midnight orders are sliced into the small hours of their business date.
    assert any(k[2] == "hour_of_day" and k[3] in ("00", "01") for k in rows)


def test_staging_parses_every_timestamp_style_including_after_midnight(built: Built) -> None:
    opened = {(r["location_id"], r["business_date"], r["order_id"]): r["opened_at"]
              for r in fetch(built.duckdb_path, "select location_id, business_date, order_id, opened_at "
                                                "from toast_staging.stg_toast__order_details")}  # fmt: skip
    assert opened == built.expected.order_opened
    # One timestamp style per file in the demo tree; none may be left unparsed.
    for model, column, raw_table, raw_column in (
        ("stg_toast__payment_details", "paid_at", "payment_details", "paid_date"),
        ("stg_toast__kitchen_timings", "fired_at", "kitchen_timings", "fired_date"),
        ("stg_toast__time_entries", "clock_in_at", "time_entries", "in_date"),
        ("stg_toast__check_details", "opened_at", "check_details", "opened_date"),
    ):
        (parsed,) = fetch(built.duckdb_path, f"select count({column}) as n from toast_staging.{model}")
        (raw,) = fetch(built.duckdb_path, f"select count(nullif(trim({raw_column}), '')) as n from toast_raw.{raw_table}")
        assert parsed["n"] == raw["n"] > 0, model


def test_rebuilding_an_overlapping_range_replaces_exactly_its_window(built: Built) -> None:
    """The last two dates built again after an earlier range, one location's first day of them
    re-delivered as a closed day: every other row keeps one row per key and its values, the
    re-delivered day's rows are replaced (its product rows disappear), and the range's first
    day gets its rolling values from the look-back before the window."""
    before = {name: mart(built.duckdb_path, name) for name in MART_KEYS}
    location, day = built.plan.reordered_location, END - timedelta(days=1)
    folder = built.export_root / location / f"{day:%Y%m%d}"
    for path in folder.glob("*.csv"):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle))
        path.write_text(",".join(header) + "\n", encoding="utf-8")
    load_raw_from_tree(built.export_root, built.duckdb_path, [day], lake_root=built.root / "lake_redelivered")

    # One dbt invocation for the overlapping range, with the mart tests and the dbt unit tests.
    run_dbt(["build", "--select", "+marts", "test_type:unit", "--vars", window_vars(day, END)], built.root / "dbt_target")
    after = {name: mart(built.duckdb_path, name) for name in MART_KEYS}

    changed = {(location, day), (location, END)}
    for name in MART_KEYS:
        unchanged = {k: v for k, v in before[name].items() if (k[0], k[1]) not in changed}
        assert {k for k in after[name] if (k[0], k[1]) not in changed} == set(unchanged), name
        for key, row in unchanged.items():
            for column, value in row.items():
                # Floats (averages, shares) may differ in the last bit with aggregation order.
                expected = float(value) if isinstance(value, float) else value
                assert_close(after[name][key][column], expected, f"{name}{key}.{column}")
    assert not [k for k in after["product_performance"] if k[:2] == (location, day)]
    assert [k for k in before["product_performance"] if k[:2] == (location, day)]
    closed = after["daily_sales_summary"][(location, day)]
    assert closed["orders_count"] == 0 and closed["net_sales"] == 0 and closed["avg_order_value"] is None
    old_net = before["daily_sales_summary"][(location, day)]["net_sales"]
    assert old_net > 0
    last = after["store_performance"][(location, END)]
    assert last["net_sales_7d"] == before["store_performance"][(location, END)]["net_sales_7d"] - old_net
    assert last["net_sales"] == before["store_performance"][(location, END)]["net_sales"]
    assert after["store_performance"][(location, day)]["net_sales_7d"] == (
        before["store_performance"][(location, day)]["net_sales_7d"] - old_net
    )
