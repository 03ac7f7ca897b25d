"""AllItemsReport: the product mix, one row per menu item per day, zero-sales items included.

Sums come from the same item selections written to ItemSelectionDetails:
- `Item Qty`, `Gross Amount`, `Discount Amount`, `Net Amount`: items that are not voided,
  deferred gift-card items included (Toast's product mix lists gift cards sold; net sales
  metrics exclude them through the `Deferred` flag on item selections);
- `Void Qty`, `Void Amount`: voided items (gross price);
- `... (incl voids)`: both together; `# Orders`: distinct orders with the item not voided;
- percentages have two decimals, of the day's totals, of the menu and of the menu group.
"""

from toast_assets.demo.csvtext import money, percent, quantity, round_div
from toast_assets.demo.order_model import DayTotals
from toast_assets.demo.menu import MenuItem


# The cells after `Tags` of an item nobody ordered today (often a third of the menu).
_ZERO_SALES: tuple[str, ...] = (
    money(0),  # Avg Price
    quantity(0),
    percent(0, 0),
    money(0),
    percent(0, 0),
    quantity(0),
    money(0),
    quantity(0),
    money(0),
    money(0),
    money(0),
    "0",  # # Orders
    *[percent(0, 0)] * 7,
)


def product_mix_rows(items: tuple[MenuItem, ...], totals: DayTotals) -> list[list[str]]:
    """Rows in menu order; an item nobody ordered gets zeros everywhere."""
    qty, net = totals.qty, totals.net
    qty_incl = [q + v for q, v in zip(qty, totals.void_qty)]
    gross_incl = [g + v for g, v in zip(totals.gross, totals.void_amount)]
    all_qty, all_net = sum(qty), sum(net)
    all_qty_incl, all_gross_incl = sum(qty_incl), sum(gross_incl)
    group_qty: dict[tuple[str, str], int] = {}
    group_net: dict[tuple[str, str], int] = {}
    menu_qty: dict[str, int] = {}
    menu_net: dict[str, int] = {}
    for item in items:
        key = (item.menu, item.group)
        group_qty[key] = group_qty.get(key, 0) + qty[item.index]
        group_net[key] = group_net.get(key, 0) + net[item.index]
        menu_qty[item.menu] = menu_qty.get(item.menu, 0) + qty[item.index]
        menu_net[item.menu] = menu_net.get(item.menu, 0) + net[item.index]

    rows = []
    for item in items:
        i = item.index
        if not qty_incl[i]:
            rows.append([*item.report_cells, *_ZERO_SALES])
            continue
        key = (item.menu, item.group)
        item_qty = qty[i]
        rows.append(
            [
                *item.report_cells,
                money(round_div(totals.gross[i], item_qty) if item_qty else 0),
                quantity(qty_incl[i]),
                percent(qty_incl[i], all_qty_incl),
                money(gross_incl[i]),
                percent(gross_incl[i], all_gross_incl),
                quantity(item_qty),
                money(totals.gross[i]),
                quantity(totals.void_qty[i]),
                money(totals.void_amount[i]),
                money(totals.discount[i]),
                money(net[i]),
                str(totals.orders[i]),
                percent(totals.orders[i], totals.orders_with_sales),
                percent(item_qty, group_qty[key]),
                percent(item_qty, menu_qty[item.menu]),
                percent(item_qty, all_qty),
                percent(net[i], group_net[key]),
                percent(net[i], menu_net[item.menu]),
                percent(net[i], all_net),
            ]
        )
    return rows
