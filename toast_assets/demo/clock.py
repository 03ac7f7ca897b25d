"""Fast local wall-clock text in the timestamp styles Toast exports use.

Times inside a business day are held as integer seconds since the business date's midnight;
values past 86,400 are after-midnight times that still belong to that business date.
`datetime.strftime` costs about a microsecond per call, so each style is assembled from small
lookup tables instead (one table row per minute of the day).
"""

from collections.abc import Callable
from datetime import date, timedelta

# strftime-style names of the styles (`%-m` means "no zero padding", as on glibc).
SHORT = "%-m/%-d/%y %-I:%M %p"  # 10/8/26 5:18 PM: OrderDetails and most files
PADDED_SECONDS = "%m/%d/%Y %I:%M:%S %p"  # 10/08/2026 05:18:07 PM: PaymentDetails
H24_SECONDS = "%m/%d/%Y %H:%M:%S"  # 10/08/2026 17:18:07: KitchenTimings
ISO = "%Y-%m-%dT%H:%M:%S"  # 2026-10-08T17:18:07: TimeEntries
CHECK_DATE = "%m/%d/%y"  # 10/08/26: CheckDetails `Opened Date`
CHECK_TIME = "%I:%M %p"  # 05:18 PM: CheckDetails `Opened Time`

TIMESTAMP_STYLES: tuple[str, ...] = (SHORT, PADDED_SECONDS, H24_SECONDS, ISO)

_DAY = 86_400
_MINUTES = range(24 * 60)


def _hour12(minute_of_day: int) -> int:
    """12-hour clock hour of a minute of the day (12 for noon and midnight)."""
    hour = (minute_of_day // 60) % 12
    return 12 if hour == 0 else hour


def _meridiem(minute_of_day: int) -> str:
    """`AM` before noon, `PM` after."""
    return "AM" if minute_of_day < 12 * 60 else "PM"


# Per minute of the day: "5:18 PM", "05:18", " PM", "17:18".
_HM12_SHORT = [f"{_hour12(m)}:{m % 60:02d} {_meridiem(m)}" for m in _MINUTES]
_HM12_PADDED = [f"{_hour12(m):02d}:{m % 60:02d}" for m in _MINUTES]
_MERIDIEM_SUFFIX = [" " + _meridiem(m) for m in _MINUTES]
_HM24 = [f"{m // 60:02d}:{m % 60:02d}" for m in _MINUTES]
_SECONDS = [f":{s:02d}" for s in range(60)]
_TWO_DIGITS = [f"{n:02d}" for n in range(100)]


class DayClock:
    """Formats seconds-since-business-midnight as text in every style, for one business date."""

    def __init__(self, business_date: date) -> None:
        # Three calendar days cover after-midnight orders and payments settled late.
        days = [business_date + timedelta(days=offset) for offset in range(3)]
        self.business_date = business_date
        self._short = [f"{d.month}/{d.day}/{d.year % 100:02d} " for d in days]
        self._long = [f"{d.month:02d}/{d.day:02d}/{d.year} " for d in days]
        self._iso = [d.isoformat() + "T" for d in days]
        self._check_date = [f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}" for d in days]

    def short(self, t: int) -> str:
        """`10/8/26 5:18 PM`: two-digit year, no padding, no seconds."""
        day, rest = divmod(t, _DAY)
        return self._short[day] + _HM12_SHORT[rest // 60]

    def padded_seconds(self, t: int) -> str:
        """`10/08/2026 05:18:07 PM`."""
        day, rest = divmod(t, _DAY)
        minute = rest // 60
        return self._long[day] + _HM12_PADDED[minute] + _SECONDS[rest % 60] + _MERIDIEM_SUFFIX[minute]

    def h24_seconds(self, t: int) -> str:
        """`10/08/2026 17:18:07`."""
        day, rest = divmod(t, _DAY)
        return self._long[day] + _HM24[rest // 60] + _SECONDS[rest % 60]

    def iso(self, t: int) -> str:
        """`2026-10-08T17:18:07`."""
        day, rest = divmod(t, _DAY)
        return self._iso[day] + _HM24[rest // 60] + _SECONDS[rest % 60]

    def check_date(self, t: int) -> str:
        """CheckDetails `Opened Date`: `10/08/26` (the calendar date, next day after midnight)."""
        return self._check_date[t // _DAY]

    def check_time(self, t: int) -> str:
        """CheckDetails `Opened Time`: `05:18 PM`."""
        minute = (t % _DAY) // 60
        return _HM12_PADDED[minute] + _MERIDIEM_SUFFIX[minute]

    def formatter(self, style: str) -> Callable[[int], str]:
        """The formatting function for one of the TIMESTAMP_STYLES."""
        return {
            SHORT: self.short,
            PADDED_SECONDS: self.padded_seconds,
            H24_SECONDS: self.h24_seconds,
            ISO: self.iso,
        }[style]


def duration_hms(seconds: int) -> str:
    """`Duration (Opened to Paid)`: `HH:MM:SS`."""
    hours, rest = divmod(seconds, 3600)
    hh = _TWO_DIGITS[hours] if hours < 100 else str(hours)
    return hh + ":" + _TWO_DIGITS[rest // 60] + ":" + _TWO_DIGITS[rest % 60]


def duration_prose(seconds: int) -> str:
    """KitchenTimings `Fulfillment Time`: `1 hour, 2 minutes and 6 seconds`."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour" + ("s" if hours != 1 else ""))
    if minutes:
        parts.append(f"{minutes} minute" + ("s" if minutes != 1 else ""))
    if secs or not parts:
        parts.append(f"{secs} second" + ("s" if secs != 1 else ""))
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]
