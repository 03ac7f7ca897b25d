"""The sensors by direct invocation with built contexts, against a real SFTP server and lake.

- arrival: two looks before a fresh delivery runs; history the lake already holds is not
  re-run; a corrected file runs its date again; an unreachable server fails the tick with a
  message; a slow listing stops at the time budget;
- failure alert: a real failed run (refused SFTP key) posts its link, date, locations and
  failed step to a local webhook;
- quality digest: a successful run with failing checks posts one message with all of them;
- lost retry: a failed run meant to be retried whose retry never started is posted once, after
  the grace period (the clock moved forward by patching the sensor's `_now`).
"""

import os
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from servers import webhook_server
from toast_assets.automation.cursor import ArrivalCursor, ArrivalSettings
from toast_assets.automation.alerts import FILES_DIGEST_TAG, LOCATIONS_TAG, TRIGGER_TAG, run_dates
from toast_assets.automation import sensors
from toast_assets.automation.sensors import (
    ARRIVAL,
    ArrivalConfig,
    ListingTooSlow,
    evaluate_arrivals,
    toast_arrival_sensor,
    toast_lost_retry_alert,
    toast_quality_digest,
    toast_run_failure_alert,
)
from toast_assets.demo.generator import generate
from toast_assets.landing.assets import toast_landing
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.landing.landing import land
from toast_assets.landing.local_source import LocalExportTree
from toast_assets.notify.resources import ToastNotifier
from toast_assets.sftp.assets import toast_sftp_files
from toast_assets.sftp.client import SftpError
from toast_assets.sftp.resources import ToastSftpResource

TODAY = datetime.now(ZoneInfo("America/New_York")).date()
DATES = [TODAY - timedelta(days=3), TODAY - timedelta(days=2)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    generate(root, DATES[0], DATES[-1], locations=2, seed=5, orders_per_day=(5, 8))
    return root


@pytest.fixture
def exports(generated: Path, tmp_path: Path) -> Path:
    root = tmp_path / "exports"
    shutil.copytree(generated, root)
    now = time.time()
    for path in root.rglob("*.csv"):
        os.utime(path, (now, now))  # a delivery that has just been written
    return root


def sftp_resource(settings, **overrides: object) -> ToastSftpResource:
    values = dict(
        host=settings.host, port=settings.port, username=settings.username,
        private_key_path=settings.private_key_path, known_hosts_path=settings.known_hosts_path,
    )
    values.update(overrides)
    return ToastSftpResource(**values)


def tick(resources: dict, cursor: str | None = None, instance: dg.DagsterInstance | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(cursor=cursor, resources=resources, instance=instance)
    return toast_arrival_sensor(context)


def requested_dates(result: dg.SensorResult) -> list[str]:
    return sorted(r.partition_key for r in result.run_requests or [])


def test_arrival_sensor_waits_for_a_second_look_then_requests_each_date_once(exports: Path, make_sftp_server, tmp_path: Path) -> None:
    _, settings = make_sftp_server(exports)
    resources = {"toast_sftp": sftp_resource(settings), "lake": LocalLakeResource(root=str(tmp_path / "lake"))}

    first = tick(resources)
    assert not first.run_requests
    assert "files still arriving" in str(first.skip_reason)
    assert DATES[0].isoformat() in str(first.skip_reason)

    second = tick(resources, first.cursor)
    assert requested_dates(second) == [d.isoformat() for d in DATES]
    request = second.run_requests[0]
    assert request.tags[TRIGGER_TAG] == "complete"
    assert len(request.tags[LOCATIONS_TAG].split(", ")) == 2
    assert request.run_key == f"{request.partition_key}:{request.tags[FILES_DIGEST_TAG]}"
    assert len(second.cursor) < 1000, "the cursor stays compact"

    third = tick(resources, second.cursor)
    assert not third.run_requests
    assert "nothing new" in str(third.skip_reason)

    # A corrected re-delivery of one file of a past date: that date, and only it, runs again.
    location = sorted(p.name for p in exports.iterdir() if p.name.isdigit())[0]
    path = exports / location / DATES[0].strftime("%Y%m%d") / "OrderDetails.csv"
    path.write_bytes(path.read_bytes() + b"")
    os.utime(path, (time.time() + 5, time.time() + 5))
    changing = tick(resources, third.cursor)
    assert not changing.run_requests and "files still arriving" in str(changing.skip_reason)
    rerun = tick(resources, changing.cursor)
    assert requested_dates(rerun) == [DATES[0].isoformat()]
    assert rerun.run_requests[0].tags[TRIGGER_TAG] == "redelivery"
    assert rerun.run_requests[0].run_key != second.run_requests[0].run_key


def test_arrival_sensor_leaves_dates_the_lake_already_holds(exports: Path, make_sftp_server, tmp_path: Path) -> None:
    _, settings = make_sftp_server(exports)
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    land(LocalExportTree(exports), lake, [DATES[0]])  # e.g. landed by last week's backfill
    resources = {"toast_sftp": sftp_resource(settings), "lake": lake}
    config = ArrivalConfig(interval_seconds=60, lookback_days=10, time_budget_seconds=30, judge=ArrivalSettings(settle_seconds=0))

    context = dg.build_sensor_context(resources=resources)
    result = evaluate_arrivals(context, resources["toast_sftp"], lake, config)
    assert requested_dates(result) == [DATES[1].isoformat()]
    assert set(ArrivalCursor.from_json(result.cursor).ran) == {d.isoformat() for d in DATES}


def test_arrival_sensor_waits_for_configured_locations_until_the_cutoff(exports: Path, make_sftp_server, tmp_path: Path) -> None:
    _, settings = make_sftp_server(exports)
    present = sorted(p.name for p in exports.iterdir() if p.name.isdigit())
    expected = [*present, "999999"]
    toast_sftp = sftp_resource(settings, export_ids=expected)
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    config = ArrivalConfig(interval_seconds=60, lookback_days=10, time_budget_seconds=30, judge=ArrivalSettings(settle_seconds=0, cutoff_seconds=3600))

    now = time.time()
    waiting = evaluate_arrivals(dg.build_sensor_context(), toast_sftp, lake, config, now=now)
    assert not waiting.run_requests
    assert "waiting for location(s) 999999 (2 of 3 delivered)" in str(waiting.skip_reason)

    after_cutoff = evaluate_arrivals(dg.build_sensor_context(cursor=waiting.cursor), toast_sftp, lake, config, now=now + 3700)
    assert requested_dates(after_cutoff) == [d.isoformat() for d in DATES]
    assert all(r.tags[TRIGGER_TAG] == "cutoff" and r.tags["toast/missing_locations"] == "999999" for r in after_cutoff.run_requests)


def test_arrival_sensor_tick_fails_with_a_message_when_the_server_is_down(exports: Path, make_sftp_server, tmp_path: Path) -> None:
    server, settings = make_sftp_server(exports)
    server.stop()
    resources = {"toast_sftp": sftp_resource(settings), "lake": LocalLakeResource(root=str(tmp_path / "lake"))}
    started = time.monotonic()
    with pytest.raises(SftpError, match="cannot reach SFTP server"):
        tick(resources)
    assert time.monotonic() - started < 10, "a sensor tick does not sit in connection retries"


def test_arrival_sensor_stops_listing_at_its_time_budget(exports: Path, make_sftp_server, tmp_path: Path) -> None:
    _, settings = make_sftp_server(exports)
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    config = ArrivalConfig(interval_seconds=60, lookback_days=10, time_budget_seconds=1e-6, judge=ARRIVAL.judge)
    with pytest.raises(ListingTooSlow, match="TOAST_ARRIVAL_TIME_BUDGET_SECONDS"):
        evaluate_arrivals(dg.build_sensor_context(), sftp_resource(settings), lake, config)


def test_run_dates_from_partition_and_range_tags() -> None:
    assert run_dates({"dagster/partition": "2026-10-02"}) == [date(2026, 10, 2)]
    assert run_dates({"dagster/asset_partition_range_start": "2026-10-01", "dagster/asset_partition_range_end": "2026-10-03"}) == [
        date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)
    ]
    assert run_dates({}) == [] and run_dates({"dagster/partition": "weekly"}) == []


def _event(instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType) -> dg.DagsterEvent:
    records = instance.get_records_for_run(run_id, of_type=event_type).records
    assert records, f"run {run_id} has no {event_type} event"
    return records[-1].event_log_entry.dagster_event


def test_failure_alert_posts_link_date_locations_and_failed_step(exports: Path, make_sftp_server, sftp_keys, tmp_path: Path) -> None:
    _, settings = make_sftp_server(exports)
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    # A key Toast does not know: the landing step fails at once, without step retries.
    toast_sftp = sftp_resource(settings, private_key_path=str(sftp_keys.stranger_key))
    with dg.instance_for_test() as instance, webhook_server() as webhook:
        started = time.monotonic()
        result = dg.materialize(
            [*toast_sftp_files, toast_landing], partition_key=DATES[1].isoformat(), instance=instance,
            resources={"toast_sftp": toast_sftp, "lake": lake}, raise_on_error=False,
        )
        assert not result.success
        assert time.monotonic() - started < 30, "a refused key is not retried"
        run = instance.get_run_by_id(result.run_id)
        notifier = ToastNotifier(webhook_url=webhook.url, dagster_url="http://dagster.example.com:3000/")
        context = dg.build_run_status_sensor_context(
            sensor_name="toast_run_failure_alert",
            dagster_event=_event(instance, run.run_id, dg.DagsterEventType.RUN_FAILURE),
            dagster_instance=instance,
            dagster_run=run,
            resources={"notifier": notifier, "lake": lake, "toast_sftp": toast_sftp},
        ).for_run_failure()
        toast_run_failure_alert(context)

        assert len(webhook.received) == 1
        text = webhook.texts()[0]
        assert f"http://dagster.example.com:3000/runs/{run.run_id}" in text
        assert f"Toast pipeline run FAILED for {DATES[1].isoformat()}" in text
        assert "step `toast_landing`" in text and "refused" in text
        assert "Locations: not known yet" in text
        assert "(after" not in text, "a refused key is not retried"
        assert webhook.url not in text and "secret-token" not in text


def test_failure_alert_waits_for_the_last_automatic_retry(tmp_path: Path) -> None:
    @dg.asset
    def breaks() -> None:
        raise RuntimeError("boom")

    with dg.instance_for_test() as instance, webhook_server() as webhook:
        result = dg.materialize([breaks], instance=instance, raise_on_error=False, tags={"dagster/will_retry": "true"})
        run = instance.get_run_by_id(result.run_id)
        context = dg.build_run_status_sensor_context(
            sensor_name="toast_run_failure_alert",
            dagster_event=_event(instance, run.run_id, dg.DagsterEventType.RUN_FAILURE),
            dagster_instance=instance,
            dagster_run=run,
            resources={
                "notifier": ToastNotifier(webhook_url=webhook.url),
                "lake": LocalLakeResource(root=str(tmp_path / "lake")),
                "toast_sftp": ToastSftpResource(host="127.0.0.1", username="x"),
            },
        ).for_run_failure()
        toast_run_failure_alert(context)
        assert webhook.received == []


def test_a_failed_run_whose_automatic_retry_never_starts_is_posted_once_after_the_grace_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three real failed runs of a date: one the daemon retried (its retry tag set), one not to
    be retried (the failure alert's), and one meant to be retried that never was. Only the
    last is posted, not before TOAST_RETRY_GRACE_MINUTES after its end, and once."""

    @dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-01-01"))
    def breaks() -> None:
        raise RuntimeError("the worker's disk filled up")

    monkeypatch.setenv("TOAST_RETRY_GRACE_MINUTES", "10")
    with dg.instance_for_test() as instance, webhook_server() as webhook:
        def fail(tags: dict[str, str]) -> str:
            result = dg.materialize([breaks], instance=instance, raise_on_error=False, partition_key="2026-03-02", tags=tags)
            assert not result.success
            return result.run_id

        retried = fail({"dagster/will_retry": "true", "dagster/auto_retry_run_id": "a-retry"})
        not_retried = fail({"dagster/will_retry": "false"})
        lost = fail({"dagster/will_retry": "true"})
        ended = instance.get_run_record_by_id(lost).end_time
        context = dg.build_sensor_context(
            instance=instance,
            resources={
                "notifier": ToastNotifier(webhook_url=webhook.url, dagster_url="http://dagster.example.com:3000/"),
                "lake": LocalLakeResource(root=str(tmp_path / "lake")),
                "toast_sftp": ToastSftpResource(host="127.0.0.1", username="x"),
            },
        )

        monkeypatch.setattr(sensors, "_now", lambda: ended + 9 * 60)
        skipped = toast_lost_retry_alert(context)
        assert webhook.received == [], "within the grace period the retry may still start"
        assert "1 failed run(s) waiting" in skipped.skip_message

        monkeypatch.setattr(sensors, "_now", lambda: ended + 11 * 60)
        toast_lost_retry_alert(context)
        assert len(webhook.received) == 1
        text = webhook.texts()[0]
        assert "Toast pipeline run FAILED for 2026-03-02: its automatic retry never started" in text
        assert f"http://dagster.example.com:3000/runs/{lost}" in text
        assert "no retry started within 10 minutes of its end" in text
        assert "the worker's disk filled up" in text
        assert retried not in text and not_retried not in text

        toast_lost_retry_alert(context)  # the next tick, with the cursor the last one left
        assert len(webhook.received) == 1, "posted once"


CHECKED = dg.AssetKey(["toast_marts", "daily_sales_summary"])
DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01")


@dg.asset(key=CHECKED, partitions_def=DAILY)
def checked_mart() -> None:
    """Stands in for a mart whose checks find problems."""


@dg.asset_check(asset=CHECKED, name="volumes_within_history", partitions_def=DAILY)
def warns() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False, severity=dg.AssetCheckSeverity.WARN,
        description="location 185129: net sales 40% below the same weekday of the last 4 weeks",
    )


@dg.asset_check(asset=CHECKED, name="invariants_hold", partitions_def=DAILY)
def errors() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description="2 rows with negative net sales")


@dg.asset_check(asset=CHECKED, name="fine", partitions_def=DAILY)
def passes() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def test_quality_digest_posts_failures_and_warnings_of_a_run_in_one_message() -> None:
    with dg.instance_for_test() as instance, webhook_server() as webhook:
        result = dg.materialize([checked_mart, warns, errors, passes], partition_key="2026-10-02", instance=instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        context = dg.build_run_status_sensor_context(
            sensor_name="toast_quality_digest",
            dagster_event=_event(instance, run.run_id, dg.DagsterEventType.RUN_SUCCESS),
            dagster_instance=instance,
            dagster_run=run,
            resources={"notifier": ToastNotifier(webhook_url=webhook.url)},
        )
        toast_quality_digest(context)
        assert len(webhook.received) == 1
        text = webhook.texts()[0]
        assert "Toast data quality for 2026-10-02: 1 failing check(s), 1 warning(s)" in text
        assert text.index("ERROR toast_marts/daily_sales_summary `invariants_hold`") < text.index("WARN toast_marts/daily_sales_summary `volumes_within_history`")
        assert "net sales 40% below" in text and "`fine`" not in text
        assert f"/runs/{run.run_id}" in text


def test_quality_digest_stays_quiet_when_every_check_passes() -> None:
    with dg.instance_for_test() as instance, webhook_server() as webhook:
        result = dg.materialize([checked_mart, passes], partition_key="2026-10-02", instance=instance)
        run = instance.get_run_by_id(result.run_id)
        context = dg.build_run_status_sensor_context(
            sensor_name="toast_quality_digest",
            dagster_event=_event(instance, run.run_id, dg.DagsterEventType.RUN_SUCCESS),
            dagster_instance=instance,
            dagster_run=run,
            resources={"notifier": ToastNotifier(webhook_url=webhook.url)},
        )
        toast_quality_digest(context)
        assert webhook.received == []


def test_failure_alert_names_the_real_error_and_the_retries(tmp_path: Path) -> None:
    @dg.asset(partitions_def=DAILY, retry_policy=dg.RetryPolicy(max_retries=2, delay=0))
    def toast_landing() -> None:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as exc:
            raise SftpError("cannot reach SFTP server 127.0.0.1:2222: [Errno 111] Connection refused") from exc

    with dg.instance_for_test() as instance, webhook_server() as webhook:
        result = dg.materialize([toast_landing], partition_key="2026-10-02", instance=instance, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        context = dg.build_run_status_sensor_context(
            sensor_name="toast_run_failure_alert",
            dagster_event=_event(instance, run.run_id, dg.DagsterEventType.RUN_FAILURE),
            dagster_instance=instance,
            dagster_run=run,
            resources={
                "notifier": ToastNotifier(webhook_url=webhook.url),
                "lake": LocalLakeResource(root=str(tmp_path / "lake")),
                "toast_sftp": ToastSftpResource(host="127.0.0.1", username="x", export_ids=["185129", "185130"]),
            },
        ).for_run_failure()
        toast_run_failure_alert(context)
        text = webhook.texts()[0]
        assert "• step `toast_landing` (after 2 retries): SftpError: cannot reach SFTP server 127.0.0.1:2222" in text
        assert "Locations: 185129, 185130 (configured)" in text
