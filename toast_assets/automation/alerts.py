"""What the team reads when something needs them: the failed-run alert and the quality digest.

Pure composition from a run's tags and event log; the sensors in `sensors.py` decide when to
send, `toast_assets/notify` delivers. Every message names the business dates, the locations,
what failed (the step's real error, past Dagster's wrappers, or the check and its finding)
and links to the run in the Dagster UI.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from toast_assets.landing.lake import LakeResource
from toast_assets.landing.manifest import manifest_prefix
from toast_assets.notify.resources import Alert
from toast_assets.sftp.resources import ToastSftpResource

# Run tags the automation sets, so alerts and the UI say why a run exists and what it covers.
TRIGGER_TAG = "toast/trigger"
LOCATIONS_TAG = "toast/locations"
MISSING_TAG = "toast/missing_locations"
FILES_DIGEST_TAG = "toast/files_digest"
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

MAX_TAG_CHARS = 200
MAX_LISTED_PROBLEMS = 12
MAX_DATES_FOR_LOCATIONS = 31  # a year-long backfill's alert names locations from its first month


def short_list(values: Sequence[str]) -> str:
    """A list for a run tag or an alert line, cut to a readable length."""
    text = ", ".join(values)
    if len(text) <= MAX_TAG_CHARS:
        return text
    kept: list[str] = []
    for value in values:
        if len(", ".join([*kept, value])) > MAX_TAG_CHARS - 12:
            break
        kept.append(value)
    return f"{', '.join(kept)}, … (+{len(values) - len(kept)})"


def run_dates(tags: Mapping[str, str]) -> list[date]:
    """The business dates a run covers, from its partition or partition-range tags."""
    try:
        if PARTITION_TAG in tags:
            return [date.fromisoformat(tags[PARTITION_TAG])]
        if tags.get(RANGE_START_TAG) and tags.get(RANGE_END_TAG):
            first, last = date.fromisoformat(tags[RANGE_START_TAG]), date.fromisoformat(tags[RANGE_END_TAG])
            return [first + timedelta(days=i) for i in range((last - first).days + 1)]
    except ValueError:
        return []
    return []


def dates_text(dates: Sequence[date]) -> str:
    """Business dates as an alert shows them: one date, or first to last with the count."""
    if not dates:
        return "none (not a partitioned run)"
    if len(dates) == 1:
        return dates[0].isoformat()
    return f"{dates[0].isoformat()} to {dates[-1].isoformat()} ({len(dates)} dates)"


def run_locations(run: dg.DagsterRun, dates: Sequence[date], lake: LakeResource, toast_sftp: ToastSftpResource) -> str:
    """Which locations the run concerned: as the automation tagged it, else as the lake knows them."""
    if run.tags.get(LOCATIONS_TAG):
        missing = run.tags.get(MISSING_TAG)
        return run.tags[LOCATIONS_TAG] + (f" (missing: {missing})" if missing else "")
    found: set[str] = set()
    for business_date in list(dates)[:MAX_DATES_FOR_LOCATIONS]:
        for key in lake.list_keys(manifest_prefix(business_date)):
            found.add(key.rsplit("location=", 1)[-1].removesuffix(".json"))
    if found:
        return short_list(sorted(found))
    if toast_sftp.export_ids:
        return f"{short_list(list(toast_sftp.export_ids))} (configured)"
    return "not known yet (nothing of these dates was landed)"


@dataclass(frozen=True)
class CheckProblem:
    """A check of the run that did not pass."""

    asset: str
    check: str
    blocking: bool
    error: bool
    partition: str | None
    description: str

    def line(self) -> str:
        kind = "BLOCKING" if self.blocking else ("ERROR" if self.error else "WARN")
        where = f" [{self.partition}]" if self.partition else ""
        return f"• {kind} {self.asset} `{self.check}`{where}: {self.description}"


def check_problems(instance: dg.DagsterInstance, run_id: str) -> list[CheckProblem]:
    """The run's check evaluations that failed or warned, blocking ones first."""
    problems = []
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event else None
        if not isinstance(evaluation, dg.AssetCheckEvaluation) or evaluation.passed:
            continue
        text = (evaluation.description or "failed; see the check's metadata in the UI").splitlines()[0]
        problems.append(
            CheckProblem(
                asset=evaluation.asset_key.to_user_string(),
                check=evaluation.check_name,
                blocking=bool(evaluation.blocking),
                error=evaluation.severity == dg.AssetCheckSeverity.ERROR,
                partition=evaluation.partition,
                description=text[:300],
            )
        )
    return sorted(problems, key=lambda p: (not p.blocking, not p.error, p.asset, p.check))


def _problem_lines(problems: Sequence[CheckProblem]) -> list[str]:
    lines = [p.line() for p in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        lines.append(f"• … and {len(problems) - MAX_LISTED_PROBLEMS} more")
    return lines


# Dagster's own wrappers around the error user code raised; the alert names the real one.
ERROR_WRAPPERS = frozenset({"DagsterExecutionStepExecutionError", "RetryRequestedFromPolicy", "RetryRequested"})


def error_text(error: SerializableErrorInfo) -> str:
    """`SftpError: cannot reach …` from an error chain, past Dagster's wrappers."""
    while error.cls_name in ERROR_WRAPPERS and error.cause is not None:
        error = error.cause
    text = error.message.strip()
    head, sep, rest = text.partition(": ")
    if sep and error.cls_name and head.rsplit(".", 1)[-1] == error.cls_name:
        text = f"{error.cls_name}: {rest}"  # without the module path
    return text


def step_retries(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """How many times each step of the run was retried before its outcome."""
    counts: dict[str, int] = {}
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY).records:
        step = record.event_log_entry.dagster_event.step_key if record.event_log_entry.dagster_event else None
        if step:
            counts[step] = counts.get(step, 0) + 1
    return counts


def step_failure_lines(events: Sequence[dg.DagsterEvent], retries: Mapping[str, int] | None = None) -> list[str]:
    """`step: error` for each failed step, with the user's error rather than Dagster's wrapper."""
    lines = []
    for event in events:
        data = event.event_specific_data
        user = getattr(data, "user_failure_data", None)
        error = getattr(data, "error", None)
        if user is not None and user.description:
            text = user.description
        elif error is not None:
            text = error_text(error)
        else:
            text = event.message or "failed"
        tried = (retries or {}).get(event.step_key or "", 0)
        after = f" (after {tried} retr{'y' if tried == 1 else 'ies'})" if tried else ""
        lines.append(f"• step `{event.step_key}`{after}: {text.splitlines()[0][:400]}")
    return lines


def failure_alert(
    run: dg.DagsterRun,
    run_url: str,
    dates: Sequence[date],
    locations: str,
    step_lines: Sequence[str],
    problems: Sequence[CheckProblem],
    run_message: str | None,
) -> Alert:
    """The message for a failed run: what, when, where, why, and where to click."""
    trigger = run.tags.get(TRIGGER_TAG) or ("backfill" if run.tags.get("dagster/backfill") else "manual or schedule")
    lines = [
        f"Business date(s): {dates_text(dates)}",
        f"Locations: {locations}",
        f"Run: {run.run_id} (job {run.job_name}, trigger {trigger})",
    ]
    if step_lines:
        lines += ["Failed step(s):", *step_lines]
    elif run_message:
        lines.append(f"Failure: {run_message.splitlines()[0][:400]}")
    if problems:
        lines += ["Checks not passing:", *_problem_lines(problems)]
    lines.append("Next: fix the cause named above, then re-execute the run from its page (failed steps only) or wait for the next automatic run.")
    return Alert(title=f"Toast pipeline run FAILED for {dates_text(dates)}", lines=lines, link=run_url)


def digest_alert(run: dg.DagsterRun, run_url: str, dates: Sequence[date], problems: Sequence[CheckProblem]) -> Alert:
    """The day's quality digest: blocking failures and warnings of one run, in one message."""
    failing = sum(p.blocking or p.error for p in problems)
    warnings = len(problems) - failing
    return Alert(
        title=f"Toast data quality for {dates_text(dates)}: {failing} failing check(s), {warnings} warning(s)",
        lines=[f"Run: {run.run_id} (job {run.job_name}) succeeded; its checks found:", *_problem_lines(problems)],
        link=run_url,
    )
