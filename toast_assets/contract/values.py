"""How Toast writes values: the accepted forms of each logical type.

The dbt staging macros parse the same forms (a test compares their format list with
`TIMESTAMP_FORMATS`), so a value the contract accepts is a value staging can type.
"""

import re

# Wall-clock timestamps without an offset, as real files and Toast's documentation show them.
# Order matters: the first format that reads a value wins, and `%Y` reads `26` as year 26, so
# every two-digit-year form comes before its four-digit one (`%y` refuses `2026`).
TIMESTAMP_FORMATS: tuple[str, ...] = (
    "%m/%d/%y %I:%M %p",
    "%m/%d/%y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%y %H:%M:%S",
    "%m/%d/%y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
)
DATE_FORMATS: tuple[str, ...] = ("%m/%d/%y", "%m/%d/%Y", "%Y-%m-%d")
TIME_FORMATS: tuple[str, ...] = ("%I:%M %p", "%I:%M:%S %p", "%H:%M:%S", "%H:%M")

# The patterns below accept only what the dbt staging macros parse (tests/test_properties.py
# checks it): ASCII digits only (`\d` would take `١` or `３`, which no warehouse casts), the
# end of the text with `\Z` (`$` also matches before a trailing newline), and around a value
# only the spaces SQL `trim` removes.
ISO_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?\Z"
)

# Money may carry `$`, thousands separators and accounting parentheses in manual exports:
# `$1,020.00`, `-$5.00`, `$-5.00`, `($5.00)`. One sign at most, parentheses balanced, at most
# 27 digits before the point (staging's DECIMAL(38, 9) / NUMERIC hold 29), and at least one
# digit: `.5` but not `.`. Written without lookahead, so Arrow's RE2 engine can run it too.
_AMOUNT = r"(?:(?:[0-9]{1,3}(?:,[0-9]{3}){1,8}|[0-9]{1,27})(?:\.[0-9]+)?|\.[0-9]+)"
DECIMAL = re.compile(rf"^ *(?:\( *\$? *{_AMOUNT} *\)|-? *\$? *{_AMOUNT}|\$ *- *{_AMOUNT}) *\Z")
# Whole numbers (`Order #`, `# of Guests`), possibly printed as `2.0`; staging casts them to a
# 64-bit integer, which holds every 18-digit number.
INTEGER = re.compile(r"^ *-?[0-9]{1,18}(\.0+)? *\Z")
ID = re.compile(r"^[0-9]+\Z")
BOOLEAN = re.compile(r"^ *(true|false) *\Z", re.IGNORECASE)
# `HH:MM:SS` (Duration (Opened to Paid)) or prose (`1 hour, 2 minutes and 6 seconds`), in
# exactly the shapes `toast_duration_seconds` reads.
DURATION = re.compile(
    r"^ *([0-9]+:[0-9]{1,2}:[0-9]{1,2}|([0-9]+ (day|hour|minute|second)s?(, | and |,? and )?)+) *\Z", re.IGNORECASE
)
