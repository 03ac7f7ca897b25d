"""The landing assets' deliveries table: every date of a short run, only the gaps of a long one.

A range run writes each asset's materialization once per business date, each with the whole
run's metadata; a year's table of 365 rows on 365 events was most of a year run's event
log. These build the landing report by hand (no server is involved in formatting it).
"""

from datetime import date, timedelta

from toast_assets.landing.assets import DELIVERY_TABLE_ROWS, _metadata
from toast_assets.landing.landing import LandingReport

LOCATIONS = ["100", "200", "300"]
FILE_NAME = "OrderDetails.csv"


def _report(days: int, no_folder: dict[int, str], no_file: dict[int, str]) -> LandingReport:
    """`days` business dates from 2026-01-01; on day i, location no_folder[i] sent no folder
    and location no_file[i] sent a folder without the file."""
    dates = [date(2026, 1, 1) + timedelta(days=i) for i in range(days)]
    report = LandingReport(dates=dates)
    entity = report.by_entity["order_details"]
    for i, d in enumerate(dates):
        for location in LOCATIONS:
            if no_folder.get(i) == location:
                continue
            report.locations_by_date[d].add(location)
            if no_file.get(i) != location:
                entity.locations.add((location, d))
                entity.files += 1
    return report


def _date_rows(table: str) -> list[str]:
    return [line for line in table.splitlines() if line.startswith("| 2026-")]


def test_a_run_of_a_month_lists_every_date() -> None:
    report = _report(DELIVERY_TABLE_ROWS, {3: "200"}, {})
    table = _metadata("order_details", FILE_NAME, report, LOCATIONS, 1.0)["deliveries"].value
    rows = _date_rows(table)
    assert len(rows) == DELIVERY_TABLE_ROWS
    assert rows[0] == "| 2026-01-01 | 3 | – | – |"
    assert rows[3] == "| 2026-01-04 | 2 | 200 | – |"
    assert "other business date" not in table


def test_a_long_run_lists_only_the_dates_with_a_gap_and_counts_the_rest() -> None:
    report = _report(365, {10: "300"}, {200: "100"})
    table = _metadata("order_details", FILE_NAME, report, LOCATIONS, 1.0)["deliveries"].value
    assert _date_rows(table) == ["| 2026-01-11 | 2 | 300 | – |", "| 2026-07-20 | 2 | – | 100 |"]
    assert f"363 other business date(s): a folder and {FILE_NAME} from every expected location." in table
    assert len(table) < 1_000


def test_a_long_run_with_many_gaps_shows_the_first_and_says_how_many_more() -> None:
    gaps = 40
    report = _report(100, {i: "100" for i in range(gaps)}, {})
    table = _metadata("order_details", FILE_NAME, report, LOCATIONS, 1.0)["deliveries"].value
    rows = _date_rows(table)
    assert len(rows) == DELIVERY_TABLE_ROWS
    assert rows[-1] == f"| {date(2026, 1, 1) + timedelta(days=DELIVERY_TABLE_ROWS - 1)} | 2 | 100 | – |"
    assert f"{gaps - DELIVERY_TABLE_ROWS} more business date(s) with a location missing" in table
    assert f"{100 - gaps} other business date(s)" in table
