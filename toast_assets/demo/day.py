"""One location's business day: how busy it is, when orders open, and all nine files' rows."""

import random
from collections.abc import Callable
from datetime import date
from itertools import accumulate, count

from toast_assets.demo.cash import cash_entry_rows
from toast_assets.demo.clock import DayClock
from toast_assets.demo.front_of_house import Service
from toast_assets.demo.labor import build_roster, time_entry_rows
from toast_assets.demo.product_mix import product_mix_rows
from toast_assets.demo.profile import LocationProfile

DEFAULT_ORDERS_PER_DAY = (40, 300)

# Share of the orders-per-day range by weekday (Monday first): Friday and Saturday peak.
_WEEKDAY_LEVEL = (0.30, 0.36, 0.46, 0.60, 0.92, 1.0, 0.68)

# Opening hour and the relative volume of each hour until 11 PM.
_WEEKDAY_HOURS = (11, (0.9, 1.6, 1.3, 0.6, 0.4, 0.5, 0.9, 1.5, 1.8, 1.5, 1.0, 0.6, 0.35))
_WEEKEND_HOURS = (10, (1.2, 1.6, 1.8, 1.4, 0.8, 0.5, 0.6, 1.0, 1.6, 1.9, 1.7, 1.3, 0.9, 0.6))

AFTER_MIDNIGHT_SHARE = 0.03  # orders opened 00:00-02:00, filed under the previous business date
_DAY = 86_400
_ID_EPOCH = date(2000, 1, 1)
# Ids per location-day stay below 10**6 (the sequence's six digits): ~20 ids per order.
MAX_ORDERS_PER_DAY = 40_000

def day_rng(seed: int, export_id: str, business_date: date) -> random.Random:
    """The random stream of one location-day: independent of every other location and date."""
    return random.Random(f"toast-demo:{seed}:{export_id}:{business_date.isoformat()}")


def id_sequence(export_id: str, business_date: date) -> Callable[[], str]:
    """Row ids of one location-day: `13` + export id + day number (5) + sequence (6) = 19 digits.

    Unique across the whole tree because export id and date are part of every id (orders,
    checks, payments, selections, modifiers, tickets, cash and time entries share the sequence).
    Returns a zero-argument function giving the next id as text.
    """
    day_number = (business_date - _ID_EPOCH).days
    if not 0 <= day_number < 100_000:
        raise ValueError(f"{business_date} is outside the demo id range")
    base = int(f"13{export_id}{day_number:05d}000000")
    return map(str, count(base + 1)).__next__


def order_count(
    profile: LocationProfile, business_date: date, rng: random.Random, orders_per_day: tuple[int, int]
) -> int:
    """Orders for the day: the weekday's level of the range, scaled by the location, +/-10%."""
    low, high = orders_per_day
    level = _WEEKDAY_LEVEL[business_date.weekday()] * profile.volume * rng.uniform(0.9, 1.1)
    return max(low, min(high, low + round((high - low) * level)))


def opening_times(rng: random.Random, orders: int, weekend: bool, after_midnight: bool) -> list[int]:
    """Sorted open times (seconds after business midnight) following the hourly curve."""
    first_hour, weights = _WEEKEND_HOURS if weekend else _WEEKDAY_HOURS
    late = max(1, round(orders * AFTER_MIDNIGHT_SHARE)) if after_midnight and orders >= 2 else 0
    hour_range = range(first_hour, first_hour + len(weights))
    hours = rng.choices(hour_range, cum_weights=tuple(accumulate(weights)), k=orders - late)
    random_ = rng.random
    times = [hour * 3600 + int(random_() * 3600) for hour in hours]
    times.extend(_DAY + int(random_() * 7200) for _ in range(late))
    times.sort()
    return times


def simulate_day(
    profile: LocationProfile,
    business_date: date,
    seed: int,
    styles: dict[str, str],
    traps: bool,
    orders_per_day: tuple[int, int] = DEFAULT_ORDERS_PER_DAY,
) -> dict[str, list[list[str]]]:
    """Rows (cells in the contract's default order) of every file for one location-day.

    `styles` maps file names to timestamp styles; `traps` adds after-midnight orders and
    commas inside single values (the profile carries the names with or without accents).
    """
    export_id = profile.info.export_id
    rng = day_rng(seed, export_id, business_date)
    next_id = id_sequence(export_id, business_date)
    clock = DayClock(business_date)
    weekend = business_date.weekday() >= 5
    orders = order_count(profile, business_date, rng, orders_per_day)
    opened = opening_times(rng, orders, weekend, after_midnight=traps)
    opens_at = (_WEEKEND_HOURS if weekend else _WEEKDAY_HOURS)[0] * 3600
    roster = build_roster(profile, rng, orders, opens_at, opened[-1] if opened else 22 * 3600)

    service = Service(profile, clock, rng, next_id, roster, weekend, styles)
    rows, totals = service.run(opened)
    closes_at = max(totals.last_closed, 23 * 3600)
    cash_stamp, labor_stamp = clock.formatter(styles["CashEntries.csv"]), clock.formatter(styles["TimeEntries.csv"])
    cash = cash_entry_rows(profile, roster, rng, next_id, cash_stamp, totals.cash_by_drawer, closes_at, commas=traps)
    labor = time_entry_rows(profile, roster, rng, next_id, labor_stamp, totals.tips, totals.gratuity)
    return {
        "OrderDetails.csv": rows.orders,
        "CheckDetails.csv": rows.checks,
        "PaymentDetails.csv": rows.payments,
        "ItemSelectionDetails.csv": rows.items,
        "ModifiersSelectionDetails.csv": rows.modifiers,
        "KitchenTimings.csv": rows.kitchen,
        "CashEntries.csv": cash,
        "AllItemsReport.csv": product_mix_rows(profile.menu.items, totals),
        "TimeEntries.csv": labor,
    }
