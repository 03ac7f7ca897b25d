"""Mart invariants (Pandera, ERROR): identities the three marts must satisfy for the run's dates.

These are the rules a dbt test cannot express well, because they need a look-back, a
group total or a second mart: the 7-day rolling sum really is the sum of the last seven
daily figures (including days built by an earlier run), product shares add up to 1 per
location-day, store ratios are the quotient of the figures they are built from, the
store and daily marts agree, every location-day that delivered files has its daily row.
Identities dbt already tests (`gross_sales = net_sales + discount_amount`, average order
value, `net_sales_7d >= net_sales`, product net sales adding up to the daily figure, unique
keys, not-nulls) are left to dbt.

Each mart's rules form one Pandera `DataFrameSchema` whose dataframe-wide checks return a
boolean per row, so a failure names the exact rows; the evaluators turn them into one
finding per mart, location and business date.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from toast_assets.dbt.translator import SCHEMA_GROUPS
from toast_assets.quality.completeness import delivered_location_days, read_manifest
from toast_assets.quality.findings import ERROR, FAILED, PASS, Finding, as_dates
from toast_assets.raw.warehouse import WarehouseResource

MART_INVARIANTS = "invariants_hold"

# The dbt schema (BigQuery dataset) the marts live in, as the dbt translator keys them.
MARTS_SCHEMA = next(schema for schema, group in SCHEMA_GROUPS.items() if group == "marts")

DAILY_SALES = "daily_sales_summary"
PRODUCT_PERFORMANCE = "product_performance"
STORE_PERFORMANCE = "store_performance"
MARTS = (DAILY_SALES, PRODUCT_PERFORMANCE, STORE_PERFORMANCE)

# Money is stored to the cent: identities hold to within a cent.
CENT = 0.01
RATIO_TOLERANCE = 1e-6
SAMPLES = 3

DAILY_COLUMNS = [
    "business_date", "location_id", "orders_count", "voided_orders_count", "guests_count", "net_sales",
    "discount_amount", "tax_amount", "tip_amount", "gratuity_amount", "avg_order_value",
]  # fmt: skip
PRODUCT_COLUMNS = [
    "business_date", "location_id", "menu_item", "quantity_sold", "net_sales", "voided_quantity", "orders_count",
    "share_of_location_net_sales",
]  # fmt: skip
STORE_COLUMNS = [
    "business_date", "location_id", "net_sales", "orders_count", "avg_order_value", "net_sales_7d",
    "net_sales_vs_prior_week", "tip_rate", "card_payment_share", "avg_ticket_minutes", "labor_hours", "labor_cost",
    "labor_cost_pct", "sales_per_labor_hour",
]  # fmt: skip


@dataclass(frozen=True)
class Invariant:
    """One rule: its name (the Pandera check name), what must hold, and a per-row test that
    is True where the rule holds or does not apply."""

    name: str
    meaning: str
    holds: Callable[[pd.DataFrame], pd.Series]


def _null(s: pd.Series) -> pd.Series:
    return s.isna()


def _at_least(s: pd.Series, low: float) -> pd.Series:
    return s.isna() | (s >= low)


def _between(s: pd.Series, low: float, high: float) -> pd.Series:
    return s.isna() | ((s >= low - RATIO_TOLERANCE) & (s <= high + RATIO_TOLERANCE))


def _close(a: pd.Series, b: pd.Series, tolerance: float | pd.Series = CENT) -> pd.Series:
    return ((a - b).abs() <= tolerance).fillna(False)


def _same(a: pd.Series, b: pd.Series, tolerance: float = CENT) -> pd.Series:
    """Equal within the tolerance, or both NULL."""
    return (_null(a) & _null(b)) | _close(a, b, tolerance)


def _ratio(ratio: pd.Series, numerator: pd.Series, denominator: pd.Series, tolerance: float | pd.Series = CENT) -> pd.Series:
    """ratio = numerator / denominator, NULL when either is NULL or the denominator is 0;
    compared as ratio × denominator = numerator to the cent (the inputs are rounded)."""
    undefined = _null(numerator) | _null(denominator) | (denominator == 0)
    return (undefined & _null(ratio)) | (~undefined & _close(ratio * denominator, numerator, tolerance))


DAILY_INVARIANTS: tuple[Invariant, ...] = (
    Invariant("counts_not_negative", "orders, voided orders and guests are not negative",
              lambda f: _at_least(f.orders_count, 0) & _at_least(f.voided_orders_count, 0) & _at_least(f.guests_count, 0)),
    Invariant("amounts_not_negative", "discounts, tax, tips and gratuity are not negative",
              lambda f: _at_least(f.discount_amount, 0) & _at_least(f.tax_amount, 0) & _at_least(f.tip_amount, 0)
              & _at_least(f.gratuity_amount, 0)),
    Invariant("no_sales_without_orders", "a day without orders has no net sales",
              lambda f: (f.orders_count > 0) | _close(f.net_sales, pd.Series(0.0, index=f.index))),
    Invariant("location_id_is_export_id", "location_id is the numeric export folder id",
              lambda f: f.location_id.astype(str).str.fullmatch(r"\d+").fillna(False)),
)  # fmt: skip

PRODUCT_INVARIANTS: tuple[Invariant, ...] = (
    Invariant("quantities_not_negative", "quantities and order counts are not negative",
              lambda f: _at_least(f.quantity_sold, 0) & _at_least(f.voided_quantity, 0) & _at_least(f.orders_count, 0)),
    Invariant("share_between_0_and_1", "share_of_location_net_sales lies in [0, 1]",
              lambda f: _between(f.share_of_location_net_sales, 0, 1)),
    Invariant("shares_add_up_to_1", "shares add up to 1 per location-day with net sales, and are NULL without",
              lambda f: ((f._location_net_sales > 0) & _close(f._share_sum, pd.Series(1.0, index=f.index), 1e-6))
              | ((f._location_net_sales == 0) & _null(f.share_of_location_net_sales))
              | (f._location_net_sales < 0)),
    Invariant("sold_items_have_orders", "an item with quantity sold appears in at least one order",
              lambda f: ~(f.quantity_sold > 0) | (f.orders_count >= 1)),
    Invariant("item_orders_within_location_orders", "an item is in no more orders than the location had that day",
              lambda f: _null(f._daily_orders_count) | (f.orders_count <= f._daily_orders_count)),
    Invariant("has_daily_row", "the location-day has its daily_sales_summary row",
              lambda f: f._has_daily),
)  # fmt: skip

STORE_INVARIANTS: tuple[Invariant, ...] = (
    Invariant("matches_daily_sales", "net sales, orders and average order value equal daily_sales_summary's",
              lambda f: f._has_daily & _close(f.net_sales, f._daily_net_sales)
              & (f.orders_count == f._daily_orders_count) & _same(f.avg_order_value, f._daily_avg_order_value)),
    Invariant("net_sales_7d_is_rolling_week", "net_sales_7d = daily net sales summed over the 7 dates ending that day",
              lambda f: ~f._week_known | _close(f.net_sales_7d, f._week_net_sales)),
    Invariant("vs_prior_week_is_difference",
              "net_sales_vs_prior_week = net sales − net sales 7 days earlier, NULL when that day was not delivered",
              lambda f: ~f._prior_known | (_null(f._prior_net_sales) & _null(f.net_sales_vs_prior_week))
              | _close(f.net_sales_vs_prior_week, f.net_sales - f._prior_net_sales)),
    Invariant("tip_rate_is_tips_over_net_sales", "tip_rate = tips / net sales (NULL without net sales)",
              lambda f: ~f._has_daily | _ratio(f.tip_rate, f._daily_tip_amount, f.net_sales)),
    Invariant("labor_cost_pct_is_cost_over_net_sales", "labor_cost_pct = labor_cost / net sales (NULL without either)",
              lambda f: _ratio(f.labor_cost_pct, f.labor_cost, f.net_sales)),
    Invariant("sales_per_labor_hour_is_net_over_hours", "sales_per_labor_hour = net sales / labor hours (NULL without hours)",
              lambda f: _ratio(f.sales_per_labor_hour, f.net_sales, f.labor_hours, CENT + 0.005 * f.sales_per_labor_hour.abs())),
    Invariant("ratios_and_times_in_range",
              "card_payment_share in [0, 1]; ticket minutes, labor hours and labor cost not negative",
              lambda f: _between(f.card_payment_share, 0, 1) & _at_least(f.avg_ticket_minutes, 0)
              & _at_least(f.labor_hours, 0) & _at_least(f.labor_cost, 0)),
)  # fmt: skip

INVARIANTS: dict[str, tuple[Invariant, ...]] = {
    DAILY_SALES: DAILY_INVARIANTS,
    PRODUCT_PERFORMANCE: PRODUCT_INVARIANTS,
    STORE_PERFORMANCE: STORE_INVARIANTS,
}
REQUIRED_COLUMNS: dict[str, list[str]] = {
    DAILY_SALES: DAILY_COLUMNS,
    PRODUCT_PERFORMANCE: PRODUCT_COLUMNS,
    STORE_PERFORMANCE: STORE_COLUMNS,
}


def mart_schema(mart: str) -> pa.DataFrameSchema:
    """The Pandera schema of a mart's invariants (helper columns prefixed `_` added first)."""
    return pa.DataFrameSchema(
        columns={c: pa.Column(None, nullable=True, required=True) for c in REQUIRED_COLUMNS[mart]},
        checks=[pa.Check(invariant.holds, name=invariant.name) for invariant in INVARIANTS[mart]],
        name=mart,
        strict=False,
    )


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def _typed(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    frame = frame.reindex(columns=list(dict.fromkeys([*columns, *frame.columns]))).copy()
    frame["business_date"] = as_dates(frame["business_date"])
    frame["location_id"] = frame["location_id"].astype("string").astype(object)
    for column in columns:
        if column not in ("business_date", "location_id", "menu_item"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def read_mart(warehouse: WarehouseResource, mart: str, dates: Sequence[date]) -> pd.DataFrame:
    """A mart's rows for these business dates (every column; missing ones are caught by the schema)."""
    frame = warehouse.read_frame(MARTS_SCHEMA, mart, "business_date", list(dates))
    if frame.empty and not len(frame.columns):
        return pd.DataFrame(columns=REQUIRED_COLUMNS[mart])
    present = [c for c in REQUIRED_COLUMNS[mart] if c in frame.columns]
    return _typed(frame, present)


def lookback_dates(dates: Sequence[date], days: int = 7) -> list[date]:
    """The dates plus the `days` before each (what the store mart's rolling values read)."""
    return sorted({d - timedelta(days=k) for d in dates for k in range(days + 1)})


def mart_invariant_findings(warehouse: WarehouseResource, mart: str, dates: Sequence[date]) -> list[Finding]:
    """Read what a mart's rules need for these dates and evaluate them."""
    if mart == DAILY_SALES:
        return evaluate_daily_sales(read_mart(warehouse, DAILY_SALES, dates), read_manifest(warehouse, dates), dates)
    if mart == PRODUCT_PERFORMANCE:
        return evaluate_product_performance(read_mart(warehouse, PRODUCT_PERFORMANCE, dates), read_mart(warehouse, DAILY_SALES, dates))
    if mart == STORE_PERFORMANCE:
        wide = lookback_dates(dates)
        return evaluate_store_performance(
            read_mart(warehouse, STORE_PERFORMANCE, dates), read_mart(warehouse, DAILY_SALES, wide), read_manifest(warehouse, wide)
        )
    raise ValueError(f"no invariants for mart {mart!r}: choose one of {', '.join(MARTS)}")


# ---------------------------------------------------------------------------------------------
# Evaluators
# ---------------------------------------------------------------------------------------------


def evaluate_daily_sales(daily: pd.DataFrame, manifest: pd.DataFrame, dates: Sequence[date]) -> list[Finding]:
    """daily_sales_summary: counts and amounts not negative, no sales without orders, and a
    row for every location-day that delivered files (closed days included, with zeros)."""
    findings = _evaluate(DAILY_SALES, daily, sample_column=None)
    wanted = set(dates)
    present = set(daily[["location_id", "business_date"]].itertuples(index=False, name=None)) if not daily.empty else set()
    for location, d in sorted(delivered_location_days(manifest)):
        if d in wanted and (location, d) not in present:
            findings.append(
                Finding(
                    check=MART_INVARIANTS, severity=ERROR, status=FAILED, location_id=location, business_date=d,
                    subject=DAILY_SALES,
                    message=(
                        f"{DAILY_SALES}, location {location}, business date {d.isoformat()}: no row, although the location "
                        "delivered files that day (closed days must appear with zeros). Re-run the date so dbt rebuilds it."
                    ),
                    figures={"broken": {"delivered_day_has_row": 1}},
                )  # fmt: skip
            )
    return findings


def evaluate_product_performance(products: pd.DataFrame, daily: pd.DataFrame) -> list[Finding]:
    """product_performance: quantities not negative, shares in [0, 1] adding up to 1 per
    location-day, items in no more orders than the location had, a daily row behind each."""
    frame = products.copy()
    if not frame.empty and "net_sales" in frame and "share_of_location_net_sales" in frame:
        keys = ["location_id", "business_date"]
        frame["_location_net_sales"] = frame.groupby(keys)["net_sales"].transform("sum").round(2)
        frame["_share_sum"] = frame.groupby(keys)["share_of_location_net_sales"].transform("sum")
        day = daily[[*keys, "orders_count"]].rename(columns={"orders_count": "_daily_orders_count"}).assign(_has_daily=True)
        frame = frame.merge(day, how="left", on=keys)
        frame["_has_daily"] = frame["_has_daily"].fillna(False).astype(bool)
    return _evaluate(PRODUCT_PERFORMANCE, frame, sample_column="menu_item")


def evaluate_store_performance(store: pd.DataFrame, daily: pd.DataFrame, manifest: pd.DataFrame) -> list[Finding]:
    """store_performance: agrees with daily_sales_summary; rolling week and prior-week
    difference recomputed from the daily mart (also days built by earlier runs); ratios are
    the quotients they claim to be and lie in range.

    `daily` and `manifest` must cover the seven days before the store rows' dates. A
    look-back day that delivered files but has no daily row was never built, so the
    rolling-week rules are not judged for rows that need it.
    """
    frame = store.copy()
    if not frame.empty and set(STORE_COLUMNS) <= set(frame.columns):
        keys = ["location_id", "business_date"]
        sales = {(r.location_id, r.business_date): r for r in daily.itertuples(index=False)}
        delivered = delivered_location_days(manifest)

        def known(location: str, d: date) -> bool:
            return (location, d) in sales or (location, d) not in delivered

        def net(location: str, d: date) -> float:
            row = sales.get((location, d))
            return float(row.net_sales) if row is not None else 0.0

        rows = list(frame[keys].itertuples(index=False, name=None))
        today = [sales.get(key) for key in rows]
        frame["_has_daily"] = [r is not None for r in today]
        frame["_daily_net_sales"] = [r.net_sales if r is not None else float("nan") for r in today]
        frame["_daily_orders_count"] = [r.orders_count if r is not None else float("nan") for r in today]
        frame["_daily_avg_order_value"] = [r.avg_order_value if r is not None else float("nan") for r in today]
        frame["_daily_tip_amount"] = [r.tip_amount if r is not None else float("nan") for r in today]
        week = [[d - timedelta(days=k) for k in range(7)] for _, d in rows]
        frame["_week_known"] = [all(known(loc, w) for w in days) for (loc, _), days in zip(rows, week)]
        frame["_week_net_sales"] = [sum(net(loc, w) for w in days) for (loc, _), days in zip(rows, week)]
        prior = [(loc, d - timedelta(days=7)) for loc, d in rows]
        frame["_prior_known"] = [known(*key) for key in prior]
        frame["_prior_net_sales"] = [float(sales[key].net_sales) if key in sales else float("nan") for key in prior]
    return _evaluate(STORE_PERFORMANCE, frame, sample_column=None)


def _evaluate(mart: str, frame: pd.DataFrame, sample_column: str | None) -> list[Finding]:
    """Validate a mart frame against its schema; one finding per location and business date."""
    if frame.empty:
        return []
    missing = [c for c in REQUIRED_COLUMNS[mart] if c not in frame.columns]
    if missing:
        return [
            Finding(
                check=MART_INVARIANTS, severity=ERROR, status=FAILED, location_id=None, business_date=d, subject=mart,
                message=(f"{mart}, business date {d.isoformat()}: column(s) {', '.join(missing)} missing; the model no "
                         "longer matches the mart contract in its YAML. Fix the model and rebuild the dates."),
                figures={"missing_columns": missing},
            )  # fmt: skip
            for d in sorted(set(frame["business_date"]))
        ]
    frame = frame.reset_index(drop=True)
    broken_rows = _broken_rows(mart, frame)
    meanings = {i.name: i.meaning for i in INVARIANTS[mart]}
    findings = []
    for (location, d), group in frame.groupby(["location_id", "business_date"], sort=True):
        broken: dict[str, list[int]] = {}
        for index in group.index:
            for rule in broken_rows.get(index, ()):
                broken.setdefault(rule, []).append(index)
        where = f"{mart}, location {location}, business date {d.isoformat()}"
        if not broken:
            findings.append(
                Finding(
                    check=MART_INVARIANTS, severity=ERROR, status=PASS, location_id=location, business_date=d,
                    subject=mart, message=f"{where}: {len(INVARIANTS[mart])} invariants hold on {len(group)} row(s)",
                    figures={"rows": len(group)},
                )  # fmt: skip
            )
            continue
        details = []
        for rule, indexes in sorted(broken.items()):
            sample = ""
            if sample_column:
                names = ", ".join(repr(str(frame.at[i, sample_column])) for i in indexes[:SAMPLES])
                sample = f", e.g. {names}"
            details.append(f"{meanings[rule]}: broken on {len(indexes)} row(s){sample}")
        findings.append(
            Finding(
                check=MART_INVARIANTS, severity=ERROR, status=FAILED, location_id=location, business_date=d, subject=mart,
                message=(f"{where}: " + "; ".join(details) + ". Rebuild the date with dbt; if it persists, the model "
                         "breaks the mart contract: report it with these rows."),
                figures={"rows": len(group), "broken": {rule: len(indexes) for rule, indexes in broken.items()}},
            )  # fmt: skip
        )
    return findings


def _broken_rows(mart: str, frame: pd.DataFrame) -> dict[int, set[str]]:
    """Row index → names of the invariants the row breaks, from Pandera's failure cases."""
    try:
        mart_schema(mart).validate(frame, lazy=True)
    except SchemaErrors as errors:
        out: dict[int, set[str]] = {}
        for case in errors.failure_cases.itertuples(index=False):
            if pd.isna(case.index):
                raise ValueError(f"{mart}: schema-level failure {case.check!r}: {case.failure_case!r}") from errors
            out.setdefault(int(case.index), set()).add(str(case.check))
        return out
    return {}
