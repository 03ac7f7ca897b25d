"""Each location's menu: item and modifier ids, local prices and what sells in each daypart.

Master ids (`Master Id`, menu group `Parent ID`, option groups, modifier masters) are shared by
the whole group; `Item Id`s belong to one location. Reference ids use their own two-digit
prefixes, so they never collide with the row ids of orders, checks, payments and so on.
"""

import random
from dataclasses import dataclass, field
from functools import cache
from decimal import Decimal
from itertools import accumulate

from toast_assets.demo.csvtext import micros, money, quote
from toast_assets.demo.locations import LocationInfo
from toast_assets.demo.menu_data import CORE_GROUPS, GIFT_CARD_GROUP, MENU_GROUPS, OPTION_GROUPS, TAGS
from toast_assets.demo.people import ascii_fold

# Dayparts, printed in the `Service` column.
BRUNCH, LUNCH, HAPPY_HOUR, DINNER, LATE_NIGHT = "Brunch", "Lunch", "Happy Hour", "Dinner", "Late Night"
SERVICES: tuple[str, ...] = (BRUNCH, LUNCH, HAPPY_HOUR, DINNER, LATE_NIGHT)

# Share of each daypart's item sales by menu (0 or absent = not served then).
_MENU_SHARES: dict[str, dict[str, float]] = {
    BRUNCH: {"Brunch": 0.62, "Bar": 0.30, "Kids": 0.05, "Dessert": 0.02, "Retail": 0.01},
    LUNCH: {"Lunch": 0.70, "Bar": 0.22, "Kids": 0.04, "Dessert": 0.03, "Catering": 0.003, "Retail": 0.007},
    HAPPY_HOUR: {"Happy Hour": 0.45, "Bar": 0.35, "Dinner": 0.19, "Retail": 0.01},
    DINNER: {"Dinner": 0.55, "Bar": 0.33, "Dessert": 0.08, "Kids": 0.03, "Retail": 0.01},
    LATE_NIGHT: {"Bar": 0.65, "Late Night": 0.30, "Dinner": 0.05},
}

# Relative sales of the groups (group, subgroup) within a menu; 1.0 when absent. Soft drinks
# and draft beer sell far more than bottles of wine; gift cards are sold separately.
_GROUP_SHARES: dict[tuple[str, str], float] = {
    ("Salads", ""): 0.6,
    ("Mains", "Burgers"): 0.6,
    ("Mains", "Steaks"): 0.25,
    ("Mains", "Seafood"): 0.35,
    ("Mains", "Pasta"): 0.4,
    ("Mains", "Entrées"): 0.35,
    ("Sides", ""): 0.8,
    ("Sandwiches", ""): 1.2,
    ("Bowls", ""): 0.7,
    ("Soups", ""): 0.5,
    ("Brunch Plates", ""): 1.4,
    ("Brunch Drinks", ""): 0.6,
    ("Cocktails", ""): 1.2,
    ("Beer", "Bottles & Cans"): 0.6,
    ("Wine", "By the Glass"): 0.7,
    ("Wine", "By the Bottle"): 0.08,
    ("N/A Beverages", ""): 1.6,
    ("HH Drinks", ""): 1.2,
    ("HH Bites", ""): 0.8,
    ("After Dinner", ""): 0.25,
    ("Gift Cards", ""): 0.0,
}
_SPIRITS_SHARE = 0.08  # each spirits subgroup

# Menu price level by region, in percent of the master list price (a casual-dining group:
# average checks land around $25-40).
_REGION_PRICE_PERCENT: dict[str, int] = {"Northeast": 88, "West": 90, "Midwest": 76, "South": 78}
_DEFAULT_PRICE_PERCENT = 80

_SKU_PREFIX: dict[str, str] = {
    "Food": "FD",
    "Liquor": "LQ",
    "Beer": "BR",
    "Wine": "WN",
    "N/A Beverage": "NA",
    "Retail": "RT",
    "Gift Card": "GC",
}

# Sales tax rates in basis points (hundredths of a percent); item tax has six decimals.
_TAX_RATES_BP: tuple[int, ...] = (600, 725, 800, 825, 875, 900, 1025)


@dataclass(frozen=True, slots=True)
class ModifierOption:
    """One modifier a guest can add; cells are already CSV-quoted where needed."""

    master_id: str
    sku: str
    name: str
    price: int  # cents
    group_id: str
    group_name: str

    # Master Id, Modifier SKU, Modifier, Option Group ID, Option Group Name: built once.
    cells: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", (self.master_id, self.sku, self.name, self.group_id, self.group_name))


@dataclass(slots=True)
class MenuItem:
    """One row of a location's menu (and of its product-mix report); text fields are CSV cells.

    Read-only by convention (not frozen: a location builds hundreds, frozen init is slow).
    """

    index: int
    item_id: str
    master_id: str
    parent_id: str  # menu group id
    menu: str
    group: str
    subgroup: str
    name: str
    raw_name: str  # unquoted, for comma-joined cells such as CheckDetails `Item Description`
    sku: str
    plu: str
    price: int  # cents
    sales_category: str
    station: str  # kitchen station the item fires to; "" for retail items
    gift_card: bool  # sold as a deferred item (revenue recognised when redeemed)
    tags: str
    option_groups: tuple[tuple[ModifierOption, ...], ...]

    tax_rate_bp: int  # the location's sales tax, basis points
    # ItemSelectionDetails cells from `Item Id` to `Sales Category`: built once, reused per sale.
    cells: tuple[str, ...] = field(init=False)
    # ... followed by `Gross Price` to `Dining Option Tax` for the most common sale (one, at
    # list price, no priced modifier, no discount, not voided): most item rows reuse it whole.
    plain_sale_cells: tuple[str, ...] = field(init=False)
    # AllItemsReport cells from `Master ID` to `Tags`.
    report_cells: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.cells = (
            self.item_id,
            self.master_id,
            self.sku,
            self.plu,
            self.name,
            self.subgroup,
            self.group,
            self.menu,
            self.sales_category,
        )
        price = money(self.price)
        tax = "0.000000" if self.gift_card else micros(self.price * self.tax_rate_bp)
        flag = "true" if self.gift_card else "false"  # gift cards are deferred and tax exempt
        self.plain_sale_cells = (*self.cells, price, "0.00", price, "1.0", tax, "false", flag, flag, "EXCLUDED", "")
        self.report_cells = (
            self.master_id,
            self.item_id,
            self.parent_id,
            self.menu,
            self.group,
            self.subgroup,
            self.name,
            self.tags,
        )


@dataclass(frozen=True)
class Menu:
    """A location's menu plus the weighted draw tables for each daypart."""

    items: tuple[MenuItem, ...]
    gift_cards: tuple[MenuItem, ...]
    # Per daypart: candidate items and cumulative weights for random.choices().
    draw_items: dict[str, tuple[MenuItem, ...]]
    draw_weights: dict[str, tuple[float, ...]]
    tax_rate_bp: int


def _cents(dollars: str) -> int:
    """Dollars written as text (`"12.50"`) to integer cents, exactly."""
    return int(Decimal(dollars) * 100)


def _cell(text: str, ascii_only: bool) -> str:
    """A name as it is printed: accents kept or folded, CSV-quoted if needed."""
    return quote(ascii_fold(text) if ascii_only else text)


@cache
def _option_catalog(ascii_only: bool) -> dict[str, tuple[ModifierOption, ...]]:
    """Option groups with their group-wide ids."""
    catalog = {}
    modifier_number = 0
    for group_number, (group_name, options) in enumerate(OPTION_GROUPS.items(), start=1):
        built = []
        for name, price in options:
            modifier_number += 1
            built.append(
                ModifierOption(
                    master_id=f"18{modifier_number:017d}",
                    sku=f"MOD-{modifier_number:04d}",
                    name=_cell(name, ascii_only),
                    price=_cents(price),
                    group_id=f"17{group_number:017d}",
                    group_name=_cell(group_name, ascii_only),
                )
            )
        catalog[group_name] = tuple(built)
    return catalog


@cache
def _tags(name: str) -> str:
    """Zero to two tags per dish, fixed for the group (seeded by the dish name)."""
    rng = random.Random(f"tags:{name}")
    count = rng.choices((0, 1, 2), weights=(6, 3, 1))[0]
    return ", ".join(rng.sample(TAGS, count))


@dataclass(frozen=True, slots=True)
class _Dish:
    """A master menu entry with its group-wide ids and CSV cells, shared by every location."""

    master_number: int
    parent_number: int
    menu_name: str  # raw menu name (keys the daypart shares)
    group_share: float  # relative sales of the dish's group within its menu
    core: bool
    gift_card: bool
    list_price: int  # cents
    item_id_suffix: str  # a location's `Item Id` is "14" + export id + this
    cells: dict[str, str]  # MenuItem text fields
    option_groups: tuple[tuple[ModifierOption, ...], ...]


@cache
def _dishes(ascii_only: bool) -> tuple[_Dish, ...]:
    """The master menu, built once per spelling (accented or ASCII)."""
    options = _option_catalog(ascii_only)
    dishes = []
    master_number = 0
    for parent_number, (menu, group, subgroup, category, station, group_options, entries) in enumerate(
        MENU_GROUPS, start=1
    ):
        for name, list_price in entries:
            master_number += 1
            dishes.append(
                _Dish(
                    master_number=master_number,
                    parent_number=parent_number,
                    menu_name=menu,
                    group_share=_SPIRITS_SHARE if group == "Spirits" else _GROUP_SHARES.get((group, subgroup), 1.0),
                    core=(menu, group) in CORE_GROUPS,
                    gift_card=(menu, group) == GIFT_CARD_GROUP,
                    list_price=_cents(list_price),
                    item_id_suffix=f"{master_number:011d}",
                    cells={
                        "master_id": f"15{master_number:017d}",
                        "parent_id": f"16{parent_number:017d}",
                        "menu": _cell(menu, ascii_only),
                        "group": _cell(group, ascii_only),
                        "subgroup": _cell(subgroup, ascii_only),
                        "name": _cell(name, ascii_only),
                        "raw_name": ascii_fold(name) if ascii_only else name,
                        "sku": f"{_SKU_PREFIX[category]}-{master_number:04d}",
                        "plu": f"4{master_number:04d}" if category in ("Retail", "Gift Card") else "",
                        "sales_category": _cell(category, ascii_only),
                        "station": _cell(station, ascii_only),
                        "tags": _cell(_tags(name), ascii_only),
                    },
                    option_groups=tuple(options[g] for g in group_options),
                )
            )
    return tuple(dishes)


def _share_within_menu(dishes: list[_Dish], popularity: list[float]) -> list[float]:
    """Each item's share of its menu's sales: group share x popularity, normalised within the
    menu and the group, so menus and groups with many items do not sell more rows."""
    popularity_sum: dict[int, float] = {}
    group_sum: dict[str, float] = {}
    for dish, weight in zip(dishes, popularity):
        if dish.parent_number not in popularity_sum:
            group_sum[dish.menu_name] = group_sum.get(dish.menu_name, 0.0) + dish.group_share
        popularity_sum[dish.parent_number] = popularity_sum.get(dish.parent_number, 0.0) + weight
    return [
        dish.group_share / group_sum[dish.menu_name] * weight / popularity_sum[dish.parent_number]
        if dish.group_share
        else 0.0
        for dish, weight in zip(dishes, popularity)
    ]


def build_menu(location: LocationInfo, seed: int, ascii_only: bool = False) -> Menu:
    """The location's menu: core groups always, other groups sampled, local prices and weights."""
    rng = random.Random(f"toast-demo:{seed}:{location.export_id}:menu")
    price_percent = _REGION_PRICE_PERCENT.get(location.region, _DEFAULT_PRICE_PERCENT)
    keep_share = rng.uniform(0.35, 0.95)  # how much of the optional menu this location runs
    tax_rate_bp = rng.choice(_TAX_RATES_BP)
    item_id_prefix = f"14{location.export_id}"

    items: list[MenuItem] = []
    kept: list[_Dish] = []
    popularity: list[float] = []
    ranks: list[int] = []
    parent_number = first_number = 0
    for dish in _dishes(ascii_only):
        if dish.parent_number != parent_number:
            # Local favourites: each group's popularity ranks are shuffled per location.
            parent_number, first_number = dish.parent_number, dish.master_number
            ranks = list(range(len(MENU_GROUPS[parent_number - 1][6])))
            rng.shuffle(ranks)
        rank = ranks[dish.master_number - first_number]
        if not dish.core and rng.random() > keep_share:
            continue
        # Local price rounded to a quarter; gift cards keep their face value.
        price = dish.list_price
        if not dish.gift_card:
            price = (price * price_percent // 100 + 12) // 25 * 25
        items.append(
            MenuItem(
                index=len(items),
                item_id=item_id_prefix + dish.item_id_suffix,
                price=price,
                gift_card=dish.gift_card,
                option_groups=dish.option_groups,
                tax_rate_bp=tax_rate_bp,
                **dish.cells,
            )
        )
        kept.append(dish)
        popularity.append(1.0 / (rank + 1) ** 0.9)  # Zipf-like: a few favourites sell most

    draw_items: dict[str, tuple[MenuItem, ...]] = {}
    draw_weights: dict[str, tuple[float, ...]] = {}
    within_menu = _share_within_menu(kept, popularity)
    for service in SERVICES:
        # Sales weight in the daypart = the menu's share of the daypart x the item's share of its menu.
        menu_shares = _MENU_SHARES[service]
        weights = [menu_shares.get(dish.menu_name, 0.0) * share for dish, share in zip(kept, within_menu)]
        candidates = [(item, w) for item, w in zip(items, weights) if w > 0]
        draw_items[service] = tuple(item for item, _ in candidates)
        draw_weights[service] = tuple(accumulate(w for _, w in candidates))
    return Menu(
        items=tuple(items),
        gift_cards=tuple(item for item in items if item.gift_card),
        draw_items=draw_items,
        draw_weights=draw_weights,
        tax_rate_bp=tax_rate_bp,
    )
