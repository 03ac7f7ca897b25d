"""The weekly schedule by its fire times and run requests, the marts' freshness deadline, and
the weekly report's small helpers."""

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import pytest

# The iterator Dagster's own scheduler daemon uses to find the next ticks.
from dagster._utils.schedules import cron_string_iterator

from toast_assets.quality.findings import Finding
from toast_assets.quality.freshness import mart_freshness_policy, schedule_timezone, with_mart_freshness
from toast_assets.quality.weekly import (
    WEEKLY_REPORT_KEY,
    WeeklyReportConfig,
    build_weekly_validation_schedule,
    date_spans,
    previous_business_date,
    quarantine_by_rule,
    render_report,
    report_dates,
    resolve_dates,
    run_business_dates,
    sparkline,
    weekly_run_config,
)
from toast_assets.settings import ConfigError

NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc


def fire_times(schedule: dg.ScheduleDefinition, after: datetime, count: int) -> list[datetime]:
    ticks = cron_string_iterator(after.timestamp(), schedule.cron_schedule, schedule.execution_timezone)
    return [next(ticks).astimezone(UTC) for _ in range(count)]


def run_request(schedule: dg.ScheduleDefinition, at: datetime) -> dg.RunRequest:
    data = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=at))
    assert data.run_requests is not None and len(data.run_requests) == 1
    return data.run_requests[0]


def report_config(request: dg.RunRequest) -> dict:
    return request.run_config["ops"][WEEKLY_REPORT_KEY.to_python_identifier()]["config"]


def test_weekly_validation_fires_mondays_at_five_new_york_time_across_daylight_saving() -> None:
    schedule = build_weekly_validation_schedule({})
    # US daylight saving time ends on Sunday 2026-11-01: 05:00 EDT is 09:00 UTC, 05:00 EST is 10:00 UTC.
    assert fire_times(schedule, datetime(2026, 10, 20, tzinfo=UTC), 3) == [
        datetime(2026, 10, 26, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 9, 10, 0, tzinfo=UTC),
    ]


def test_each_tick_reports_on_the_seven_business_dates_before_it() -> None:
    schedule = build_weekly_validation_schedule({})
    request = run_request(schedule, datetime(2026, 11, 9, 5, 0, tzinfo=NEW_YORK))
    assert report_config(request) == {"end_date": "2026-11-08", "days": 7}
    assert request.run_key == "weekly_validation:2026-11-08"
    # The same instant seen from UTC is still Monday morning in New York.
    assert report_config(run_request(schedule, datetime(2026, 11, 9, 10, 0, tzinfo=UTC)))["end_date"] == "2026-11-08"
    assert schedule.job_name == "weekly_validation"


def test_cron_and_time_zone_come_from_the_environment() -> None:
    env = {"TOAST_WEEKLY_VALIDATION_CRON": "30 6 * * 0", "TOAST_SCHEDULE_TIMEZONE": "America/Chicago"}
    schedule = build_weekly_validation_schedule(env)
    # Sundays 06:30 Central: 11:30 UTC in CDT, 12:30 UTC in CST.
    assert fire_times(schedule, datetime(2026, 10, 24, tzinfo=UTC), 2) == [
        datetime(2026, 10, 25, 11, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 12, 30, tzinfo=UTC),
    ]
    tick = datetime(2026, 11, 1, 6, 30, tzinfo=ZoneInfo("America/Chicago"))
    assert report_config(run_request(schedule, tick))["end_date"] == "2026-10-31"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TOAST_SCHEDULE_TIMEZONE": "Mars/Olympus"}, "TOAST_SCHEDULE_TIMEZONE='Mars/Olympus' is not an IANA time zone"),
        ({"TOAST_WEEKLY_VALIDATION_CRON": "every monday"}, "TOAST_WEEKLY_VALIDATION_CRON='every monday' is not a valid cron schedule"),
    ],
)
def test_bad_schedule_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build_weekly_validation_schedule(env)


def test_marts_must_be_rebuilt_after_midnight_and_before_six_new_york_time() -> None:
    policy = mart_freshness_policy({})
    assert (policy.deadline_cron, policy.timezone, policy.lower_bound_delta) == ("0 6 * * *", "America/New_York", timedelta(hours=6))
    deadlines = cron_string_iterator(datetime(2026, 11, 8, 12, tzinfo=UTC).timestamp(), policy.deadline_cron, policy.timezone)
    deadline = next(deadlines)
    assert deadline == datetime(2026, 11, 9, 6, 0, tzinfo=NEW_YORK)
    assert deadline - policy.lower_bound_delta == datetime(2026, 11, 9, 0, 0, tzinfo=NEW_YORK)

    custom = mart_freshness_policy({"TOAST_FRESHNESS_DEADLINE_CRON": "30 7 * * 1-5", "TOAST_SCHEDULE_TIMEZONE": "America/Denver"})
    assert (custom.deadline_cron, custom.timezone, custom.lower_bound_delta) == ("30 7 * * 1-5", "America/Denver", timedelta(hours=7, minutes=30))
    with pytest.raises(ConfigError, match="TOAST_FRESHNESS_DEADLINE_CRON='0 6,18 \\* \\* \\*': use a daily deadline"):
        mart_freshness_policy({"TOAST_FRESHNESS_DEADLINE_CRON": "0 6,18 * * *"})
    with pytest.raises(ConfigError, match="is not a valid cron deadline"):
        mart_freshness_policy({"TOAST_FRESHNESS_DEADLINE_CRON": "0 6 * * funday"})
    assert schedule_timezone({}) == "America/New_York"


def test_only_the_marts_get_the_freshness_policy() -> None:
    @dg.multi_asset(specs=[dg.AssetSpec(["toast_marts", "daily_sales_summary"]), dg.AssetSpec(["toast_staging", "stg_toast__order_details"])])
    def models() -> Iterator[dg.MaterializeResult]:  # never executed: only its specs matter here
        yield from ()

    policy = mart_freshness_policy({})
    mapped = with_mart_freshness(models, policy)
    policies = {spec.key.to_user_string(): spec.freshness_policy for spec in mapped.specs}
    assert policies == {"toast_marts/daily_sales_summary": policy, "toast_staging/stg_toast__order_details": None}


def test_report_dates_and_run_dates() -> None:
    assert report_dates(date(2026, 11, 8), 7) == [date(2026, 11, 2) + timedelta(days=i) for i in range(7)]
    assert previous_business_date(datetime(2026, 11, 9, 3, 0, tzinfo=UTC), "America/New_York") == date(2026, 11, 7)
    now = datetime(2026, 11, 9, 12, tzinfo=UTC)
    assert resolve_dates(WeeklyReportConfig(end_date="2026-10-31", days=2), now, "UTC") == [date(2026, 10, 30), date(2026, 10, 31)]
    assert resolve_dates(WeeklyReportConfig(), now, "America/New_York")[-1] == date(2026, 11, 8)
    with pytest.raises(ValueError, match="end_date='31/10/2026' is not a date in YYYY-MM-DD form"):
        resolve_dates(WeeklyReportConfig(end_date="31/10/2026"), now, "UTC")
    assert weekly_run_config(date(2026, 11, 8))["ops"]["toast_quality__weekly_quality_report"]["config"] == {"end_date": "2026-11-08", "days": 7}
    assert run_business_dates({"dagster/partition": "2026-11-03"}) == [date(2026, 11, 3)]
    assert run_business_dates({"dagster/asset_partition_range_start": "2026-11-01", "dagster/asset_partition_range_end": "2026-11-03"}) == [
        date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3),
    ]  # fmt: skip
    assert run_business_dates({"dagster/partition": "not-a-date"}) == [] and run_business_dates({}) == []


def test_report_helpers() -> None:
    assert date_spans([date(2026, 11, 4), date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 6)]) == "2026-11-02 to 2026-11-04, 2026-11-06"
    assert sparkline([1.0, None, 8.0, 4.5]) == "▁ █▅"
    assert sparkline([None, None]) == ""
    quarantine = pd.DataFrame(
        {"entity": "order_details", "location_id": ["1", "1", "2"], "business_date": [date(2026, 11, 2)] * 3,
         "source_file": ["a", "a", "b"], "row_number": [3, 4, 3], "rule": ["decimal_parses;timestamp_parses", "decimal_parses", "wrong_field_count"]}
    )  # fmt: skip
    assert quarantine_by_rule(quarantine).to_dict("records") == [
        {"rule": "decimal_parses", "rows": 2, "files": 1, "location_days": 1},
        {"rule": "timestamp_parses", "rows": 1, "files": 1, "location_days": 1},
        {"rule": "wrong_field_count", "rows": 1, "files": 1, "location_days": 1},
    ]


def test_an_empty_week_still_renders_a_readable_report() -> None:
    dates = report_dates(date(2026, 11, 8), 7)
    empty = pd.DataFrame(columns=["entity", "location_id", "business_date", "source_file", "row_number", "rule"])
    md = render_report(dates, [], [], empty, {}, {})
    assert md.startswith("# Weekly quality report: business dates 2026-11-02 to 2026-11-08")
    for section in ("## Per location", "## Quality score by date", "## Worst findings", "## Quarantine", "## Reconciliation",
                    "## Recorded dbt tests and business rules", "## Daily net sales"):  # fmt: skip
        assert section in md
    assert "no rows quarantined" in md and "nothing to report: every check passed" in md
    problem = Finding("files_complete", "warn", "warn", "185129", dates[0], "location 185129, business date 2026-11-02: no files delivered")
    md = render_report(dates, [problem], [], empty, {"185129": {dates[1]: 10.0}}, {"185129": "Copper | Thyme"})
    assert "| 185129 | Copper \\| Thyme | 0% | 0 | 1 |" in md
    assert "| WARN | 2026-11-02 | 185129 | files_complete |" in md
