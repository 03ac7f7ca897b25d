"""Weekly validation: every Monday, the last seven business dates re-checked and reported.

The `weekly_quality_report` asset re-evaluates, over the seven business dates before the
run, the same rules the daily asset checks apply (completeness, anomalies, mart
invariants) plus the raw-level results (reconciliation per file, quarantine by rule,
rejected files), and gathers the latest results of the checks it does not re-run itself
(dbt tests and business rules) from the runs that built those dates. It writes one row per
check × location × date to `toast_quality.weekly_quality_report` (the dates' earlier rows
replaced), with a quality score per location and date, and puts a Markdown report in the
asset's metadata.

    TOAST_WEEKLY_VALIDATION_CRON   default "0 5 * * 1" (Mondays 05:00)
    TOAST_SCHEDULE_TIMEZONE        default America/New_York
"""

import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
from pydantic import Field

from toast_assets.contract import ENTITIES
from toast_assets.quality.anomalies import ANOMALIES, anomaly_findings
from toast_assets.quality.checks import FILE_MANIFEST_KEY, MART_KEYS
from toast_assets.quality.completeness import (
    CLOSED,
    COMPLETENESS,
    MISSING,
    QUARANTINE,
    RECONCILIATION,
    completeness_findings,
    evaluate_quarantine,
    evaluate_reconciliation,
    read_manifest,
    read_quarantine,
    read_reference_locations,
)
from toast_assets.quality.findings import (
    ERROR,
    FAILED,
    PASS,
    SKIPPED,
    WARN,
    WARNED,
    Finding,
    Severity,
    as_dates,
    findings_frame,
    markdown_table,
    problem_status,
    sort_worst_first,
    status_counts,
)
from toast_assets.quality.freshness import schedule_timezone
from toast_assets.quality.mart_invariants import DAILY_SALES, MART_INVARIANTS, MARTS, MARTS_SCHEMA, mart_invariant_findings
from toast_assets.quality.resources import QualityPolicy
from toast_assets.quality.scoring import (
    ALL_LOCATIONS,
    QUALITY_SCORE,
    format_score,
    location_scores,
    overall_score,
    quality_scores,
    score_findings,
)
from toast_assets.raw.assets import CONTRACT_VALID, RAW_GROUP, ROWS_RECONCILED
from toast_assets.raw.warehouse import QUARANTINE_TABLE, WAREHOUSE_WRITE_TAGS, WarehouseResource
from toast_assets.settings import ConfigError
from toast_assets.sftp.resources import ToastSftpResource

QUALITY_GROUP = "quality"
QUALITY_SCHEMA = "toast_quality"
WEEKLY_REPORT_TABLE = "weekly_quality_report"
WEEKLY_REPORT_KEY = dg.AssetKey([QUALITY_SCHEMA, WEEKLY_REPORT_TABLE])
WEEKLY_JOB = "weekly_validation"
DEFAULT_WEEKLY_CRON = "0 5 * * 1"
DEFAULT_DAYS = 7

# Checks the report re-evaluates itself; their recorded results are not repeated.
REEVALUATED_CHECKS = frozenset({COMPLETENESS, ANOMALIES, MART_INVARIANTS, ROWS_RECONCILED, CONTRACT_VALID})
RECORDED_RUNS = 200  # newest runs searched for recorded check results (about two months of daily runs)
WORST_FINDINGS = 25
SPARK = "▁▂▃▄▅▆▇█"


class WeeklyReportConfig(dg.Config):
    """Which business dates the report covers (the schedule sets them; set them for reruns)."""

    end_date: str | None = Field(
        default=None,
        description="Last business date of the report, YYYY-MM-DD. Default: the day before the run, in TOAST_SCHEDULE_TIMEZONE.",
    )
    days: int = Field(default=DEFAULT_DAYS, description="Number of business dates, ending with end_date.")


def report_dates(end: date, days: int) -> list[date]:
    """`days` business dates ending with `end`, oldest first."""
    if days < 1:
        raise ValueError(f"the weekly report needs at least one business date, got days={days}")
    return [end - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def previous_business_date(moment: datetime, time_zone: str) -> date:
    """The business date before the local calendar day of `moment` in `time_zone` (a naive
    moment is taken as local time there)."""
    zone = ZoneInfo(time_zone)
    local = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)
    return local.date() - timedelta(days=1)


def resolve_dates(config: WeeklyReportConfig, now: datetime, time_zone: str) -> list[date]:
    """The report's business dates from its config, with the operator's mistakes explained."""
    if config.end_date:
        try:
            end = date.fromisoformat(config.end_date)
        except ValueError as exc:
            raise ValueError(f"weekly report config end_date={config.end_date!r} is not a date in YYYY-MM-DD form") from exc
    else:
        end = previous_business_date(now, time_zone)
    return report_dates(end, config.days)


def weekly_run_config(end: date, days: int = DEFAULT_DAYS) -> dict:
    """Run config that makes the weekly job report on `days` dates ending with `end`."""
    return {"ops": {WEEKLY_REPORT_KEY.to_python_identifier(): {"config": {"end_date": end.isoformat(), "days": days}}}}


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def evaluate_week(
    warehouse: WarehouseResource, quality: QualityPolicy, export_ids: Sequence[str], dates: Sequence[date]
) -> tuple[list[Finding], pd.DataFrame]:
    """Every re-evaluated rule over the dates: (findings, quarantine rows of the dates)."""
    findings = completeness_findings(warehouse, dates, export_ids, quality.completeness_lookback_days)
    findings += anomaly_findings(warehouse, dates, quality)
    for mart in MARTS:
        findings += mart_invariant_findings(warehouse, mart, dates)
    findings += evaluate_reconciliation(warehouse.reconcile(list(ENTITIES), list(dates)))
    quarantine = read_quarantine(warehouse, dates)
    findings += evaluate_quarantine(read_manifest(warehouse, dates), quarantine, quality.quarantine_threshold)
    return findings, quarantine


def run_business_dates(tags: Mapping[str, str]) -> list[date]:
    """The business dates a run built, from its partition or partition-range tags."""
    try:
        if "dagster/partition" in tags:
            return [date.fromisoformat(tags["dagster/partition"])]
        start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
        if start and end:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
            return [first + timedelta(days=i) for i in range((last - first).days + 1)]
    except ValueError:
        return []  # a partition key that is not a business date: not one of this pipeline's runs
    return []


def recorded_check_findings(instance: dg.DagsterInstance, dates: Sequence[date]) -> list[Finding]:
    """The latest recorded result of each check the report does not re-run (dbt tests,
    business rules), per business date, from the newest runs that built those dates.
    Group-wide findings: a dbt test does not say which location its failing rows belong to."""
    wanted = set(dates)
    latest: dict[tuple[dg.AssetCheckKey, date], tuple[dg.AssetCheckEvaluation, str, list[date]]] = {}
    for run in instance.get_runs(limit=RECORDED_RUNS):  # newest first
        covered = run_business_dates(run.tags)
        days = wanted.intersection(covered)
        if not days:
            continue
        events = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
        for record in events:
            event = record.event_log_entry.dagster_event
            evaluation = event.event_specific_data if event else None
            if not isinstance(evaluation, dg.AssetCheckEvaluation):
                continue
            key = dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name)
            if key.name in REEVALUATED_CHECKS or key.asset_key.path[0] == RAW_GROUP:
                continue
            for d in days:
                latest.setdefault((key, d), (evaluation, run.run_id, covered))
    ordered = sorted(latest.items(), key=lambda item: (item[0][0].asset_key.to_user_string(), item[0][0].name, item[0][1]))
    return [_recorded(key, d, evaluation, run_id, covered) for (key, d), (evaluation, run_id, covered) in ordered]


def _recorded(key: dg.AssetCheckKey, d: date, evaluation: dg.AssetCheckEvaluation, run_id: str, covered: list[date]) -> Finding:
    severity: Severity = ERROR if evaluation.severity == dg.AssetCheckSeverity.ERROR else WARN
    metadata = evaluation.metadata or {}
    failed_rows = metadata.get("dagster_dbt/failed_row_count")
    failed_rows = getattr(failed_rows, "value", failed_rows)
    asset = key.asset_key.to_user_string()
    span = covered[0].isoformat() if len(covered) == 1 else f"{covered[0].isoformat()} to {covered[-1].isoformat()}"
    rows = f", {failed_rows} failing row(s)" if failed_rows else ""
    verdict = "passed" if evaluation.passed else ("failed" if severity == ERROR else "warned")
    note = f": {evaluation.description.rstrip('.')}" if evaluation.description else ""
    advice = "" if evaluation.passed else " Open the check in the UI for the failing rows; fix the data or the model and re-run the dates."
    return Finding(
        check=key.name, severity=severity, status=PASS if evaluation.passed else problem_status(severity),
        location_id=None, business_date=d, subject=asset,
        message=f"{asset} check `{key.name}` {verdict} in run {run_id[:8]} (business dates {span}){rows}{note}.{advice}",
        figures={"value": failed_rows, "expected": 0 if failed_rows is not None else None, "run_id": run_id,
                 "run_first_date": covered[0], "run_last_date": covered[-1], "recorded": True},
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def _run_span(recorded: Finding) -> str:
    first, last = recorded.figures.get("run_first_date"), recorded.figures.get("run_last_date")
    return f"{first}" if first == last else f"{first} to {last}"


def _day_label(d: date) -> str:
    return f"{d:%a} {d:%m-%d}"


def date_spans(dates: Iterable[date]) -> str:
    """Dates as compact runs of consecutive days: '2026-11-02 to 2026-11-04, 2026-11-06'."""
    spans: list[list[date]] = []
    for d in sorted(set(dates)):
        if spans and d - spans[-1][-1] == timedelta(days=1):
            spans[-1].append(d)
        else:
            spans.append([d])
    return ", ".join(s[0].isoformat() if len(s) == 1 else f"{s[0].isoformat()} to {s[-1].isoformat()}" for s in spans)


def sparkline(values: Sequence[float | None]) -> str:
    """A one-line trend, one block per value (a space where there is none)."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    return "".join(" " if v is None else SPARK[round((v - low) / span * (len(SPARK) - 1))] for v in values)


def quarantine_by_rule(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows per rule (a row breaking two rules counts for each): rows, files, location-days."""
    if quarantine.empty:
        return pd.DataFrame(columns=["rule", "rows", "files", "location_days"])
    exploded = quarantine.assign(rule=quarantine["rule"].astype(str).str.split(";")).explode("rule")
    exploded["row_key"] = exploded["source_file"].astype(str) + "#" + exploded["row_number"].astype(str)
    exploded["day_key"] = exploded["location_id"].astype(str) + "@" + exploded["business_date"].astype(str)
    grouped = exploded.groupby("rule").agg(
        rows=("row_key", "nunique"), files=("source_file", "nunique"), location_days=("day_key", "nunique")
    )
    return grouped.reset_index().sort_values(["rows", "rule"], ascending=[False, True], ignore_index=True)


def net_sales_by_day(daily: pd.DataFrame) -> dict[str, dict[date, float]]:
    """Location → business date → net sales, from daily_sales_summary rows."""
    out: dict[str, dict[date, float]] = defaultdict(dict)
    for row in daily.itertuples(index=False):
        if pd.notna(row.net_sales):
            out[str(row.location_id)][row.business_date] = float(row.net_sales)
    return out


def render_report(
    dates: Sequence[date],
    findings: Sequence[Finding],
    recorded: Sequence[Finding],
    quarantine: pd.DataFrame,
    net_sales: Mapping[str, Mapping[date, float]],
    names: Mapping[str, str],
) -> str:
    """The Markdown report shown on the asset: summary, per location, scores by date, worst
    findings, quarantine, reconciliation, recorded checks and the net sales trend."""
    everything = [*findings, *recorded]
    counts = status_counts(findings)
    recorded_problems = [f for f in recorded if f.is_problem]
    locations = sorted({f.location_id for f in everything if f.location_id} | set(net_sales))
    scores = quality_scores(everything)
    by_location = location_scores(everything)
    score = overall_score(everything)
    lines = [
        f"# Weekly quality report: business dates {dates[0].isoformat()} to {dates[-1].isoformat()}",
        "",
        f"**Quality score {format_score(score)}** over {len(locations)} location(s) × {len(dates)} date(s). "
        f"Re-evaluated checks: {counts[PASS]} pass, {counts[WARNED]} warn, {counts[FAILED]} fail, {counts[SKIPPED]} skipped. "
        f"Recorded dbt tests and business rules: {len(recorded) - len(recorded_problems)} pass, "
        f"{len(recorded_problems)} not passing.",
        "",
        "## Per location",
        "",
    ]
    per_location = []
    for location in locations:
        mine = [f for f in findings if f.location_id == location]
        states = [f.figures.get("state") for f in mine if f.check == COMPLETENESS]
        quarantined = sum(int(f.figures.get("value") or 0) for f in mine if f.check == QUARANTINE)
        week = sum(net_sales.get(location, {}).get(d, 0.0) for d in dates)
        per_location.append((
            location, names.get(location, "–"), format_score(by_location.get(location)),
            sum(f.status == FAILED for f in mine), sum(f.status == WARNED for f in mine),
            states.count(CLOSED), states.count(MISSING), quarantined, f"{week:,.2f}",
        ))  # fmt: skip
    lines.append(
        markdown_table(
            ("location", "name", "score", "failed", "warnings", "closed days", "days without files", "rows quarantined", "net sales"),
            per_location,
        )
        if per_location
        else "no location delivered or was expected in these dates"
    )

    lines += ["", "## Quality score by date", ""]
    matrix = {(r.location_id, r.business_date): r.score for r in scores.itertuples(index=False)}
    header = ("location", *(_day_label(d) for d in dates))
    rows = [(location, *(format_score(matrix.get((location, d))) for d in dates)) for location in locations]
    day_scores = {f.business_date: f.figures.get("value") for f in score_findings(everything, dates) if f.location_id is None}
    rows.append((ALL_LOCATIONS, *(format_score(day_scores.get(d)) for d in dates)))
    lines.append(markdown_table(header, rows))

    lines += ["", "## Worst findings", ""]
    worst = sort_worst_first(f for f in everything if f.is_problem)
    if worst:
        lines.append(
            markdown_table(
                ("status", "business date", "location", "check", "subject", "finding"),
                [(f.status.upper(), f.business_date, f.location_id or "all", f.check, f.subject, f.message) for f in worst[:WORST_FINDINGS]],
            )
        )
        if len(worst) > WORST_FINDINGS:
            lines.append(f"\n…and {len(worst) - WORST_FINDINGS} more in `{QUALITY_SCHEMA}.{WEEKLY_REPORT_TABLE}`.")
    else:
        lines.append("nothing to report: every check passed")

    lines += ["", "## Quarantine", ""]
    rules = quarantine_by_rule(quarantine)
    if rules.empty:
        lines.append("no rows quarantined")
    else:
        total = quarantine.drop_duplicates(["source_file", "row_number"]).shape[0]
        lines.append(f"{total} row(s) quarantined in {quarantine['source_file'].nunique()} file(s); rows and reasons in `toast_raw.{QUARANTINE_TABLE}`.")
        lines.append("")
        lines.append(markdown_table(("rule", "rows", "files", "location-days"), rules.itertuples(index=False, name=None)))
    rejected = [f for f in findings if f.check == QUARANTINE and f.figures.get("file_status") == "rejected"]
    if rejected:
        lines += ["", "Rejected files:", *(f"- {f.message}" for f in rejected)]

    lines += ["", "## Reconciliation", ""]
    reconciled = [f for f in findings if f.check == RECONCILIATION]
    off = [f for f in reconciled if f.is_problem]
    if not reconciled:
        lines.append("no files loaded for these dates")
    elif not off:
        lines.append(f"all {len(reconciled)} file(s) balanced: every source row is loaded or quarantined")
    else:
        lines.append(f"{len(off)} of {len(reconciled)} file(s) unbalanced:")
        lines += [f"- {f.message}" for f in off]

    lines += ["", "## Recorded dbt tests and business rules", ""]
    if recorded_problems:
        grouped: dict[tuple[str, str, str], list[Finding]] = defaultdict(list)
        for f in recorded_problems:
            grouped[(f.subject, f.check, f.figures.get("run_id", ""))].append(f)
        lines.append(
            markdown_table(
                ("asset", "check", "status", "business dates", "failing rows", "run"),
                [
                    (asset, name, group[0].status.upper(), date_spans(f.business_date for f in group),
                     group[0].figures.get("value") or "–", f"{run_id[:8]} ({_run_span(group[0])})")
                    for (asset, name, run_id), group in sorted(grouped.items())
                ],  # fmt: skip
            )
        )
        lines.append(
            "\nA dbt test reports once per run: when a run built several business dates, its result stands for each "
            "of them, so the failing rows may belong to any date of that run."
        )
    elif recorded:
        lines.append(f"all {len({(f.subject, f.check) for f in recorded})} recorded check(s) passed for these dates")
    else:
        lines.append("no recorded dbt test or business-rule results for these dates")

    lines += ["", "## Daily net sales", ""]
    trend_rows = []
    for location in locations:
        values = [net_sales.get(location, {}).get(d) for d in dates]
        trend_rows.append((location, *("–" if v is None else f"{v:,.2f}" for v in values), sparkline(values)))
    totals = [sum(net_sales.get(loc, {}).get(d, 0.0) for loc in locations) for d in dates]
    trend_rows.append((ALL_LOCATIONS, *(f"{v:,.2f}" for v in totals), sparkline(totals)))
    lines.append(markdown_table(("location", *(_day_label(d) for d in dates), "trend"), trend_rows))
    return "\n".join(lines) + "\n"


def report_frame(findings: Sequence[Finding], dates: Sequence[date], run_id: str, evaluated_at: datetime) -> pd.DataFrame:
    """The table rows: every finding plus a quality-score row per location-date and per date."""
    frame = findings_frame([*findings, *score_findings(findings, dates)])
    frame["evaluated_at"] = pd.Series([evaluated_at.replace(tzinfo=None)] * len(frame), dtype="datetime64[us]")
    frame["run_id"] = pd.Series([run_id] * len(frame), dtype="string")
    return frame


@dg.asset(
    key=WEEKLY_REPORT_KEY,
    group_name=QUALITY_GROUP,
    deps=[FILE_MANIFEST_KEY, dg.AssetKey([RAW_GROUP, QUARANTINE_TABLE]), *MART_KEYS.values()],
    kinds={"table"},
    metadata={"dagster/table_name": f"{QUALITY_SCHEMA}.{WEEKLY_REPORT_TABLE}"},
)
def weekly_quality_report(
    context: dg.AssetExecutionContext,
    config: WeeklyReportConfig,
    warehouse: WarehouseResource,
    quality: QualityPolicy,
    toast_sftp: ToastSftpResource,
) -> dg.MaterializeResult:
    """The week's data quality in one place: for the last seven business dates, every check
    per location and date with its status and figures, a quality score per location and
    date, and a readable report (worst findings, quarantine, reconciliation, net sales trend).
    Table `toast_quality.weekly_quality_report`; a rerun replaces the rows of its dates."""
    now = datetime.now(timezone.utc)
    dates = resolve_dates(config, now, schedule_timezone())
    context.log.info(f"weekly quality report for business dates {dates[0]} to {dates[-1]}")
    findings, quarantine = evaluate_week(warehouse, quality, list(toast_sftp.export_ids), dates)
    recorded = recorded_check_findings(context.instance, dates)
    everything = [*findings, *recorded]

    frame = report_frame(everything, dates, context.run_id, now)
    warehouse.replace_frame(QUALITY_SCHEMA, WEEKLY_REPORT_TABLE, "business_date", dates, frame)

    daily = warehouse.read_frame(MARTS_SCHEMA, DAILY_SALES, "business_date", dates, ["location_id", "business_date", "net_sales"])
    daily["business_date"] = as_dates(daily["business_date"])
    reference = read_reference_locations(warehouse)
    names = {str(r.export_id): str(r.location_name) for r in reference.itertuples() if pd.notna(r.location_name)}
    report = render_report(dates, findings, recorded, quarantine, net_sales_by_day(daily), names)

    counts = status_counts(everything)
    score = overall_score(everything)
    metadata: dict[str, dg.MetadataValue] = {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "report": dg.MetadataValue.md(report),
        "business_dates": dg.MetadataValue.text(f"{dates[0].isoformat()} to {dates[-1].isoformat()}"),
        "checks_passed": dg.MetadataValue.int(counts[PASS]),
        "checks_warned": dg.MetadataValue.int(counts[WARNED]),
        "checks_failed": dg.MetadataValue.int(counts[FAILED]),
        "checks_skipped": dg.MetadataValue.int(counts[SKIPPED]),
        "rows_quarantined": dg.MetadataValue.int(int(quarantine.drop_duplicates(["source_file", "row_number"]).shape[0])),
        "files_unbalanced": dg.MetadataValue.int(sum(f.check == RECONCILIATION and f.is_problem for f in findings)),
        "recorded_checks_not_passing": dg.MetadataValue.int(sum(f.is_problem for f in recorded)),
    }
    if score is not None:
        metadata[QUALITY_SCORE] = dg.MetadataValue.float(round(score, 4))
    # One series per location across weekly runs, so the UI plots each location's trend.
    for location, value in location_scores(everything).items():
        metadata[f"{QUALITY_SCORE}/{location}"] = dg.MetadataValue.float(round(value, 4))
    return dg.MaterializeResult(metadata=metadata)


weekly_validation = dg.define_asset_job(
    name=WEEKLY_JOB,
    selection=dg.AssetSelection.assets(WEEKLY_REPORT_KEY),
    tags=WAREHOUSE_WRITE_TAGS,
    description="Re-check the last seven business dates across all files and locations and write the weekly quality report.",
)


def weekly_cron(env: Mapping[str, str] | None = None) -> str:
    """The weekly schedule's cron (`TOAST_WEEKLY_VALIDATION_CRON`, default Mondays 05:00)."""
    env = os.environ if env is None else env
    return (env.get("TOAST_WEEKLY_VALIDATION_CRON") or "").strip() or DEFAULT_WEEKLY_CRON


def build_weekly_validation_schedule(env: Mapping[str, str] | None = None) -> dg.ScheduleDefinition:
    """The Monday schedule: each tick reports on the seven business dates before its local day."""
    cron, time_zone = weekly_cron(env), schedule_timezone(env)

    def _weekly_validation_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        moment = context.scheduled_execution_time or datetime.now(timezone.utc)
        end = previous_business_date(moment, time_zone)
        return dg.RunRequest(
            run_key=f"{WEEKLY_JOB}:{end.isoformat()}",
            run_config=weekly_run_config(end),
            tags={"toast/report_end_date": end.isoformat()},
        )

    try:
        return dg.ScheduleDefinition(
            name=f"{WEEKLY_JOB}_schedule",
            job=weekly_validation,
            cron_schedule=cron,
            execution_timezone=time_zone,
            execution_fn=_weekly_validation_schedule,
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Mondays: the weekly quality report on the seven business dates before the run.",
        )
    except dg.DagsterInvalidDefinitionError as exc:
        raise ConfigError(f"TOAST_WEEKLY_VALIDATION_CRON={cron!r} is not a valid cron schedule: {exc}") from exc


weekly_validation_schedule = build_weekly_validation_schedule()
