"""Who works a business day, and the TimeEntries rows (one per shift) that pay them.

The roster is drawn before the orders so every order's server is someone on shift; tips and
gratuity the servers earned flow back into their time entries.
"""

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from toast_assets.demo.csvtext import hours, money, round_div
from toast_assets.demo.profile import Employee, LocationProfile

SHIFT_CHANGE = 16 * 3600  # orders before 4 PM belong to the morning crew

# Unpaid meal break after six hours; daily overtime beyond eight payable hours at 1.5x.
_BREAK_AFTER_MINUTES = 6 * 60
_UNPAID_BREAK_HUNDREDTHS = 50
_REGULAR_HOURS_HUNDREDTHS = 800


@dataclass(frozen=True, slots=True)
class Shift:
    """One person's shift; times are seconds since business-date midnight."""

    employee: Employee
    clock_in: int
    clock_out: int
    evening: bool


@dataclass(frozen=True)
class Roster:
    """The day's shifts and, per job and half of the day, who is on duty."""

    shifts: tuple[Shift, ...]
    on_duty: dict[tuple[str, bool], tuple[Employee, ...]]  # (job code, evening) -> employees

    def crew(self, job_code: str, evening: bool) -> tuple[Employee, ...]:
        """Staff of one job on duty in the morning or evening half (falls back to the other half)."""
        return self.on_duty.get((job_code, evening)) or self.on_duty.get((job_code, not evening), ())


def _crew_sizes(orders: int) -> dict[str, tuple[int, int]]:
    """Morning and evening headcount per job for the day's volume.

    Sized so labor lands near what full-service restaurants report: roughly 25-35% of net
    sales and $40-70 of sales per labor hour.
    """
    return {
        "SRV": (1 + orders // 150, 2 + orders // 80),
        "BAR": (1, 1 + orders // 250),
        "LINE": (1 + orders // 250, 2 + orders // 180),
        "PREP": (orders // 200, 0),
        "HOST": (0, 1 + orders // 300),
        "DISH": (1, 1),
        "MGR": (1, 1),
    }


def build_roster(
    profile: LocationProfile, rng: random.Random, orders: int, opens_at: int, last_order_at: int
) -> Roster:
    """Morning crew from before opening to ~4:30 PM, evening crew from ~4 PM to after the last order."""
    shifts: list[Shift] = []
    on_duty: dict[tuple[str, bool], tuple[Employee, ...]] = {}
    closes_at = max(last_order_at + 3600, 23 * 3600)
    for job_code, (morning, evening) in _crew_sizes(orders).items():
        pool = profile.staff[job_code]
        chosen = rng.sample(pool, min(morning + evening, len(pool)))
        morning = min(morning, len(chosen))
        for position, employee in enumerate(chosen):
            is_evening = position >= morning
            if is_evening:
                clock_in = SHIFT_CHANGE - 1800 + rng.randrange(0, 1800)
                clock_out = closes_at + rng.randrange(0, 3600)
            else:
                clock_in = opens_at - 3600 + rng.randrange(0, 1800)
                clock_out = SHIFT_CHANGE + rng.randrange(0, 3600)
            shifts.append(Shift(employee, clock_in, clock_out, is_evening))
        on_duty[(job_code, False)] = tuple(chosen[:morning])
        on_duty[(job_code, True)] = tuple(chosen[morning:])
    shifts.sort(key=lambda s: (s.clock_in, s.employee.employee_id))
    return Roster(shifts=tuple(shifts), on_duty=on_duty)


def time_entry_rows(
    profile: LocationProfile,
    roster: Roster,
    rng: random.Random,
    next_id: Callable[[], str],
    stamp: Callable[[int], str],
    tips: dict[str, int],
    gratuity: dict[str, int],
) -> list[list[str]]:
    """TimeEntries: hours, breaks, overtime, declared and card tips, and pay, one row per shift.

    Pay is exact: hours in hundredths x wage in cents, rounded half up to the cent.
    """
    rows = []
    for shift in roster.shifts:
        employee = shift.employee
        minutes = (shift.clock_out - shift.clock_in) // 60
        total = round_div(minutes * 100, 60)
        unpaid = _UNPAID_BREAK_HUNDREDTHS if minutes >= _BREAK_AFTER_MINUTES else 0
        payable = total - unpaid
        regular = min(payable, _REGULAR_HOURS_HUNDREDTHS)
        overtime = payable - regular
        regular_pay = round_div(regular * employee.wage, 100)
        overtime_pay = round_div(overtime * employee.wage * 3, 200)
        tipped = employee.job_code in ("SRV", "BAR")
        cash_tips = rng.randrange(0, 4000, 25) if tipped else 0
        card_tips = tips.get(employee.employee_id, 0)
        rows.append(
            [
                profile.location_cell,
                profile.code_cell,
                next_id(),
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                employee.employee_id,
                employee.guid,
                employee.external_id,
                employee.name,
                employee.job_id,
                employee.job_guid,
                employee.job_code,
                employee.job_title,
                stamp(shift.clock_in),
                stamp(shift.clock_out),
                hours(total),
                hours(unpaid),
                "0.00",
                hours(payable),
                money(cash_tips),
                money(card_tips),
                money(gratuity.get(employee.employee_id, 0)),
                money(cash_tips + card_tips),
                "0.00",
                money(employee.wage),
                hours(regular),
                hours(overtime),
                money(regular_pay),
                money(overtime_pay),
                money(regular_pay + overtime_pay),
            ]
        )
    return rows
