"""The daily safety net: every morning, yesterday's business date, unless it is already done.

The arrival sensor normally runs a date as soon as Toast has delivered it. The schedule
catches everything else: the sensor switched off, a run that failed, a delivery that came in
while the sensor could not reach the server, or no delivery at all (then the run lands
nothing and the completeness check tells the team which locations did not deliver).

It skips the date only when all of these hold: no run for it is queued or in progress, the
lake already holds exactly the files the server has for it (names, sizes, mtimes), and the
latest run that processed it succeeded.

    TOAST_DAILY_CRON           default "30 4 * * *" (04:30 every day)
    TOAST_SCHEDULE_TIMEZONE    default America/New_York (shared with the freshness deadline)
"""

import os
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg
from dagster_shared.check import CheckError

from toast_assets.automation.alerts import FILES_DIGEST_TAG, LOCATIONS_TAG, TRIGGER_TAG, run_dates
from toast_assets.automation.cursor import FileState, date_digest
from toast_assets.automation.sensors import DAILY_JOB, automation_default_status, lake_differences, quick_client
from toast_assets.landing.assets import LANDING_GROUP
from toast_assets.landing.lake import LakeResource
from toast_assets.quality.freshness import schedule_timezone
from toast_assets.settings import ConfigError
from toast_assets.sftp.client import SftpError
from toast_assets.sftp.resources import ToastSftpResource

DAILY_SCHEDULE = "toast_daily_schedule"
DEFAULT_DAILY_CRON = "30 4 * * *"
# Every toast_daily run materializes landing for each of its dates, even when nothing new was
# downloaded: the latest landing materialization of a date names the latest run that processed it.
LANDING_MARKER = dg.AssetKey([LANDING_GROUP, "order_details"])
RECENT_RUNS = 50
LISTING_BUDGET_SECONDS = 40.0
IN_FLIGHT = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
)


def daily_cron(env: Mapping[str, str] | None = None) -> str:
    """The schedule's cron (`TOAST_DAILY_CRON`), checked when the code location loads."""
    env = os.environ if env is None else env
    return (env.get("TOAST_DAILY_CRON") or "").strip() or DEFAULT_DAILY_CRON


def previous_business_date(moment: datetime, time_zone: str) -> date:
    """The business date a tick at `moment` processes: the day before, on the local calendar."""
    zone = ZoneInfo(time_zone)
    local = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)
    return local.date() - timedelta(days=1)


def run_in_flight(instance: dg.DagsterInstance, business_date: date) -> dg.DagsterRun | None:
    """A queued or running run that covers the date, single day or range."""
    records = instance.get_run_records(dg.RunsFilter(statuses=list(IN_FLIGHT)), limit=RECENT_RUNS)
    return next((r.dagster_run for r in records if business_date in run_dates(r.dagster_run.tags)), None)


def last_processing_run(instance: dg.DagsterInstance, business_date: date) -> dg.DagsterRun | None:
    """The latest run that landed (or re-checked) the date, whatever its outcome."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=LANDING_MARKER, asset_partitions=[business_date.isoformat()]), limit=1
    ).records
    return instance.get_run_by_id(records[0].run_id) if records else None


def evaluate_daily(context: dg.ScheduleEvaluationContext, toast_sftp: ToastSftpResource, lake: LakeResource, time_zone: str) -> dg.RunRequest | dg.SkipReason:
    """One tick of the daily schedule (separate from the decorator so tests call it directly)."""
    moment = context.scheduled_execution_time or datetime.now(timezone.utc)
    business_date = previous_business_date(moment, time_zone)
    key = business_date.isoformat()
    running = run_in_flight(context.instance, business_date)
    if running is not None:
        return dg.SkipReason(f"business date {key}: run {running.run_id} is already {running.status.value.lower()}")

    files: dict[str, list[FileState]] | None
    try:
        with quick_client(toast_sftp, LISTING_BUDGET_SECONDS) as client:
            remote = client.list_tree(export_ids=toast_sftp.export_ids or None, dates=[business_date])
        files = {}
        for f in remote:
            files.setdefault(f.export_id, []).append((f.name, f.size, f.mtime))
    except SftpError as exc:
        context.log.warning(f"could not list business date {key} on {toast_sftp.describe()}: {exc}; judging by the lake and past runs only")
        files = None

    tags = {TRIGGER_TAG: "schedule"}
    if files:
        tags[LOCATIONS_TAG] = ", ".join(sorted(files))
        tags[FILES_DIGEST_TAG] = date_digest(files)
    differences = lake_differences(lake, business_date, files) if files else []
    last = last_processing_run(context.instance, business_date)
    if last is not None and last.status == dg.DagsterRunStatus.SUCCESS and not differences:
        what = "the files it landed are still the ones on the server" if files else "nothing new could be seen on the server"
        return dg.SkipReason(f"business date {key} already succeeded in run {last.run_id} and {what}")
    if differences:
        reason = "; ".join(differences)
    elif last is None:
        reason = "never processed" + ("" if files else " and no files on the server yet (the run reports the missing locations)")
    else:
        reason = f"its latest run {last.run_id} ended {last.status.value.lower()}"
    context.log.info(f"requesting business date {key}: {reason}")
    return dg.RunRequest(run_key=f"{key}:{tags.get(FILES_DIGEST_TAG, 'none')}:{moment.date().isoformat()}", partition_key=key, tags=tags)


def build_daily_schedule(env: Mapping[str, str] | None = None) -> dg.ScheduleDefinition:
    """The schedule from the environment: `TOAST_DAILY_CRON` in `TOAST_SCHEDULE_TIMEZONE`."""
    cron, time_zone = daily_cron(env), schedule_timezone(env)

    def _toast_daily_schedule(context: dg.ScheduleEvaluationContext, toast_sftp: ToastSftpResource, lake: LakeResource) -> dg.RunRequest | dg.SkipReason:
        return evaluate_daily(context, toast_sftp, lake, time_zone)

    try:
        return dg.schedule(
            cron_schedule=cron,
            name=DAILY_SCHEDULE,
            job_name=DAILY_JOB,
            execution_timezone=time_zone,
            default_status=dg.DefaultScheduleStatus.RUNNING if automation_default_status(env) else dg.DefaultScheduleStatus.STOPPED,
            description=(
                f"Safety net at {cron} ({time_zone}): runs the previous business date unless it already succeeded "
                "with the files the server has now."
            ),
        )(_toast_daily_schedule)
    except (CheckError, dg.DagsterInvalidDefinitionError) as exc:  # dagster validates the cron string itself
        raise ConfigError(f"TOAST_DAILY_CRON={cron!r} is not a valid cron schedule: {exc}") from exc


toast_daily_schedule = build_daily_schedule()
