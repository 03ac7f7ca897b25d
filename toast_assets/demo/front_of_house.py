"""One business day of service: orders, checks, item and modifier selections.

Payments are taken by `payments.Cashier` and kitchen tickets by `kitchen.Expediter`; the
amount rules every file follows are in `order_model`. Hot loops bind lookups to locals and
build rows from prebuilt cells: a busy benchmark day is a million rows.
"""

import random
from bisect import bisect
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import TypeVar

from toast_assets.demo.clock import DayClock, duration_hms
from toast_assets.demo.csvtext import MONEY_TABLE, MONEY_TABLE_SIZE, join_values, micros, money, quote, round_div
from toast_assets.demo.kitchen import Expediter
from toast_assets.demo.labor import SHIFT_CHANGE, Roster
from toast_assets.demo.menu import MenuItem
from toast_assets.demo.order_model import (
    CHANNEL_WEIGHTS,
    CHANNELS,
    Channel,
    Check,
    DayTotals,
    Order,
    ServiceRows,
    service_at,
)
from toast_assets.demo.payments import Cashier
from toast_assets.demo.profile import Customer, Employee, LocationProfile

VOIDED_ORDER_RATE = 0.02
VOIDED_ITEM_RATE = 0.01  # items voided inside orders that stand
GIFT_CARD_ORDER_RATE = 0.005
DISCOUNTED_ITEM_RATE = 0.10
DOUBLE_QTY_RATE = 0.08
LOYALTY_RATE = 0.12  # guests in the restaurant who identify as a known customer

_ITEM_COUNTS = tuple(range(1, 9))
_ITEM_COUNT_WEIGHTS = tuple(accumulate((12, 20, 24, 19, 12, 7, 4, 2)))  # mean ~3.5 items per order
_MODIFIER_COUNT_THRESHOLDS = (0.30, 0.65, 0.87)  # 0..3 modifiers on an item that takes options

# (name, percent off in basis points, fixed cents off) and cumulative weights.
_DISCOUNTS: tuple[tuple[str, int, int], ...] = (
    ("10% Off", 1000, 0),
    ("Loyalty $5 Off", 0, 500),
    ("Happy Hour $2 Off", 0, 200),
    ("Employee Meal", 5000, 0),
    ("Manager Comp", 10000, 0),
    ("Birthday Dessert", 10000, 0),
)
_DISCOUNT_WEIGHTS = tuple(accumulate((35, 20, 15, 10, 12, 8)))

_VOID_REASONS: tuple[tuple[str, str], ...] = (
    ("2300000000000000001", "Customer Changed Mind"),
    ("2300000000000000002", "Server Error"),
    ("2300000000000000003", "86'd Item"),
    ("2300000000000000004", "Quality Issue"),
)
_DELIVERY_PARTNERS = ("DoorDash", "Uber Eats", "Grubhub")

T = TypeVar("T")


def draw(random_: Callable[[], float], population: Sequence[T], cumulative: Sequence[float]) -> T:
    """One weighted pick, as `random.choices(k=1)` does it, without its per-call overhead."""
    return population[bisect(cumulative, random_() * cumulative[-1], 0, len(cumulative) - 1)]


class Service:
    """Rings in one business day at one location; call `run()` once."""

    def __init__(
        self,
        profile: LocationProfile,
        clock: DayClock,
        rng: random.Random,
        next_id: Callable[[], str],
        roster: Roster,
        weekend: bool,
        styles: dict[str, str],
    ) -> None:
        self.profile = profile
        self.location = profile.location_cell
        self.menu = profile.menu
        self.random = rng.random
        self.next_id = next_id
        self.roster = roster
        self.weekend = weekend
        self.clock = clock
        self.stamp_order = clock.formatter(styles["OrderDetails.csv"])
        self.stamp_item = clock.formatter(styles["ItemSelectionDetails.csv"])
        self.stamp_modifier = clock.formatter(styles["ModifiersSelectionDetails.csv"])
        self.rows = ServiceRows()
        self.totals = DayTotals(menu_size=len(self.menu.items))
        stamp_payment = clock.formatter(styles["PaymentDetails.csv"])
        stamp_kitchen = clock.formatter(styles["KitchenTimings.csv"])
        self.cashier = Cashier(profile, rng, next_id, stamp_payment, roster, self.totals, self.rows.payments)
        self.expediter = Expediter(profile.location_cell, rng, next_id, stamp_kitchen, roster, self.rows.kitchen)
        self.check_number = 0

    def run(self, opened_times: list[int]) -> tuple[ServiceRows, DayTotals]:
        """Serve orders opened at the given times (sorted), numbered 1..n in that order."""
        for order_number, opened in enumerate(opened_times, start=1):
            self._order(order_number, opened)
        return self.rows, self.totals

    # -- orders -------------------------------------------------------------------------------

    def _order(self, order_number: int, opened: int) -> None:
        """One order: its checks (items, payments, tickets), then its OrderDetails row."""
        order, picks, checks = self._open(order_number, opened)
        net = discount = tax = tip = gratuity = 0
        check_numbers: list[str] = []
        tabs: list[str] = []
        sold = False
        for position in range(checks):
            self.check_number += 1
            check = Check(self.next_id(), self.check_number, self._tab(order))
            sold |= self._ring(order, check, picks[position::checks], order_number)
            check_tax, check_tip, check_gratuity = self._close_check(order, check, order.paid + 45 * position)
            self.expediter.fire(order, check)
            net += check.net
            discount += check.discount
            tax += check_tax
            tip += check_tip
            gratuity += check_gratuity
            check_numbers.append(str(check.number))
            if check.tab and check.tab not in tabs:
                tabs.append(check.tab)
        totals = self.totals
        if sold:
            totals.orders_with_sales += 1
        closed = order.paid + int(self.random() * 300)
        if closed > totals.last_closed:
            totals.last_closed = closed

        stamp = self.stamp_order
        channel = order.channel
        voided = order.voided
        self.rows.orders.append(
            [
                self.location,
                order.order_id,
                order.number,
                join_values(check_numbers),
                stamp(opened),
                str(order.guests),
                join_values(tabs) if tabs else "",
                order.server_name,
                order.table,
                channel.revenue_center,
                channel.dining_area,
                order.service,
                join_values([channel.dining_option] * checks),
                money(discount),
                money(net),
                money(tax),
                money(tip),
                money(gratuity),
                money(net + tax + tip + gratuity),
                "true" if voided else "false",
                "" if voided else stamp(order.paid),
                stamp(closed),
                "" if voided else duration_hms(order.paid - opened),
                order.partner or ("Online Ordering" if channel.online else "In Store"),
            ]
        )

    def _open(self, order_number: int, opened: int) -> tuple[Order, list[MenuItem], int]:
        """Who orders what: channel, party, server, checks, the items picked and the times."""
        random_ = self.random
        menu = self.menu
        service = service_at(opened, self.weekend)
        channel: Channel = draw(random_, CHANNELS, CHANNEL_WEIGHTS[service])
        checks = 1
        if channel.seated:
            r = random_()
            checks = 1 if r < 0.80 else 2 if r < 0.96 else 3
        count = max(checks, draw(random_, _ITEM_COUNTS, _ITEM_COUNT_WEIGHTS))
        candidates, weights = menu.draw_items[service], menu.draw_weights[service]
        total, last = weights[-1], len(weights) - 1
        picks = [candidates[bisect(weights, random_() * total, 0, last)] for _ in range(count)]
        if menu.gift_cards and random_() < GIFT_CARD_ORDER_RATE:
            picks.append(menu.gift_cards[int(random_() * len(menu.gift_cards))])

        server = self._server(channel, opened)
        if not channel.in_store:
            paid = opened + int(random_() * 120)  # prepaid when ordered
        elif not channel.seated:
            paid = opened + 120 + int(random_() * 480)  # take-out pays at the counter
        else:
            paid = opened + (600 if channel.bar else 1500) + int(random_() * 4200)
        order = Order(
            order_id=self.next_id(),
            number=str(order_number),
            opened=opened,
            sent=opened + 30 + int(random_() * 240),
            paid=paid,
            voided=random_() < VOIDED_ORDER_RATE,
            service=service,
            channel=channel,
            guests=self._guests(channel),
            server=server,
            server_name=server.name if server else "",
            table=f"{channel.table_prefix}{1 + int(random_() * channel.tables)}" if channel.seated else "",
            customer=self._customer(channel),
            partner=_DELIVERY_PARTNERS[int(random_() * len(_DELIVERY_PARTNERS))] if channel.delivery else "",
        )
        return order, picks, checks

    def _guests(self, channel: Channel) -> int:
        """Party size: one at the counter, one to three at the bar, mostly couples at tables."""
        if not channel.seated:
            return 1
        random_ = self.random
        if channel.bar:
            return 1 + int(random_() * 3)
        r = random_()
        if r < 0.95:
            return 1 if r < 0.15 else 2 if r < 0.55 else 3 if r < 0.70 else 4 if r < 0.88 else 5
        return 6 + int(random_() * 5)  # large parties: automatic gratuity

    def _server(self, channel: Channel, opened: int) -> Employee | None:
        """An on-shift bartender for bar orders, a server otherwise; online and delivery have none."""
        if not channel.in_store:
            return None
        crew = self.roster.crew("BAR" if channel.bar else "SRV", opened >= SHIFT_CHANGE)
        return crew[int(self.random() * len(crew))] if crew else None

    def _customer(self, channel: Channel) -> Customer | None:
        """Online and delivery guests are known; some guests in the restaurant use loyalty."""
        if channel.in_store and self.random() >= LOYALTY_RATE:
            return None
        customers = self.profile.customers
        return customers[int(self.random() * len(customers))]

    def _tab(self, order: Order) -> str:
        """Tab name: the guest's name online; most bar tabs are opened under a name."""
        if order.customer is not None and not order.channel.in_store:
            return order.customer.tab_name
        if order.channel.bar and self.random() < 0.7:
            customers = self.profile.customers
            return customers[int(self.random() * len(customers))].tab_name
        return ""

    # -- items and modifiers ------------------------------------------------------------------

    def _ring(self, order: Order, check: Check, picks: list[MenuItem], order_number: int) -> bool:
        """Item and modifier rows of one check; True if anything was sold (not voided)."""
        random_ = self.random
        next_id = self.next_id
        rate_bp = self.menu.tax_rate_bp
        totals = self.totals
        sold_qty, sold_gross, sold_discount, sold_net = totals.qty, totals.gross, totals.discount, totals.net
        last_order, order_counts = totals.last_order, totals.orders
        context = [
            self.location,
            order.order_id,
            order.number,
            self.stamp_item(order.sent),
            self.stamp_item(order.opened),
            check.check_id,
            order.server_name,
            order.table,
            order.channel.dining_area,
            order.service,
            order.channel.dining_option,
        ]
        modifier_context = context
        if self.stamp_modifier is not self.stamp_item:
            modifier_context = [*context]
            modifier_context[3] = self.stamp_modifier(order.sent)
            modifier_context[4] = self.stamp_modifier(order.opened)
        tab = quote(check.tab)
        items_out, modifiers_out = self.rows.items, self.rows.modifiers
        low, mid, high = _MODIFIER_COUNT_THRESHOLDS
        money_text, money_limit = MONEY_TABLE, MONEY_TABLE_SIZE
        order_voided = order.voided
        # The check's running sums stay in locals until the last item (attribute writes are slow).
        net_sum = discount_sum = tax_sum = unvoided_net = unvoided_tax = 0
        sold = False
        for item in picks:
            selection_id = next_id()
            gift_card = item.gift_card
            qty = 2 if not gift_card and random_() < DOUBLE_QTY_RATE else 1
            qty_text = "2.0" if qty == 2 else "1.0"
            voided = order_voided or random_() < VOIDED_ITEM_RATE
            void_text = "true" if voided else "false"
            void_reason = _VOID_REASONS[int(random_() * len(_VOID_REASONS))] if voided else ("", "")

            modifier_total = 0
            groups = item.option_groups
            if groups:
                r = random_()
                count = min(0 if r < low else 1 if r < mid else 2 if r < high else 3, len(groups))
                start = int(random_() * len(groups))
                for offset in range(count):
                    options = groups[(start + offset) % len(groups)]  # one option per option group
                    option = options[int(random_() * len(options))]
                    price = option.price * qty
                    modifier_total += price
                    price_text = money_text[price] if price < money_limit else money(price)
                    modifiers_out.append(
                        [
                            *modifier_context,
                            selection_id,
                            next_id(),
                            *option.cells,
                            selection_id,
                            item.name,
                            item.sales_category,
                            price_text,
                            "0.00",
                            price_text,
                            qty_text,
                            void_text,
                            *void_reason,
                        ]
                    )

            gross = item.price * qty + modifier_total
            discount = self._discount(gross, check) if not gift_card and random_() < DISCOUNTED_ITEM_RATE else 0
            net = gross - discount
            tax = 0 if gift_card else net * rate_bp  # cents x basis points = millionths of a dollar
            if qty == 1 and not modifier_total and not discount and not voided:
                items_out.append([*context, selection_id, *item.plain_sale_cells, tab])
            else:
                flag = "true" if gift_card else "false"  # gift cards are deferred and tax exempt
                items_out.append(
                    [
                        *context,
                        selection_id,
                        *item.cells,
                        money(gross),
                        money(discount),
                        money(net),
                        qty_text,
                        micros(tax),
                        void_text,
                        flag,
                        flag,
                        "EXCLUDED",
                        "",
                        tab,
                    ]
                )

            index = item.index
            if voided:
                totals.void_qty[index] += qty
                totals.void_amount[index] += gross
            else:
                sold = True
                sold_qty[index] += qty
                sold_gross[index] += gross
                sold_discount[index] += discount
                sold_net[index] += net
                if last_order[index] != order_number:
                    last_order[index] = order_number
                    order_counts[index] += 1
                if not gift_card:
                    net_sum += net
                    discount_sum += discount
                    tax_sum += tax
            if not gift_card:
                unvoided_net += net
                unvoided_tax += tax
        check.net, check.discount, check.tax_micros = net_sum, discount_sum, tax_sum
        check.unvoided_net, check.unvoided_tax_micros = unvoided_net, unvoided_tax
        check.item_names = [item.raw_name for item in picks]
        check.stations = dict.fromkeys(item.station for item in picks if item.station)
        return sold

    def _discount(self, gross: int, check: Check) -> int:
        """A discount on one item, never more than its price; its name is noted on the check."""
        name, percent_bp, fixed = draw(self.random, _DISCOUNTS, _DISCOUNT_WEIGHTS)
        if name not in check.discount_names:
            check.discount_names.append(name)
        amount = round_div(gross * percent_bp, 10_000) if percent_bp else fixed
        return min(amount, gross)

    # -- checks -------------------------------------------------------------------------------

    def _close_check(self, order: Order, check: Check, paid: int) -> tuple[int, int, int]:
        """Payments and the CheckDetails row of one check; returns its tax, tip and gratuity."""
        tax = round_div(check.tax_micros, 10_000)  # millionths of a dollar -> cents
        tip, gratuity, kinds = self.cashier.settle(order, check, tax, paid)
        customer = order.customer
        clock = self.clock
        self.rows.checks.append(
            [
                customer.customer_id if customer else "",
                customer.name if customer else "",
                customer.phone if customer else "",
                customer.email if customer else "",
                self.profile.code_cell,
                clock.check_date(order.opened),
                clock.check_time(order.opened),
                join_values(check.item_names),
                order.server_name,
                money(tax),
                join_values(kinds) if kinds else "",
                check.check_id,
                str(check.number),
                money(check.net + tax + tip + gratuity),
                "",
                str(order.guests),
                money(check.discount),
                join_values(check.discount_names) if check.discount_names else "",
                "",
            ]
        )
        return tax, tip, gratuity
