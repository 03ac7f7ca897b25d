"""Asset checks on the raw manifest and the marts, for the business dates of each run.

- `files_complete` (WARN) on `toast_raw/file_manifest`: expected locations and files arrived;
  closed days are reported as closed.
- `volumes_within_history` (WARN) on `toast_marts/daily_sales_summary`: net sales, orders and
  row counts against the same weekday of previous weeks; stopped deliveries.
- `invariants_hold` (ERROR) on each mart: the Pandera invariants dbt tests cannot express.

The rules live in their own modules and return findings; this module only reads the run's
dates, calls them and turns the findings into check results (the weekly report calls the
same rules). None of these checks blocks: the marts of a run are built even when they warn.
"""

from collections.abc import Sequence
from datetime import date

import dagster as dg

from toast_assets.partitions import DAILY_PARTITIONS, window_dates
from toast_assets.quality.anomalies import ANOMALIES, anomalies_markdown, anomaly_findings
from toast_assets.quality.completeness import (
    CLOSED,
    COMPLETENESS,
    MISSING,
    PARTIAL,
    completeness_findings,
    completeness_markdown,
)
from toast_assets.quality.findings import ERROR, SKIPPED, WARN, WARNED, Finding, Severity, findings_markdown, sort_worst_first
from toast_assets.quality.mart_invariants import (
    DAILY_SALES,
    INVARIANTS,
    MART_INVARIANTS,
    MARTS,
    MARTS_SCHEMA,
    mart_invariant_findings,
)
from toast_assets.quality.resources import QualityPolicy
from toast_assets.raw.assets import RAW_GROUP
from toast_assets.raw.warehouse import FILE_MANIFEST_TABLE, WarehouseResource
from toast_assets.sftp.resources import ToastSftpResource

FILE_MANIFEST_KEY = dg.AssetKey([RAW_GROUP, FILE_MANIFEST_TABLE])
MART_KEYS: dict[str, dg.AssetKey] = {mart: dg.AssetKey([MARTS_SCHEMA, mart]) for mart in MARTS}
DESCRIPTION_PROBLEMS = 3  # problems quoted in a check's one-line description


def check_dates(context: dg.AssetCheckExecutionContext) -> list[date]:
    """The business dates of the run: one partition or a whole range."""
    window = context.partition_time_window
    return window_dates(window.start, window.end)


def check_result(
    asset_key: dg.AssetKey, check_name: str, severity: Severity, findings: Sequence[Finding], metadata: dict
) -> dg.AssetCheckResult:
    """A check result from findings: passes when none is a warning or failure; the
    description quotes the worst problems so the run's event log says what to do."""
    problems = sort_worst_first(f for f in findings if f.is_problem)
    description = None
    if problems:
        quoted = "; ".join(f.message for f in problems[:DESCRIPTION_PROBLEMS])
        more = f" (and {len(problems) - DESCRIPTION_PROBLEMS} more)" if len(problems) > DESCRIPTION_PROBLEMS else ""
        description = f"{len(problems)} problem(s): {quoted}{more}"
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR if severity == ERROR else dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "findings": dg.MetadataValue.int(len(findings)),
            "problems": dg.MetadataValue.int(len(problems)),
            **metadata,
            "problem_list": dg.MetadataValue.md(findings_markdown(findings)),
        },
    )


@dg.asset_check(
    asset=FILE_MANIFEST_KEY,
    name=COMPLETENESS,
    partitions_def=DAILY_PARTITIONS,
    blocking=False,
    description=(
        "Every expected location delivered the eight always-on Toast files (TimeEntries.csv optional) for each "
        "business date of the run. Expected: the SFTP export ids when configured, else the locations reference "
        "plus locations that delivered in recent weeks. All files header-only = closed, not missing. WARN."
    ),
)
def files_complete(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, quality: QualityPolicy, toast_sftp: ToastSftpResource
) -> dg.AssetCheckResult:
    dates = check_dates(context)
    findings = completeness_findings(warehouse, dates, list(toast_sftp.export_ids), quality.completeness_lookback_days)
    states = [f.figures.get("state") for f in findings]
    return check_result(
        FILE_MANIFEST_KEY,
        COMPLETENESS,
        WARN,
        findings,
        {
            "business_dates": dg.MetadataValue.int(len(dates)),
            "locations": dg.MetadataValue.int(len({f.location_id for f in findings})),
            "location_days_missing": dg.MetadataValue.int(states.count(MISSING)),
            "location_days_with_files_missing": dg.MetadataValue.int(states.count(PARTIAL)),
            "location_days_closed": dg.MetadataValue.int(states.count(CLOSED)),
            "deliveries": dg.MetadataValue.md(completeness_markdown(findings)),
        },
    )


@dg.asset_check(
    asset=MART_KEYS[DAILY_SALES],
    name=ANOMALIES,
    partitions_def=DAILY_PARTITIONS,
    blocking=False,
    additional_deps=[FILE_MANIFEST_KEY],
    description=(
        "Per location: net sales, orders and raw row counts per file against the same weekday of the previous "
        "weeks (median and MAD, robust z); flags drops, spikes and locations that stopped delivering. Runs without "
        "history and says when it is too short to compare. WARN."
    ),
)
def volumes_within_history(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, quality: QualityPolicy
) -> dg.AssetCheckResult:
    dates = check_dates(context)
    findings = anomaly_findings(warehouse, dates, quality)
    return check_result(
        MART_KEYS[DAILY_SALES],
        ANOMALIES,
        WARN,
        findings,
        {
            "comparisons": dg.MetadataValue.int(sum(f.status != SKIPPED for f in findings)),
            "flagged": dg.MetadataValue.int(sum(f.status == WARNED for f in findings)),
            "not_compared_short_history": dg.MetadataValue.int(sum(f.status == SKIPPED for f in findings)),
            "weeks_of_history": dg.MetadataValue.int(quality.anomaly_weeks),
            "robust_z_threshold": dg.MetadataValue.float(quality.anomaly_threshold),
            "anomalies": dg.MetadataValue.md(anomalies_markdown(findings, quality)),
        },
    )


def _mart_invariants_check(mart: str) -> dg.AssetChecksDefinition:
    rules = "\n".join(f"- `{i.name}`: {i.meaning}" for i in INVARIANTS[mart])
    others = [MART_KEYS[DAILY_SALES]] if mart != DAILY_SALES else []

    @dg.asset_check(
        asset=MART_KEYS[mart],
        name=MART_INVARIANTS,
        partitions_def=DAILY_PARTITIONS,
        blocking=False,
        additional_deps=[*others, FILE_MANIFEST_KEY],
        description=f"Pandera invariants of `{mart}` for the run's business dates (ERROR):\n{rules}",
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        dates = check_dates(context)
        findings = mart_invariant_findings(warehouse, mart, dates)
        broken: dict[str, int] = {}
        for f in findings:
            for rule, rows in f.figures.get("broken", {}).items():
                broken[rule] = broken.get(rule, 0) + rows
        return check_result(
            MART_KEYS[mart],
            MART_INVARIANTS,
            ERROR,
            findings,
            {
                "rows_checked": dg.MetadataValue.int(sum(f.figures.get("rows", 0) for f in findings)),
                "location_days_failed": dg.MetadataValue.int(sum(f.is_problem for f in findings)),
                "broken_rules": dg.MetadataValue.json(broken),
            },
        )

    return _check


MART_INVARIANT_CHECKS = [_mart_invariants_check(mart) for mart in MARTS]
QUALITY_CHECKS = [files_complete, volumes_within_history, *MART_INVARIANT_CHECKS]
