"""The partition window of a run as the dbt vars the models read (start_date / end_date)."""

from datetime import timedelta

import dagster as dg


def partition_window_vars(window: dg.TimeWindow) -> dict[str, str]:
    """`{"start_date", "end_date"}`, inclusive ISO business dates, for a daily partition window.

    Dagster's window ends exclusively at the midnight after its last partition; dbt's window
    is inclusive, so the last business date is the day before `window.end`. One day and a
    year-long backfill go through the same path.
    """
    first = window.start.date()
    last = (window.end - timedelta(days=1)).date()
    if last < first:
        raise ValueError(f"empty partition window {window.start.isoformat()} .. {window.end.isoformat()}")
    return {"start_date": first.isoformat(), "end_date": last.isoformat()}
