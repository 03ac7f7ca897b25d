"""Daily partitions keyed by business date (the Toast export folder date)."""

import os
from datetime import date, datetime, timedelta

import dagster as dg

DEFAULT_START_DATE = "2024-01-01"
PARTITION_TIMEZONE = "America/New_York"


def start_date() -> str:
    value = os.environ.get("TOAST_START_DATE", DEFAULT_START_DATE).strip() or DEFAULT_START_DATE
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"TOAST_START_DATE={value!r} is not a date in YYYY-MM-DD form") from exc
    return value


DAILY_PARTITIONS = dg.DailyPartitionsDefinition(start_date=start_date(), timezone=PARTITION_TIMEZONE)


def window_dates(start: datetime, end: datetime) -> list[date]:
    """Business dates in a partition time window (end exclusive)."""
    first, last = start.date(), end.date()
    return [first + timedelta(days=i) for i in range((last - first).days)]


def context_dates(context: dg.AssetExecutionContext) -> list[date]:
    """The business dates a run covers: one day or a whole range, through one code path."""
    window = context.partition_time_window
    return window_dates(window.start, window.end)
