"""Sensors: run a business date when Toast has delivered it, and tell the team what went wrong.

- `toast_arrival_sensor` looks at the SFTP server (one connection, a bounded time) and asks
  for a `toast_daily` run of a business date once every expected location's files are there
  and hold still, or once the cutoff passes with some locations still missing. A corrected
  re-delivery or a late location runs its date again; nothing else runs twice. A run that
  fails is not requested again by the sensor (same files, same run key): the failure alert
  tells the team, and the daily schedule runs the date again the next morning.
- `toast_run_failure_alert` posts every failed run (after Dagster's own retries) with its
  link, business dates, locations, the failed step and the failed rules.
- `toast_quality_digest` posts, for each successful run whose checks found problems, one
  message with the blocking failures and the warnings of its business dates.
- `toast_lost_retry_alert` posts a failed run that Dagster meant to retry automatically
  (`dagster/will_retry=true`, so the failure alert stayed quiet) when no retry has started
  within TOAST_RETRY_GRACE_MINUTES of its end: the daemon was down, or missed the failure.
  Without it such a date stays unloaded and nobody is told.

    TOAST_ARRIVAL_INTERVAL_SECONDS      seconds between looks at the server (default 300)
    TOAST_ARRIVAL_SETTLE_SECONDS        files untouched this long count as complete (default 600)
    TOAST_ARRIVAL_CUTOFF_MINUTES        after a date's first file, run without the missing
                                        locations after this long (default 240)
    TOAST_ARRIVAL_LOOKBACK_DAYS         business dates looked at, before today (default 10)
    TOAST_ARRIVAL_TIME_BUDGET_SECONDS   longest look at the server per tick (default 40)
    TOAST_ALERT_INTERVAL_SECONDS        seconds between checks for failed runs (default 30)
    TOAST_RETRY_GRACE_MINUTES           a failed run's automatic retry counts as lost when it
                                        has not started this long after the run ended (default 10)
    TOAST_AUTOMATION_DEFAULT_STATUS     `running` or `stopped`: the arrival sensor and the daily
                                        schedule on a fresh instance (default running; the UI
                                        switch wins once touched)
"""

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.storage.dagster_run import RunsFilter

from toast_assets.automation.alerts import (
    FILES_DIGEST_TAG,
    LOCATIONS_TAG,
    MISSING_TAG,
    TRIGGER_TAG,
    check_problems,
    digest_alert,
    failure_alert,
    run_dates,
    run_locations,
    short_list,
    step_failure_lines,
    step_retries,
)
from toast_assets.automation.cursor import ArrivalCursor, ArrivalSettings, DateDecision, FileState, decide, skip_message
from toast_assets.landing.lake import LakeResource
from toast_assets.landing.landing import read_manifest
from toast_assets.notify.resources import Alert, ToastNotifier
from toast_assets.partitions import DAILY_PARTITIONS
from toast_assets.settings import ConfigError
from toast_assets.sftp.client import SftpError, ToastSftpClient
from toast_assets.sftp.resources import ToastSftpResource

DAILY_JOB = "toast_daily"
ARRIVAL_SENSOR = "toast_arrival_sensor"
FAILURE_SENSOR = "toast_run_failure_alert"
DIGEST_SENSOR = "toast_quality_digest"
LOST_RETRY_SENSOR = "toast_lost_retry_alert"
WILL_RETRY_TAG = "dagster/will_retry"
AUTO_RETRY_RUN_ID_TAG = "dagster/auto_retry_run_id"  # set by the daemon when it launches the retry
# Failed runs looked at for a retry that never started: those that ended within this window.
LOST_RETRY_LOOKBACK_SECONDS = 24 * 3600
LOST_RETRY_LIMIT = 200


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum:g}")
    return value


@dataclass(frozen=True)
class ArrivalConfig:
    """The arrival sensor's knobs, read once when the code location loads."""

    interval_seconds: int
    lookback_days: int
    time_budget_seconds: float
    judge: ArrivalSettings


def arrival_config(env: Mapping[str, str] | None = None) -> ArrivalConfig:
    """The arrival sensor's settings from `TOAST_ARRIVAL_*`, checked when the code location loads."""
    env = os.environ if env is None else env
    return ArrivalConfig(
        interval_seconds=int(_number(env, "TOAST_ARRIVAL_INTERVAL_SECONDS", 300, 1)),
        lookback_days=int(_number(env, "TOAST_ARRIVAL_LOOKBACK_DAYS", 10, 1)),
        time_budget_seconds=_number(env, "TOAST_ARRIVAL_TIME_BUDGET_SECONDS", 40, 1),
        judge=ArrivalSettings(
            settle_seconds=_number(env, "TOAST_ARRIVAL_SETTLE_SECONDS", 600, 0),
            cutoff_seconds=_number(env, "TOAST_ARRIVAL_CUTOFF_MINUTES", 240, 0) * 60,
        ),
    )


def alert_interval(env: Mapping[str, str] | None = None) -> int:
    """Seconds between the alert sensors' looks at finished runs (`TOAST_ALERT_INTERVAL_SECONDS`)."""
    env = os.environ if env is None else env
    return int(_number(env, "TOAST_ALERT_INTERVAL_SECONDS", 30, 1))


def retry_grace_seconds(env: Mapping[str, str] | None = None) -> float:
    """How long after a failed run ends its automatic retry may take to start (`TOAST_RETRY_GRACE_MINUTES`)."""
    env = os.environ if env is None else env
    return _number(env, "TOAST_RETRY_GRACE_MINUTES", 10, 1) * 60


def automation_default_status(env: Mapping[str, str] | None = None) -> bool:
    """True when the arrival sensor and daily schedule start switched on (`TOAST_AUTOMATION_DEFAULT_STATUS`)."""
    env = os.environ if env is None else env
    value = (env.get("TOAST_AUTOMATION_DEFAULT_STATUS") or "running").strip().lower()
    if value not in ("running", "stopped"):
        raise ConfigError(f"TOAST_AUTOMATION_DEFAULT_STATUS={value!r}: use 'running' or 'stopped'")
    return value == "running"


ARRIVAL = arrival_config()


# ---------------------------------------------------------------------------------------------
# Looking at the server and at the lake (shared with the daily schedule)
# ---------------------------------------------------------------------------------------------


class ListingTooSlow(SftpError):
    """Listing the export tree took longer than the sensor's time budget."""


def quick_client(toast_sftp: ToastSftpResource, budget_seconds: float) -> ToastSftpClient:
    """One connection without retries and with short timeouts, for sensor and schedule ticks:
    the daemon gives a tick about a minute, and the next tick is the retry."""
    settings = toast_sftp.settings()
    per_call = max(1.0, budget_seconds / 4)
    return ToastSftpClient(
        replace(settings, connect_timeout=min(settings.connect_timeout, per_call), read_timeout=min(settings.read_timeout, per_call))
    )


def partition_today(now: float) -> date:
    """The current calendar day where business dates are kept (the partitions' time zone)."""
    return datetime.fromtimestamp(now, ZoneInfo(DAILY_PARTITIONS.timezone)).date()


def partition_bounds(now: float) -> tuple[date, date]:
    """First and last business date that have a partition at `now` (a date's partition opens
    when the date is over)."""
    return DAILY_PARTITIONS.start.date(), partition_today(now) - timedelta(days=1)


def look_at_server(
    client: ToastSftpClient, export_ids: Sequence[str], first: date, last: date, deadline: float
) -> tuple[dict[date, dict[str, list[FileState]]], list[str]]:
    """Every file of business dates first..last, per date and location, over one connection.

    Returns the listing and the locations present on the server. Raises ListingTooSlow past
    `deadline` (a monotonic time) rather than let a slow server hold the sensor daemon.
    """
    def check_time() -> None:
        if time.monotonic() > deadline:
            raise ListingTooSlow(
                f"listing the export tree on {client.settings.endpoint} took longer than the sensor's time budget; "
                "raise TOAST_ARRIVAL_TIME_BUDGET_SECONDS or lower TOAST_ARRIVAL_LOOKBACK_DAYS"
            )

    on_server = client.list_export_ids()
    wanted = set(export_ids)
    locations = [x for x in on_server if x in wanted] if wanted else on_server
    listing: dict[date, dict[str, list[FileState]]] = {}
    for export_id in locations:
        check_time()
        for business_date in client.list_dates(export_id):
            if first <= business_date <= last:
                check_time()
                files = client.list_files(export_id, business_date)
                listing.setdefault(business_date, {})[export_id] = [(f.name, f.size, f.mtime) for f in files]
    return listing, on_server


def lake_differences(lake: LakeResource, business_date: date, files_by_location: Mapping[str, Sequence[FileState]]) -> list[str]:
    """What the server holds that the lake does not (new or changed files), as short phrases."""
    out: list[str] = []
    for location, files in sorted(files_by_location.items()):
        manifest = read_manifest(lake, business_date, location)
        if manifest is None:
            out.append(f"location {location}: {len(files)} file(s) not landed")
            continue
        changed = [n for n, size, mtime in files if (f := manifest.files.get(n)) is None or (f.size, f.source_mtime) != (size, mtime)]
        if changed:
            out.append(f"location {location}: {', '.join(sorted(changed))} new or changed")
    return out


def lake_holds(lake: LakeResource, business_date: date, files_by_location: Mapping[str, Sequence[FileState]]) -> bool:
    """True when the lake manifests list every one of these files with the same size and mtime."""
    return not lake_differences(lake, business_date, files_by_location)


# ---------------------------------------------------------------------------------------------
# Arrival sensor
# ---------------------------------------------------------------------------------------------


def run_request_for(decision: DateDecision) -> dg.RunRequest:
    """The `toast_daily` run of one business date, keyed by its files so a repeat is a no-op."""
    tags = {TRIGGER_TAG: decision.trigger or "arrival", LOCATIONS_TAG: short_list(decision.locations), FILES_DIGEST_TAG: decision.digest}
    if decision.missing:
        tags[MISSING_TAG] = short_list(decision.missing)
    return dg.RunRequest(run_key=decision.run_key, partition_key=decision.business_date.isoformat(), tags=tags)


def evaluate_arrivals(
    context: dg.SensorEvaluationContext,
    toast_sftp: ToastSftpResource,
    lake: LakeResource,
    config: ArrivalConfig = ARRIVAL,
    now: float | None = None,
) -> dg.SensorResult:
    """One tick of the arrival sensor (separate from the decorator so tests can fix the clock)."""
    now = time.time() if now is None else now
    first_partition, last_partition = partition_bounds(now)
    first = max(first_partition, partition_today(now) - timedelta(days=config.lookback_days))
    window = f"business dates {first.isoformat()} to {last_partition.isoformat()}"
    if last_partition < first:
        return dg.SensorResult(skip_reason=f"no business date has a partition yet (the first is {first_partition.isoformat()})")
    previous = ArrivalCursor.from_json(context.cursor)
    started = time.monotonic()
    with quick_client(toast_sftp, config.time_budget_seconds) as client:
        listing, on_server = look_at_server(client, toast_sftp.export_ids, first, last_partition, started + config.time_budget_seconds)
    expected = list(toast_sftp.export_ids) or sorted({loc for day in listing.values() for loc in day} or on_server)
    decisions, following = decide(
        listing, previous, expected, now, config.judge, already_landed=lambda d, files: lake_holds(lake, d, files)
    )
    requests = []
    for decision in decisions:
        if decision.action == "run":
            context.log.info(f"requesting business date {decision.business_date}: {decision.reason} (locations {', '.join(decision.locations)})")
            requests.append(run_request_for(decision))
        elif decision.action == "landed":
            context.log.info(f"business date {decision.business_date}: {decision.reason}; no run needed")
    seconds = time.monotonic() - started
    context.log.debug(f"looked at {len(listing)} business date(s) on {toast_sftp.describe()} in {seconds:.1f}s")
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=following.to_json())
    return dg.SensorResult(skip_reason=skip_message(decisions, window), cursor=following.to_json())


@dg.sensor(
    name=ARRIVAL_SENSOR,
    job_name=DAILY_JOB,
    minimum_interval_seconds=ARRIVAL.interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING if automation_default_status() else dg.DefaultSensorStatus.STOPPED,
    description=(
        "Runs a business date as soon as Toast has delivered it: all expected locations present and their files "
        "holding still (same on two looks, or older than TOAST_ARRIVAL_SETTLE_SECONDS), or the cutoff "
        "(TOAST_ARRIVAL_CUTOFF_MINUTES after the first file) passed. A corrected re-delivery or a late location "
        "runs its date again. One SFTP connection per tick."
    ),
)
def toast_arrival_sensor(context: dg.SensorEvaluationContext, toast_sftp: ToastSftpResource, lake: LakeResource) -> dg.SensorResult:
    return evaluate_arrivals(context, toast_sftp, lake)


# ---------------------------------------------------------------------------------------------
# Alerts (messages composed in toast_assets/automation/alerts.py)
# ---------------------------------------------------------------------------------------------


@dg.run_failure_sensor(
    name=FAILURE_SENSOR,
    minimum_interval_seconds=alert_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts every failed run of this code location to the team's webhook (TOAST_ALERT_WEBHOOK_URL), or logs it.",
)
def toast_run_failure_alert(
    context: dg.RunFailureSensorContext, notifier: ToastNotifier, lake: LakeResource, toast_sftp: ToastSftpResource
) -> None:
    run = context.dagster_run
    if run.tags.get(WILL_RETRY_TAG) == "true":
        # The instance re-executes it (run retries); the retry alerts if it fails too.
        context.log.info(f"run {run.run_id} failed and will be retried automatically; no alert yet")
        return
    alert = _failed_run_alert(
        context.instance, run, notifier, lake, toast_sftp, context.get_step_failure_events(), context.failure_event.message
    )
    notifier.send(alert)


def _failed_run_alert(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    notifier: ToastNotifier,
    lake: LakeResource,
    toast_sftp: ToastSftpResource,
    step_failures: Sequence[dg.DagsterEvent],
    run_message: str | None,
) -> Alert:
    """The failed-run alert of `run`, from its tags, event log and the lake."""
    dates = run_dates(run.tags)
    return failure_alert(
        run,
        notifier.run_url(run.run_id),
        dates,
        run_locations(run, dates, lake, toast_sftp),
        step_failure_lines(step_failures, step_retries(instance, run.run_id)),
        check_problems(instance, run.run_id),
        run_message,
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name=DIGEST_SENSOR,
    minimum_interval_seconds=alert_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After each successful run, one message with the checks that failed or warned for its business dates.",
)
def toast_quality_digest(context: dg.RunStatusSensorContext, notifier: ToastNotifier) -> dg.SkipReason | None:
    run = context.dagster_run
    problems = check_problems(context.instance, run.run_id)
    if not problems:
        return dg.SkipReason(f"run {run.run_id}: every check passed")
    notifier.send(digest_alert(run, notifier.run_url(run.run_id), run_dates(run.tags), problems))
    return None


def _now() -> float:
    return time.time()


@dg.sensor(
    name=LOST_RETRY_SENSOR,
    minimum_interval_seconds=alert_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Posts a failed run Dagster meant to retry automatically (so the failure alert stayed quiet) when no retry "
        "started within TOAST_RETRY_GRACE_MINUTES (default 10) of its end."
    ),
)
def toast_lost_retry_alert(
    context: dg.SensorEvaluationContext, notifier: ToastNotifier, lake: LakeResource, toast_sftp: ToastSftpResource
) -> dg.SkipReason:
    now, grace = _now(), retry_grace_seconds()
    records = context.instance.get_run_records(
        filters=RunsFilter(
            statuses=[dg.DagsterRunStatus.FAILURE],
            tags={WILL_RETRY_TAG: "true"},
            updated_after=datetime.fromtimestamp(now - LOST_RETRY_LOOKBACK_SECONDS, tz=ZoneInfo("UTC")),
        ),
        limit=LOST_RETRY_LIMIT,
    )
    waiting = [
        r for r in records
        if AUTO_RETRY_RUN_ID_TAG not in r.dagster_run.tags and r.end_time and now - r.end_time < LOST_RETRY_LOOKBACK_SECONDS
    ]  # fmt: skip
    alerted = set(json.loads(context.cursor)) if context.cursor else set()
    lost = [
        r.dagster_run
        for r in waiting
        if now - r.end_time >= grace and r.dagster_run.run_id not in alerted  # ty: ignore[unsupported-operator]
    ]
    for run in sorted(lost, key=lambda r: r.run_id):
        failure = context.instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
        alert = _failed_run_alert(
            context.instance, run, notifier, lake, toast_sftp, _step_failures(context.instance, run.run_id),
            failure[-1].event_log_entry.message if failure else None,
        )  # fmt: skip
        notifier.send(
            replace(
                alert,
                title=f"{alert.title}: its automatic retry never started",
                lines=[
                    f"Dagster meant to retry this run; no retry started within {grace / 60:g} minutes of its end.",
                    "Check that dagster-daemon is running, then re-execute the run from its page.",
                    *alert.lines,
                ],
            )
        )
        alerted.add(run.run_id)
    # Remember only what is still looked at, so the cursor stays small.
    context.update_cursor(json.dumps(sorted(alerted & {r.dagster_run.run_id for r in waiting})))
    if lost:
        return dg.SkipReason(f"posted {len(lost)} failed run(s) whose automatic retry never started")
    return dg.SkipReason(f"{len(waiting)} failed run(s) waiting for their automatic retry, none past the grace period")


def _step_failures(instance: dg.DagsterInstance, run_id: str) -> list[dg.DagsterEvent]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    return [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event is not None]


ALERT_SENSORS = [toast_run_failure_alert, toast_quality_digest, toast_lost_retry_alert]
