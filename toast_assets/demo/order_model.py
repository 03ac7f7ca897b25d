"""The shapes service works with: channels, orders, open checks, the day's running totals.

Amount rules (integer cents, never floats), shared by every service file:
- item `Gross Price` = (menu price + modifier prices) x qty; `Net Price` = gross - `Discount`;
  item `Tax` = net x tax rate, in millionths of a dollar (six decimals).
- a check's net, discount and tax cover its items that are neither voided nor deferred
  (gift cards); check `Tax` = the item tax rounded half up to the cent; check `Total` =
  net + tax + tip + gratuity.
- order `Amount`, `Discount Amount`, `Tax`, `Tip`, `Gratuity` are sums over its checks, so
  `Total` = `Amount` + `Tax` + `Tip` + `Gratuity` exactly. A voided order has all its items
  voided, so its amounts are zero.
- the CAPTURED payments of a check add up to the check total; DENIED attempts and the VOIDED
  payments of voided orders are extra rows. Deferred gift-card sales stay outside the order
  amount and outside the payments (a simplification that keeps "captured payments = order
  Total" exact).
"""

from dataclasses import dataclass, field
from itertools import accumulate

from toast_assets.demo.menu import BRUNCH, DINNER, HAPPY_HOUR, LATE_NIGHT, LUNCH
from toast_assets.demo.profile import Customer, Employee


@dataclass(frozen=True)
class Channel:
    """How an order reaches the restaurant: where it is served and how it is paid."""

    dining_option: str
    revenue_center: str
    dining_area: str
    table_prefix: str | None  # None: no table (take-out, online, delivery)
    tables: int
    bar: bool = False
    in_store: bool = True  # paid at the restaurant (card present, cash, house account)
    online: bool = False  # Toast online ordering, paid by keyed card
    delivery: bool = False  # third-party delivery, paid through the partner

    @property
    def seated(self) -> bool:
        """Guests sit at a table or the bar (and may split the bill into several checks)."""
        return self.table_prefix is not None


DINE_IN = Channel("Dine In", "Dining Room", "Main Dining", "", 30)
PATIO = Channel("Dine In", "Patio", "Patio", "P", 12)
BAR = Channel("Bar", "Bar", "Bar", "B", 16, bar=True)
TAKE_OUT = Channel("Take Out", "Takeout", "", None, 0)
ONLINE = Channel("Online Ordering", "Online", "", None, 0, in_store=False, online=True)
DELIVERY = Channel("Delivery", "Third Party", "", None, 0, in_store=False, delivery=True)
CHANNELS: tuple[Channel, ...] = (DINE_IN, PATIO, BAR, TAKE_OUT, ONLINE, DELIVERY)

# Cumulative channel weights per daypart, in CHANNELS order.
CHANNEL_WEIGHTS: dict[str, tuple[float, ...]] = {
    BRUNCH: tuple(accumulate((60, 15, 8, 8, 5, 4))),
    LUNCH: tuple(accumulate((45, 10, 8, 15, 12, 10))),
    HAPPY_HOUR: tuple(accumulate((30, 10, 45, 5, 5, 5))),
    DINNER: tuple(accumulate((50, 10, 20, 6, 7, 7))),
    LATE_NIGHT: tuple(accumulate((20, 0, 65, 0, 0, 15))),
}


def service_at(t: int, weekend: bool) -> str:
    """The daypart (`Service`) of an order opened t seconds after business midnight."""
    hour = t // 3600
    if hour < 15:
        return BRUNCH if weekend else LUNCH
    if hour < 17:
        return HAPPY_HOUR
    if hour < 22:
        return DINNER
    return LATE_NIGHT


@dataclass(slots=True)
class Order:
    """What every row of one order repeats; times are seconds after business midnight."""

    order_id: str
    number: str
    opened: int
    sent: int  # fired to the kitchen
    paid: int
    voided: bool
    service: str
    channel: Channel
    guests: int
    server: Employee | None
    server_name: str  # CSV cell, "" without a server
    table: str
    customer: Customer | None
    partner: str  # delivery partner, "" otherwise


@dataclass(slots=True)
class Check:
    """Running sums of one check while its items are rung in."""

    check_id: str
    number: int
    tab: str  # raw tab name, "" without one
    net: int = 0
    discount: int = 0
    tax_micros: int = 0
    unvoided_net: int = 0  # what a voided order would have charged
    unvoided_tax_micros: int = 0
    item_names: list[str] = field(default_factory=list)
    discount_names: list[str] = field(default_factory=list)
    stations: dict[str, None] = field(default_factory=dict)  # ordered set of kitchen stations


@dataclass
class DayTotals:
    """What the back office needs from service: product-mix sums, tips by employee, cash."""

    menu_size: int
    qty: list[int] = field(default_factory=list)
    gross: list[int] = field(default_factory=list)
    discount: list[int] = field(default_factory=list)
    net: list[int] = field(default_factory=list)
    void_qty: list[int] = field(default_factory=list)
    void_amount: list[int] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)  # distinct orders per menu item
    last_order: list[int] = field(default_factory=list)  # last order counted per menu item
    orders_with_sales: int = 0
    tips: dict[str, int] = field(default_factory=dict)  # employee id -> card tips
    gratuity: dict[str, int] = field(default_factory=dict)  # employee id -> gratuity
    cash_by_drawer: dict[str, int] = field(default_factory=dict)
    last_closed: int = 0

    def __post_init__(self) -> None:
        for name in ("qty", "gross", "discount", "net", "void_qty", "void_amount", "orders", "last_order"):
            setattr(self, name, [0] * self.menu_size)


@dataclass
class ServiceRows:
    """Rows of the six service files, each a list of CSV cells in the contract's default order."""

    orders: list[list[str]] = field(default_factory=list)
    checks: list[list[str]] = field(default_factory=list)
    payments: list[list[str]] = field(default_factory=list)
    items: list[list[str]] = field(default_factory=list)
    modifiers: list[list[str]] = field(default_factory=list)
    kitchen: list[list[str]] = field(default_factory=list)
