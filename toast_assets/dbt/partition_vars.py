"""The partition window of a run as dbt reads it: vars start_date / end_date (`dbt build --vars`
by hand), or TOAST_DBT_START_DATE / TOAST_DBT_END_DATE (how Dagster passes it, see assets.py)."""

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


WINDOW_ENV = {"start_date": "TOAST_DBT_START_DATE", "end_date": "TOAST_DBT_END_DATE"}


def partition_window_env(window_vars: dict[str, str]) -> dict[str, str]:
    """The same window as the environment variables `toast_window()` (macros/window.sql) reads."""
    return {WINDOW_ENV[name]: value for name, value in window_vars.items()}
