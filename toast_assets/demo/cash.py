"""CashEntries: a few cash-drawer events per day, ending with each drawer's close-out.

Cash drops (`CASH_COLLECTED`) add up to the cash payments taken through the drawer; the
close-out row records the count: `CLOSE_OUT_EXACT` (0.00), `CLOSE_OUT_OVERAGE` or
`CLOSE_OUT_SHORTAGE` (the difference, as a positive amount).
"""

import random
from collections.abc import Callable

from toast_assets.demo.csvtext import money, quote
from toast_assets.demo.labor import SHIFT_CHANGE, Roster
from toast_assets.demo.profile import LocationProfile

_PAYOUT_REASONS = ("Supplies", "Ice Delivery", "Tip Out", "Produce Run")
_NO_SALE_REASONS = ("Make Change", "Open Drawer", "Count Check")
_CLOSE_OUTS = ("CLOSE_OUT_EXACT", "CLOSE_OUT_OVERAGE", "CLOSE_OUT_SHORTAGE")


def cash_entry_rows(
    profile: LocationProfile,
    roster: Roster,
    rng: random.Random,
    next_id: Callable[[], str],
    stamp: Callable[[int], str],
    cash_by_drawer: dict[str, int],
    closes_at: int,
    commas: bool,
) -> list[list[str]]:
    """Drops, pay-outs, no-sales and one close-out per drawer, in time order."""
    managers = roster.crew("MGR", True) or roster.crew("MGR", False)
    manager = managers[0].name if managers else ""
    closer_pool = roster.crew("BAR", True) + roster.crew("SRV", True)
    events: list[tuple[int, str, str, str, str, str, str, str, str]] = []
    drawers = ["Front Drawer", *(["Bar Drawer"] if "Bar Drawer" in cash_by_drawer else [])]
    for drawer in drawers:
        collected = cash_by_drawer.get(drawer, 0)
        drops = 2 if collected > 20_000 else 1
        for drop in range(drops):
            amount = collected // drops if drop < drops - 1 else collected - collected // drops * (drops - 1)
            t = SHIFT_CHANGE + 3600 * drop * 4 + rng.randrange(0, 3600)
            events.append((t, "CASH_COLLECTED", money(amount), drawer, "", "", "Cash drop", manager, ""))
        if rng.random() < 0.4:
            t = 11 * 3600 + rng.randrange(0, 6 * 3600)
            reason = _PAYOUT_REASONS[rng.randrange(len(_PAYOUT_REASONS))]
            events.append((t, "PAY_OUT", money(rng.randrange(1000, 6000, 25)), drawer, reason, "", "", manager, ""))
        for _ in range(rng.choice((0, 1, 1, 2))):
            t = 11 * 3600 + rng.randrange(0, 10 * 3600)
            reason = _NO_SALE_REASONS[rng.randrange(len(_NO_SALE_REASONS))]
            events.append((t, "NO_SALE", "", drawer, "", reason, "", manager, ""))
        action = rng.choices(_CLOSE_OUTS, weights=(6, 2, 2))[0]
        difference = 0 if action == "CLOSE_OUT_EXACT" else rng.randrange(25, 1500, 25)
        comment = "Counted twice, matches" if commas else "Counted twice"
        closer = closer_pool[rng.randrange(len(closer_pool))].name if closer_pool else ""
        t = closes_at + rng.randrange(600, 1800)
        events.append((t, action, money(difference), drawer, "", "", quote(comment), manager, closer))
    events.sort(key=lambda e: (e[0], e[1], e[3]))
    return [[profile.location_cell, next_id(), stamp(t), *rest] for t, *rest in events]
