"""The daily schedule by its fire times (time zone and daylight saving included) and by what
each tick decides against a real SFTP server, lake and instance."""

import os
import time
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test
from dagster._utils.schedules import cron_string_iterator

from toast_assets.automation.schedules import build_daily_schedule, previous_business_date, toast_daily_schedule
from toast_assets.automation.alerts import TRIGGER_TAG
from toast_assets.demo.generator import generate
from toast_assets.landing.assets import toast_landing
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.settings import ConfigError
from toast_assets.sftp.assets import toast_sftp_files
from toast_assets.sftp.resources import ToastSftpResource

NEW_YORK = ZoneInfo("America/New_York")
BUSINESS_DATE = date(2026, 10, 2)
TICK = datetime(2026, 10, 3, 4, 30, tzinfo=NEW_YORK)


def fire_times(schedule: dg.ScheduleDefinition, after: datetime, count: int) -> list[datetime]:
    times = cron_string_iterator(after.timestamp(), schedule.cron_schedule, schedule.execution_timezone)
    return [next(times).astimezone(timezone.utc) for _ in range(count)]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_default_fires_at_0430_new_york_through_daylight_saving() -> None:
    assert toast_daily_schedule.execution_timezone == "America/New_York"
    # 2026-03-08: clocks go forward in New York; 04:30 local moves from 09:30 to 08:30 UTC.
    assert fire_times(toast_daily_schedule, utc(2026, 3, 6, 12), 3) == [utc(2026, 3, 7, 9, 30), utc(2026, 3, 8, 8, 30), utc(2026, 3, 9, 8, 30)]
    # 2026-11-01: clocks go back; 04:30 local is 09:30 UTC again.
    assert fire_times(toast_daily_schedule, utc(2026, 10, 31, 0), 2) == [utc(2026, 10, 31, 8, 30), utc(2026, 11, 1, 9, 30)]


def test_cron_and_time_zone_come_from_the_environment() -> None:
    schedule = build_daily_schedule({"TOAST_DAILY_CRON": "15 6 * * *", "TOAST_SCHEDULE_TIMEZONE": "America/Los_Angeles"})
    assert fire_times(schedule, utc(2026, 7, 1, 0), 2) == [utc(2026, 7, 1, 13, 15), utc(2026, 7, 2, 13, 15)]
    with pytest.raises(ConfigError, match="TOAST_DAILY_CRON"):
        build_daily_schedule({"TOAST_DAILY_CRON": "every morning"})
    with pytest.raises(ConfigError, match="TOAST_SCHEDULE_TIMEZONE"):
        build_daily_schedule({"TOAST_SCHEDULE_TIMEZONE": "Eastern"})


def test_a_tick_targets_the_previous_local_business_date() -> None:
    assert previous_business_date(TICK, "America/New_York") == BUSINESS_DATE
    # 02:00 UTC on 3 October is still 2 October in New York: its previous date is 1 October.
    assert previous_business_date(utc(2026, 10, 3, 2, 0), "America/New_York") == date(2026, 10, 1)
    assert previous_business_date(utc(2026, 10, 3, 2, 0), "Europe/London") == BUSINESS_DATE


@pytest.fixture
def served(make_sftp_server, tmp_path: Path) -> tuple[Path, ToastSftpResource, LocalLakeResource]:
    root = tmp_path / "exports"
    generate(root, BUSINESS_DATE, BUSINESS_DATE, locations=2, seed=3, orders_per_day=(5, 8))
    _, settings = make_sftp_server(root)
    toast_sftp = ToastSftpResource(
        host=settings.host, port=settings.port, username=settings.username,
        private_key_path=settings.private_key_path, known_hosts_path=settings.known_hosts_path,
    )
    return root, toast_sftp, LocalLakeResource(root=str(tmp_path / "lake"))


def tick(instance: dg.DagsterInstance, toast_sftp: ToastSftpResource, lake: LocalLakeResource) -> dg.RunRequest | dg.SkipReason:
    # As a context manager: the context opens its own handle on the instance and must close it.
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK, resources={"toast_sftp": toast_sftp, "lake": lake}) as context:
        return toast_daily_schedule(context)


def land(instance: dg.DagsterInstance, toast_sftp: ToastSftpResource, lake: LocalLakeResource, **kwargs: object) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*toast_sftp_files, toast_landing], partition_key=BUSINESS_DATE.isoformat(), instance=instance,
        resources={"toast_sftp": toast_sftp, "lake": lake}, **kwargs,
    )


def test_runs_a_new_date_and_skips_it_once_it_succeeded_with_the_same_files(served) -> None:
    root, toast_sftp, lake = served
    with dg.instance_for_test() as instance:
        first = tick(instance, toast_sftp, lake)
        assert isinstance(first, dg.RunRequest), first
        assert first.partition_key == "2026-10-02" and first.tags[TRIGGER_TAG] == "schedule"
        assert len(first.tags["toast/locations"].split(", ")) == 2

        assert land(instance, toast_sftp, lake).success
        skipped = tick(instance, toast_sftp, lake)
        assert isinstance(skipped, dg.SkipReason)
        assert "2026-10-02 already succeeded" in skipped.skip_message and "still the ones on the server" in skipped.skip_message

        # A corrected file after the successful run: the schedule runs the date again.
        path = next(root.rglob("OrderDetails.csv"))
        os.utime(path, (time.time() + 60, time.time() + 60))
        again = tick(instance, toast_sftp, lake)
        assert isinstance(again, dg.RunRequest), again
        assert again.partition_key == "2026-10-02"
        assert again.run_key != first.run_key


def test_runs_again_after_a_failed_run_and_waits_for_one_in_flight(served, sftp_keys) -> None:
    _, toast_sftp, lake = served
    with dg.instance_for_test() as instance:
        assert land(instance, toast_sftp, lake).success
        # A later run of the same date failed after landing (e.g. a blocking check).
        failing = dg.materialize(
            [*toast_sftp_files, toast_landing, _fails_after_landing], partition_key=BUSINESS_DATE.isoformat(), instance=instance,
            resources={"toast_sftp": toast_sftp, "lake": lake}, raise_on_error=False,
        )
        assert not failing.success
        request = tick(instance, toast_sftp, lake)
        assert isinstance(request, dg.RunRequest), request

        queued = create_run_for_test(
            instance, job_name="toast_daily", tags={"dagster/partition": BUSINESS_DATE.isoformat()}, status=dg.DagsterRunStatus.STARTED
        )
        waiting = tick(instance, toast_sftp, lake)
        assert isinstance(waiting, dg.SkipReason)
        assert f"run {queued.run_id} is already started" in waiting.skip_message


def test_judges_by_the_lake_when_the_server_cannot_be_reached(served) -> None:
    _, toast_sftp, lake = served
    with dg.instance_for_test() as instance:
        assert land(instance, toast_sftp, lake).success
        unreachable = ToastSftpResource(**{**toast_sftp.model_dump(), "port": 1})
        skipped = tick(instance, unreachable, lake)
        assert isinstance(skipped, dg.SkipReason)
        assert "nothing new could be seen on the server" in skipped.skip_message


@dg.asset(deps=[dg.AssetKey(["toast_landing", "order_details"])], partitions_def=toast_landing.partitions_def, backfill_policy=dg.BackfillPolicy.single_run())
def _fails_after_landing() -> None:
    raise RuntimeError("the raw load failed")
