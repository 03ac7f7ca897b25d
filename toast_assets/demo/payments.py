"""Settling checks: tips, automatic gratuity, split tender and the PaymentDetails rows.

A check's CAPTURED payments add up exactly to net + tax + tip + gratuity. Card payments carry
card type, last four digits and processing fees; cash carries the drawer and the round amount
handed over; gift cards and house accounts their own fields.
"""

import random
from collections.abc import Callable

from toast_assets.demo.csvtext import money, quote, round_div
from toast_assets.demo.labor import SHIFT_CHANGE, Roster
from toast_assets.demo.order_model import Check, DayTotals, Order
from toast_assets.demo.profile import LocationProfile

CREDIT, CASH, GIFT_CARD, OTHER = "Credit", "Cash", "Gift Card", "Other"

LARGE_PARTY = 6  # parties this size get an automatic gratuity
GRATUITY_BP = 1800
SPLIT_PAYMENT_RATE = 0.06
DENIED_ATTEMPT_RATE = 0.01  # card declined once before the captured payment
REFUND_RATE = 0.003

_CARD_TYPES = ("VISA", "VISA", "VISA", "VISA", "MASTERCARD", "MASTERCARD", "MASTERCARD", "AMEX", "AMEX")
CASH_DRAWERS = {True: "Bar Drawer", False: "Front Drawer"}  # bar orders pay into the bar drawer


class Cashier:
    """Takes the payments of one business day and writes their rows."""

    def __init__(
        self,
        profile: LocationProfile,
        rng: random.Random,
        next_id: Callable[[], str],
        stamp: Callable[[int], str],
        roster: Roster,
        totals: DayTotals,
        rows: list[list[str]],
    ) -> None:
        self.location = profile.location_cell
        self.full_service_tip_bp = profile.full_service_tip_bp
        self.random = rng.random
        self.next_id = next_id
        self.stamp = stamp
        self.roster = roster
        self.totals = totals
        self.rows = rows

    def settle(self, order: Order, check: Check, tax: int, paid: int) -> tuple[int, int, list[str]]:
        """Pay one check (tax already rounded); returns its tip, gratuity and tender types."""
        net = check.net
        if order.voided:
            # The guest never paid: the payment taken earlier is voided for the full amount.
            due = check.unvoided_net + round_div(check.unvoided_tax_micros, 10_000)
            if due:
                self._rows(order, check, [(self._kind(order), due, 0, 0)], paid, "VOIDED")
            return 0, 0, []
        gratuity = round_div(net * GRATUITY_BP, 10_000) if order.guests >= LARGE_PARTY else 0
        if net + tax + gratuity <= 0:
            return 0, 0, []  # fully comped: Toast closes the check without a payment
        payments = self._split(order, net + tax, gratuity)
        self._rows(order, check, payments, paid, "CAPTURED")

        totals = self.totals
        tip = 0
        for kind, amount, payment_tip, _ in payments:
            tip += payment_tip
            if kind == CASH:
                drawer = CASH_DRAWERS[order.channel.bar]
                totals.cash_by_drawer[drawer] = totals.cash_by_drawer.get(drawer, 0) + amount
        if order.server is not None:
            employee_id = order.server.employee_id
            if tip:
                totals.tips[employee_id] = totals.tips.get(employee_id, 0) + tip  # cash carries no tip
            if gratuity:
                totals.gratuity[employee_id] = totals.gratuity.get(employee_id, 0) + gratuity
        kinds = sorted({payment[0] for payment in payments})
        return tip, gratuity, kinds

    def _kind(self, order: Order) -> str:
        """Tender type: online orders pay by card, delivery through the partner (`Other`)."""
        channel = order.channel
        if channel.online:
            return CREDIT
        if channel.delivery:
            return OTHER
        r = self.random()
        return CREDIT if r < 0.76 else CASH if r < 0.90 else GIFT_CARD if r < 0.96 else OTHER

    def _tip_bp(self, order: Order, kind: str, gratuity: int) -> int:
        """Tip rate: ~20% at tables and the bar, less on take-out, none on cash or delivery."""
        random_ = self.random
        if kind == CASH or order.channel.delivery:
            return 0
        if gratuity:
            return 0 if random_() < 0.8 else 500
        if order.channel.seated:
            if random_() < 0.03:
                return 0
            return self.full_service_tip_bp - 300 + int(random_() * 600)
        if random_() < 0.3:
            return 0
        return 1200 + int(random_() * 1000)

    def _split(self, order: Order, due: int, gratuity: int) -> list[tuple[str, int, int, int]]:
        """(type, amount, tip, gratuity) per payment: usually one, sometimes two (split tender)."""
        parts = 2 if order.channel.in_store and due >= 2000 and self.random() < SPLIT_PAYMENT_RATE else 1
        payments = []
        remaining_due, remaining_gratuity = due, gratuity
        for part in range(parts):
            if part == parts - 1:
                amount, grat = remaining_due, remaining_gratuity
            else:
                share = 30 + int(self.random() * 40)
                amount, grat = due * share // 100, gratuity * share // 100
            remaining_due -= amount
            remaining_gratuity -= grat
            kind = self._kind(order)
            tip = round_div(amount * self._tip_bp(order, kind, gratuity), 10_000)
            payments.append((kind, amount, tip, grat))
        return payments

    def _rows(
        self, order: Order, check: Check, payments: list[tuple[str, int, int, int]], paid: int, status: str
    ) -> None:
        """The payment rows of one check, a declined card attempt first now and then."""
        opened_text = self.stamp(order.opened)
        for payment in payments:
            if status == "CAPTURED" and payment[0] == CREDIT and self.random() < DENIED_ATTEMPT_RATE:
                self.rows.append(self._row(order, check, payment, paid, opened_text, "DENIED"))
                paid += 20
            self.rows.append(self._row(order, check, payment, paid, opened_text, status))
            paid += 20

    def _row(
        self, order: Order, check: Check, payment: tuple[str, int, int, int], paid: int, opened_text: str, status: str
    ) -> list[str]:
        """One PaymentDetails row; card, cash, gift card and house-account fields by type."""
        random_ = self.random
        stamp = self.stamp
        channel = order.channel
        kind, amount, tip, gratuity = payment
        total = amount + tip + gratuity
        total_text = money(total)
        card_type = other_type = last4 = fees = swiped = keyed = house = gift_last4 = gift_first5 = drawer = ""
        tendered = total_text
        if kind == CREDIT:
            card_type = _CARD_TYPES[int(random_() * len(_CARD_TYPES))]
            last4 = str(10_000 + int(random_() * 10_000))[1:]  # four digits, zero-padded
            fees = money(round_div(total * (330 if card_type == "AMEX" else 260), 10_000) + 10)
            if channel.online:
                keyed = total_text
            else:
                swiped = total_text
        elif kind == CASH:
            drawer = CASH_DRAWERS[channel.bar]
            tendered = money((total + 499) // 500 * 500)  # guests hand over round notes
        elif kind == GIFT_CARD:
            gift_last4 = str(10_000 + int(random_() * 10_000))[1:]  # four digits, zero-padded
            gift_first5 = "60110"
        else:
            other_type = order.partner or "House Account"
            if not order.partner:
                house = "HA-" + str(1000 + int(random_() * 200))
        refunded = refund_date = refund_amount = refund_tip = ""
        if status == "CAPTURED" and random_() < REFUND_RATE:
            refunded = "PARTIAL"
            refund_date = stamp(paid + 1800 + int(random_() * 3600))
            refund_amount = money(amount // 4)
            refund_tip = "0.00"
        void_user = void_approver = void_date = ""
        if status == "VOIDED":
            managers = self.roster.crew("MGR", paid >= SHIFT_CHANGE)
            void_approver = managers[0].name if managers else ""
            void_user = order.server_name or void_approver
            void_date = stamp(paid)
        customer = order.customer if not channel.in_store else None
        return [
            self.location,
            self.next_id(),
            order.order_id,
            order.number,
            stamp(paid),
            opened_text,
            check.check_id,
            str(check.number),
            quote(check.tab),
            order.server_name,
            order.table,
            channel.dining_area,
            order.service,
            channel.dining_option,
            house,
            money(amount),
            money(tip),
            money(gratuity),
            total_text,
            swiped,
            keyed,
            tendered,
            refunded,
            refund_date,
            refund_amount,
            refund_tip,
            void_user,
            void_approver,
            void_date,
            status,
            kind,
            drawer,
            card_type,
            other_type,
            customer.email if customer else "",
            customer.phone if customer else "",
            last4,
            fees,
            "",
            "Emailed" if not channel.in_store else ("Printed" if random_() < 0.5 else ""),
            "In Store" if channel.in_store else "Online",
            gift_last4,
            gift_first5,
        ]
