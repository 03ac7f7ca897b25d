"""Anomalies (WARN): a location's day far outside its own recent same-weekday history.

Restaurants sell by weekday (a Saturday is not a Tuesday), so each location's net sales,
orders and raw row counts per file are compared with the same weekday over the previous
`anomaly_weeks` weeks, using robust statistics that one odd week cannot drag: the median
and the median absolute deviation (MAD), robust z = 0.6745 · (x − median) / MAD. The MAD
never goes below a floor (a share of the median), so a flat history does not turn a small
change into an alarm. Closed days (header-only files) are neither judged nor used as
history. A location that sends nothing on a weekday it usually delivers has stopped
delivering, and is flagged too.
"""

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd

from toast_assets.quality.completeness import closed_location_days, delivered_location_days, read_manifest
from toast_assets.quality.findings import PASS, SKIPPED, WARN, WARNED, Finding, as_dates, markdown_table
from toast_assets.quality.mart_invariants import DAILY_SALES, MARTS_SCHEMA
from toast_assets.quality.resources import QualityPolicy
from toast_assets.raw.warehouse import WarehouseResource

ANOMALIES = "volumes_within_history"

SALES_METRICS: dict[str, str] = {"net_sales": "net sales", "orders_count": "orders"}
ROWS_SUFFIX = " rows"
DELIVERY = "delivery"  # subject of the stopped-delivering and closed-day findings

# Converts a MAD into a standard-deviation scale for normally distributed values.
MAD_SCALE = 0.6745
# Smallest MAD used, in the metric's own unit (one order, one row, one dollar).
MIN_MAD = 1.0


def comparison_dates(day: date, weeks: int) -> list[date]:
    """The same weekday in each of the previous `weeks` weeks, most recent first."""
    return [day - timedelta(days=7 * k) for k in range(1, weeks + 1)]


def dates_with_history(dates: Sequence[date], weeks: int) -> list[date]:
    """The run's dates plus every same-weekday date their comparisons need."""
    return sorted({d for day in dates for d in (day, *comparison_dates(day, weeks))})


def read_metric_inputs(warehouse: WarehouseResource, dates: Sequence[date], weeks: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(daily sales, file manifest) for the dates and their same-weekday history."""
    wanted = dates_with_history(dates, weeks)
    daily = warehouse.read_frame(MARTS_SCHEMA, DAILY_SALES, "business_date", wanted, ["location_id", "business_date", *SALES_METRICS])
    daily = daily.reindex(columns=["location_id", "business_date", *SALES_METRICS]).copy()
    daily["business_date"] = as_dates(daily["business_date"])
    daily["location_id"] = daily["location_id"].astype(str)
    return daily, read_manifest(warehouse, wanted)


def anomaly_findings(warehouse: WarehouseResource, dates: Sequence[date], policy: QualityPolicy) -> list[Finding]:
    """Read the dates and their same-weekday history, and evaluate the anomaly rules."""
    daily, manifest = read_metric_inputs(warehouse, dates, policy.anomaly_weeks)
    return evaluate_anomalies(dates, location_day_metrics(daily, manifest), manifest, policy)


def location_day_metrics(daily: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Long frame (location_id, business_date, metric, value): net sales and orders from the
    daily mart, and rows per file from the manifest. A location-day that delivered files
    but not one it delivers on other days counts 0 rows for it (a drop, not a gap)."""
    parts = []
    if not daily.empty:
        sales = daily.melt(id_vars=["location_id", "business_date"], value_vars=list(SALES_METRICS), var_name="metric")
        sales["metric"] = sales["metric"].map(SALES_METRICS)
        parts.append(sales)
    if not manifest.empty:
        rows = manifest.groupby(["location_id", "business_date", "entity"], as_index=False)["source_rows"].sum()
        days = manifest[["location_id", "business_date"]].drop_duplicates()
        entities = manifest[["location_id", "entity"]].drop_duplicates()
        grid = days.merge(entities, on="location_id").merge(rows, how="left", on=["location_id", "business_date", "entity"])
        grid["value"] = grid["source_rows"].fillna(0)
        grid["metric"] = grid["entity"] + ROWS_SUFFIX
        parts.append(grid[["location_id", "business_date", "metric", "value"]])
    if not parts:
        return pd.DataFrame(columns=["location_id", "business_date", "metric", "value"])
    frame = pd.concat(parts, ignore_index=True)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    return frame


def robust_z(value: float, history: Sequence[float], mad_floor: float) -> tuple[float, float, float, float]:
    """(median, MAD, MAD used, robust z) of a value against its history; the MAD used is
    at least `mad_floor` × |median| and at least one unit."""
    median = statistics.median(history)
    mad = statistics.median(abs(h - median) for h in history)
    used = max(mad, mad_floor * abs(median), MIN_MAD)
    return median, mad, used, MAD_SCALE * (value - median) / used


def evaluate_anomalies(
    dates: Sequence[date], metrics: pd.DataFrame, manifest: pd.DataFrame, policy: QualityPolicy
) -> list[Finding]:
    """Findings per location, business date and metric (plus delivery findings): pass,
    warn (drop, spike or stopped delivering) or skipped (too little same-weekday history)."""
    delivered = delivered_location_days(manifest)
    closed = closed_location_days(manifest)
    values: dict[tuple[str, str], dict[date, float]] = defaultdict(dict)
    for row in metrics.itertuples(index=False):
        if pd.notna(row.value):
            values[(row.location_id, row.metric)][row.business_date] = float(row.value)
    metrics_of: dict[str, set[str]] = defaultdict(set)
    for location, metric in values:
        metrics_of[location].add(metric)
    locations = sorted({loc for loc, _ in delivered} | set(metrics_of))

    findings: list[Finding] = []
    for d in dates:
        history_days = comparison_dates(d, policy.anomaly_weeks)
        for location in locations:
            usual = [h for h in history_days if (location, h) in delivered]
            if (location, d) not in delivered:
                if usual:
                    findings.append(_stopped_delivering(location, d, usual, len(history_days), policy))
                continue
            if (location, d) in closed:
                findings.append(
                    Finding(
                        check=ANOMALIES, severity=WARN, status=PASS, location_id=location, business_date=d,
                        subject=DELIVERY, message=f"location {location}, {_day(d)}: closed (header-only files), not compared",
                        figures={"state": "closed"},
                    )  # fmt: skip
                )
                continue
            comparable = [h for h in usual if (location, h) not in closed]
            for metric in sorted(metrics_of[location], key=_metric_order):
                series = values[(location, metric)]
                findings.append(_compare(location, d, metric, series.get(d), [(h, series[h]) for h in comparable if h in series], policy))
    return findings


def _metric_order(metric: str) -> tuple[int, str]:
    return (0 if metric in SALES_METRICS.values() else 1, metric)


def _day(d: date) -> str:
    return f"{d:%A} {d.isoformat()}"


def _amount(metric: str, value: float) -> str:
    return f"{value:,.2f}" if metric == SALES_METRICS["net_sales"] else f"{value:,.0f}"


def _stopped_delivering(location: str, d: date, usual: list[date], compared: int, policy: QualityPolicy) -> Finding:
    where = f"location {location}, {_day(d)}"
    if len(usual) < policy.anomaly_min_history:
        return Finding(
            check=ANOMALIES, severity=WARN, status=SKIPPED, location_id=location, business_date=d, subject=DELIVERY,
            message=(f"{where}: no files, and only {len(usual)} earlier {d:%A}(s) with a delivery: too little history "
                     f"(needs {policy.anomaly_min_history}) to say it usually delivers"),
            figures={"value": 0, "history_deliveries": len(usual), "min_history": policy.anomaly_min_history},
        )  # fmt: skip
    return Finding(
        check=ANOMALIES, severity=WARN, status=WARNED, location_id=location, business_date=d, subject=DELIVERY,
        message=(
            f"{where}: stopped delivering: no files, although it delivered on {len(usual)} of the previous {compared} "
            f"{d:%A}s. Check the location's export folder on the Toast SFTP server and its Toast export settings."
        ),
        figures={"value": 0, "expected": 1, "history_deliveries": len(usual), "history_weeks": compared,
                 "last_delivery": max(usual)},
    )  # fmt: skip


def _compare(
    location: str, d: date, metric: str, value: float | None, history: list[tuple[date, float]], policy: QualityPolicy
) -> Finding:
    where = f"location {location}, {_day(d)}"
    base = {"check": ANOMALIES, "severity": WARN, "location_id": location, "business_date": d, "subject": metric}
    if value is None:
        return Finding(**base, status=SKIPPED, message=f"{where}: no {metric} value to compare (the mart has no row for the day)", figures={})
    if len(history) < policy.anomaly_min_history:
        return Finding(
            **base, status=SKIPPED,
            message=(f"{where}: {metric} {_amount(metric, value)}: history too short ({len(history)} earlier {d:%A}(s), "
                     f"needs {policy.anomaly_min_history}), not compared"),
            figures={"value": value, "history_points": len(history), "min_history": policy.anomaly_min_history},
        )  # fmt: skip
    points = [v for _, v in history]
    median, mad, used, z = robust_z(value, points, policy.anomaly_mad_floor)
    change = (value - median) / median if median else None
    figures = {
        "value": value, "expected": median, "mad": mad, "mad_used": used, "robust_z": round(z, 2),
        "threshold": policy.anomaly_threshold, "change": change, "history_points": len(points),
        "history": {h.isoformat(): v for h, v in history},
    }  # fmt: skip
    summary = (
        f"{metric} {_amount(metric, value)} against a median of {_amount(metric, median)} over the last {len(points)} "
        f"{d:%A}s (MAD {_amount(metric, mad)}, robust z {z:+.1f}"
    )
    if abs(z) <= policy.anomaly_threshold:
        return Finding(**base, status=PASS, message=f"{where}: {summary}, within ±{policy.anomaly_threshold:g})", figures=figures)
    direction = "drop" if z < 0 else "spike"
    change_text = f" ({change:+.0%})" if change is not None else ""
    advice = (
        "Check that the day's files arrived complete and nothing sits in quarantine, and ask the store whether it "
        "closed early or lost its POS."
        if direction == "drop"
        else "Check for a file delivered twice or an unusual event (catering, holiday) before trusting the number."
    )
    return Finding(
        **base, status=WARNED,
        message=f"{where}: {direction}{change_text}: {summary}, beyond ±{policy.anomaly_threshold:g}). {advice}",
        figures={**figures, "direction": direction},
    )  # fmt: skip


def anomalies_markdown(findings: Sequence[Finding], policy: QualityPolicy) -> str:
    """Flagged location-days with their numbers, and which comparisons lacked history."""
    ours = [f for f in findings if f.check == ANOMALIES]
    flagged = [f for f in ours if f.status == WARNED]
    short = [f for f in ours if f.status == SKIPPED]
    parts = []
    if flagged:
        rows = [
            (
                f.business_date, f.location_id, f.subject, f.figures.get("direction", "stopped delivering"),
                _fmt(f.figures.get("value")), _fmt(f.figures.get("expected")), _fmt(f.figures.get("mad")),
                _fmt(f.figures.get("robust_z")),
            )
            for f in flagged
        ]  # fmt: skip
        parts.append(markdown_table(("business date", "location", "metric", "flag", "value", "median", "MAD", "robust z"), rows))
    else:
        parts.append("no drops, spikes or stopped deliveries")
    if short:
        days = sorted({(f.location_id, f.business_date) for f in short})
        parts.append(
            f"History too short for {len(short)} comparison(s) on {len(days)} location-day(s): fewer than "
            f"{policy.anomaly_min_history} earlier same-weekday dates (looking back {policy.anomaly_weeks} weeks); "
            "those were not compared."
        )
    return "\n\n".join(parts)


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)
