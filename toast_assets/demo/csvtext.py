"""Cell text for the generated CSV files: quoting, money, quantities, tax and percentages.

Lines are written by joining prebuilt cell strings with commas, several times faster than
`csv.writer`; `quote()` makes each cell exactly what `csv.writer` with QUOTE_MINIMAL writes.
Money is handled as integer cents (exact, never float) and only turned into text here.
"""

# Zero-padded format specs (`:02d`) cost several times a list lookup; hot paths use tables.
TWO_DIGITS: tuple[str, ...] = tuple("%02d" % n for n in range(100))

# Cents below this bound are formatted from a table: money cells are the most frequent cells.
MONEY_TABLE_SIZE = 100_000
MONEY_TABLE: tuple[str, ...] = tuple(str(c // 100) + "." + TWO_DIGITS[c % 100] for c in range(MONEY_TABLE_SIZE))


def quote(value: str) -> str:
    """The cell as csv.writer (QUOTE_MINIMAL, delimiter `,`) writes it.

    Toast quotes multi-value cells such as `"Bar, Bar"`; a quote inside a value is doubled.
    """
    if '"' in value:
        return '"' + value.replace('"', '""') + '"'
    if "," in value or "\n" in value or "\r" in value:
        return '"' + value + '"'
    return value


def join_values(values: list[str]) -> str:
    """A multi-value cell (`Checks`, `Tab Names`, `Dining Options`): comma-space joined, quoted."""
    if len(values) == 1:
        return quote(values[0])
    return quote(", ".join(values))


def money(cents: int) -> str:
    """Two-decimal money text without `$` or thousands separators (Toast's automated exports)."""
    if 0 <= cents < MONEY_TABLE_SIZE:
        return MONEY_TABLE[cents]
    if cents < 0:
        return "-" + money(-cents)
    return str(cents // 100) + "." + TWO_DIGITS[cents % 100]


def micros(value: int) -> str:
    """Six-decimal text of an amount held in millionths of a dollar (item-level tax)."""
    if value < 0:
        return "-" + micros(-value)
    # String slicing: about twice as fast as a zero-padded format spec on this hot path.
    digits = str(value)
    if len(digits) > 6:
        return digits[:-6] + "." + digits[-6:]
    return "0." + digits.rjust(6, "0")


def quantity(count: int) -> str:
    """Toast prints whole quantities with one decimal: `1.0`."""
    return str(count) + ".0"


def percent(part: int, whole: int) -> str:
    """`part / whole` as a percentage with two decimals, rounded half up; `0.00` when whole is 0."""
    if whole <= 0:
        return "0.00"
    hundredths = (part * 20_000 + whole) // (2 * whole)
    return str(hundredths // 100) + "." + TWO_DIGITS[hundredths % 100]


def round_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, for non-negative integers (exact money rounding)."""
    return (2 * numerator + denominator) // (2 * denominator)


def hours(hundredths: int) -> str:
    """Hours held in hundredths as two-decimal text: 825 -> `8.25`."""
    return str(hundredths // 100) + "." + TWO_DIGITS[hundredths % 100]
