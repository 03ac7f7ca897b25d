"""KitchenTimings: one ticket per check per kitchen station, fired and fulfilled times."""

import random
from collections.abc import Callable

from toast_assets.demo.clock import duration_prose
from toast_assets.demo.labor import SHIFT_CHANGE, Roster
from toast_assets.demo.order_model import Check, Order

UNFULFILLED_RATE = 0.01  # tickets nobody bumped off the screen: no fulfilled time

_MIN_PREP = 120
_PREP_SPREAD = {"Bar": 600}  # drinks come fast; kitchen stations take up to ~27 minutes
_DEFAULT_PREP_SPREAD = 1500
# `Fulfillment Time` prose for every possible prep time, built once.
_PROSE = tuple(duration_prose(s) for s in range(_MIN_PREP + max(_DEFAULT_PREP_SPREAD, *_PREP_SPREAD.values()) + 1))


class Expediter:
    """Writes the kitchen tickets of one business day."""

    def __init__(
        self,
        location_cell: str,
        rng: random.Random,
        next_id: Callable[[], str],
        stamp: Callable[[int], str],
        roster: Roster,
        rows: list[list[str]],
    ) -> None:
        self.location = location_cell
        self.random = rng.random
        self.next_id = next_id
        self.stamp = stamp
        self.cooks = {evening: roster.crew("LINE", evening) for evening in (False, True)}
        self.rows = rows

    def fire(self, order: Order, check: Check) -> None:
        """One row per station the check's items went to; all fired when the order was sent."""
        if not check.stations:
            return
        random_ = self.random
        stamp = self.stamp
        cooks = self.cooks[order.sent >= SHIFT_CHANGE]
        opened_text = stamp(order.opened)
        fired_text = stamp(order.sent)
        number = str(check.number)
        for station in check.stations:
            prep = _MIN_PREP + int(random_() * _PREP_SPREAD.get(station, _DEFAULT_PREP_SPREAD))
            done = random_() >= UNFULFILLED_RATE
            self.rows.append(
                [
                    self.location,
                    self.next_id(),
                    order.server_name,
                    number,
                    order.table,
                    opened_text,
                    station,
                    "1",
                    fired_text,
                    stamp(order.sent + prep) if done else "",
                    _PROSE[prep] if done else "",
                    cooks[int(random_() * len(cooks))].name if done and cooks else "",
                ]
            )
