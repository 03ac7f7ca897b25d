"""The partition window -> dbt vars helper: inclusive ISO dates from Dagster's end-exclusive window."""

from datetime import datetime

import dagster as dg
import pytest
from dagster._time import get_timezone

from toast_assets.dbt.partition_vars import partition_window_vars
from toast_assets.partitions import DAILY_PARTITIONS, PARTITION_TIMEZONE

TZ = get_timezone(PARTITION_TIMEZONE)


def window(start: str, end: str) -> dg.TimeWindow:
    return dg.TimeWindow(datetime.fromisoformat(start).replace(tzinfo=TZ), datetime.fromisoformat(end).replace(tzinfo=TZ))


def test_one_day_window_is_that_business_date() -> None:
    assert partition_window_vars(window("2026-10-08", "2026-10-09")) == {"start_date": "2026-10-08", "end_date": "2026-10-08"}


def test_range_window_is_inclusive_of_its_last_day() -> None:
    assert partition_window_vars(window("2026-09-28", "2026-10-05")) == {"start_date": "2026-09-28", "end_date": "2026-10-04"}


def test_window_across_a_year_and_a_dst_change() -> None:
    # 2026-11-01 is the end of daylight saving time in America/New_York: a 25-hour day.
    assert partition_window_vars(window("2026-10-31", "2027-01-02")) == {"start_date": "2026-10-31", "end_date": "2027-01-01"}


def test_windows_of_the_daily_partitions_definition() -> None:
    single = DAILY_PARTITIONS.time_window_for_partition_key("2026-11-01")
    assert partition_window_vars(single) == {"start_date": "2026-11-01", "end_date": "2026-11-01"}
    first = DAILY_PARTITIONS.time_window_for_partition_key("2026-10-30")
    last = DAILY_PARTITIONS.time_window_for_partition_key("2026-11-02")
    assert partition_window_vars(dg.TimeWindow(first.start, last.end)) == {"start_date": "2026-10-30", "end_date": "2026-11-02"}


def test_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="empty partition window"):
        partition_window_vars(window("2026-10-08", "2026-10-08"))
