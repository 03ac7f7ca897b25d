"""How Toast writes values: the accepted forms of each logical type.

The dbt staging macros parse the same forms (a test compares their format list with
`TIMESTAMP_FORMATS`), so a value the contract accepts is a value staging can type.
"""

import re

# Wall-clock timestamps without an offset, as real files and Toast's documentation show them.
TIMESTAMP_FORMATS: tuple[str, ...] = (
    "%m/%d/%y %I:%M %p",
    "%m/%d/%y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%y %H:%M:%S",
    "%m/%d/%y %H:%M",
)
ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
DATE_FORMATS: tuple[str, ...] = ("%m/%d/%y", "%m/%d/%Y", "%Y-%m-%d")
TIME_FORMATS: tuple[str, ...] = ("%I:%M %p", "%I:%M:%S %p", "%H:%M:%S", "%H:%M")

# Money may carry `$`, thousands separators and accounting parentheses in manual exports.
DECIMAL = re.compile(r"^(?=.*\d)\s*\(?\s*-?\s*\$?\s*-?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?\s*\)?\s*$")
INTEGER = re.compile(r"^\s*-?\d+(\.0+)?\s*$")
ID = re.compile(r"^\d+$")
BOOLEAN = re.compile(r"^\s*(true|false)\s*$", re.IGNORECASE)
# `HH:MM:SS` (Duration (Opened to Paid)) or prose (`1 hour, 2 minutes and 6 seconds`).
DURATION = re.compile(
    r"^\s*(\d+:\d{2}(:\d{2})?|((\d+\s+(day|hour|minute|second)s?)(\s*(,|and)\s*)?)+)\s*$", re.IGNORECASE
)
