"""Which real-export traps the demo tree carries, and exactly where, so tests can find them.

Every choice is a pure function of the export ids and the dates, never of the random seed.
"""

import random
from dataclasses import dataclass, field
from datetime import date

from toast_assets.contract import TOAST_FILES
from toast_assets.demo import clock

EXTRA_COLUMN_HEADER = "Loyalty Tier"
STRAY_FOLDER_NAME = "not_a_date"
STRAY_ROOT_FILE = "README.txt"
BOM_FILE = "OrderDetails.csv"
MISSING_FILE = "KitchenTimings.csv"

# Timestamp style per file when traps are on: each file keeps to the style real exports use.
TRAP_TIMESTAMP_STYLES: dict[str, str] = {
    "OrderDetails.csv": clock.SHORT,
    "ItemSelectionDetails.csv": clock.SHORT,
    "ModifiersSelectionDetails.csv": clock.SHORT,
    "CashEntries.csv": clock.SHORT,
    "PaymentDetails.csv": clock.PADDED_SECONDS,
    "KitchenTimings.csv": clock.H24_SECONDS,
    "TimeEntries.csv": clock.ISO,
}
# Clean files use the most common style everywhere (CheckDetails always splits date and time).
CLEAN_TIMESTAMP_STYLES: dict[str, str] = {name: clock.SHORT for name in TRAP_TIMESTAMP_STYLES}


def drifted_headers(file_name: str) -> tuple[str, ...]:
    """The header row of the drifting location: the contract's headers plus the extra column,
    shuffled in a fixed order per file (Toast lets each group reorder columns)."""
    toast_file = next(f for f in TOAST_FILES if f.file_name == file_name)
    headers = [*toast_file.headers, EXTRA_COLUMN_HEADER]
    random.Random(f"toast-demo:drift:{file_name}").shuffle(headers)
    return tuple(headers)


@dataclass(frozen=True)
class TrapPlan:
    """Where the generated tree deviates from clean, default-order files.

    - bom_location: its `OrderDetails.csv` starts with a UTF-8 byte-order mark on every date.
    - reordered_location: every file has `reordered_headers[file]` (shuffled order) and the extra
      column `extra_column_header`, which is not in the contract.
    - closed_day: (export id, date) whose files are all present but header-only.
    - missing_file: (export id, date, file name) that is not written.
    - stray_folder / stray_root_file: paths relative to the root that are not export data
      (`<export id>/not_a_date/` with a note inside, and `README.txt`).
    - after_midnight: some orders open between 00:00 and 02:00 of the next calendar day and are
      filed under the previous business date.
    - non_ascii_and_commas: menu, staff and tab names with accents and quoted commas
      (`"García, José"`); without traps, names are ASCII and single values carry no comma.
    - timestamp_styles: the strftime-style pattern of every timestamp column, per file
      (`%-m` = no padding).
    """

    enabled: bool
    bom_location: str | None
    reordered_location: str | None
    extra_column_header: str | None
    closed_day: tuple[str, date] | None
    missing_file: tuple[str, date, str] | None
    stray_folder: str | None
    stray_root_file: str | None
    after_midnight: bool
    non_ascii_and_commas: bool
    timestamp_styles: dict[str, str] = field(default_factory=dict)
    reordered_headers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def headers_for(self, export_id: str, file_name: str) -> list[str]:
        """The header row written for one location's file."""
        if export_id == self.reordered_location:
            return list(self.reordered_headers[file_name])
        return next(f for f in TOAST_FILES if f.file_name == file_name).headers

    def is_closed(self, export_id: str, business_date: date) -> bool:
        """True for the location-day that gets header-only files."""
        return self.closed_day == (export_id, business_date)

    def skips(self, export_id: str, business_date: date, file_name: str) -> bool:
        """True for the one file left out of the tree."""
        return self.missing_file == (export_id, business_date, file_name)


def trap_plan(export_ids: list[str], dates: list[date], enabled: bool = True) -> TrapPlan:
    """The trap plan for a tree: first location BOM, second location drift, last location
    closed on the 3rd date, first location without KitchenTimings on the 5th date."""
    if not enabled or not export_ids:
        return TrapPlan(
            enabled=False,
            bom_location=None,
            reordered_location=None,
            extra_column_header=None,
            closed_day=None,
            missing_file=None,
            stray_folder=None,
            stray_root_file=None,
            after_midnight=False,
            non_ascii_and_commas=False,
            timestamp_styles=dict(CLEAN_TIMESTAMP_STYLES),
        )
    reordered = export_ids[1] if len(export_ids) >= 2 else None
    return TrapPlan(
        enabled=True,
        bom_location=export_ids[0],
        reordered_location=reordered,
        extra_column_header=EXTRA_COLUMN_HEADER if reordered else None,
        closed_day=(export_ids[-1], dates[2]) if len(dates) >= 3 else None,
        missing_file=(export_ids[0], dates[4], MISSING_FILE) if len(dates) >= 5 else None,
        stray_folder=f"{export_ids[0]}/{STRAY_FOLDER_NAME}",
        stray_root_file=STRAY_ROOT_FILE,
        after_midnight=True,
        non_ascii_and_commas=True,
        timestamp_styles=dict(TRAP_TIMESTAMP_STYLES),
        reordered_headers={f.file_name: drifted_headers(f.file_name) for f in TOAST_FILES} if reordered else {},
    )
