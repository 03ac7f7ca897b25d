"""The Toast file contract and header mapping: by name, any order, drift kept and reported."""

import pytest

from toast_assets.contract import BY_ENTITY, ENTITIES, TOAST_FILES, map_headers, snake_case

ORDER_HEADERS = (
    "Location,Order Id,Order #,Checks,Opened,# of Guests,Tab Names,Server,Table,Revenue Center,"
    "Dining Area,Service,Dining Options,Discount Amount,Amount,Tax,Tip,Gratuity,Total,Voided,Paid,"
    "Closed,Duration (Opened to Paid),Order Source"
).split(",")


def test_nine_files_with_entities_and_keys() -> None:
    assert [f.file_name for f in TOAST_FILES] == [
        "OrderDetails.csv", "CheckDetails.csv", "PaymentDetails.csv", "ItemSelectionDetails.csv",
        "ModifiersSelectionDetails.csv", "KitchenTimings.csv", "CashEntries.csv", "AllItemsReport.csv",
        "TimeEntries.csv",
    ]
    assert ENTITIES[0] == "order_details" and "modifiers_selection_details" in ENTITIES
    assert BY_ENTITY["modifiers_selection_details"].natural_key == ("item_selection_id", "modifier_id")
    assert BY_ENTITY["kitchen_timings"].natural_key == ("ticket_id", "station")


def test_default_order_headers_match_toast_order_details() -> None:
    assert BY_ENTITY["order_details"].headers == ORDER_HEADERS


def test_column_names_are_snake_case_and_unique() -> None:
    for toast_file in TOAST_FILES:
        names = toast_file.column_names
        assert len(names) == len(set(names)), toast_file.file_name
        assert all(n == snake_case(n) for n in names), toast_file.file_name


@pytest.mark.parametrize(
    ("header", "expected"),
    [("# of Guests", "number_of_guests"), ("Void?", "void"), ("V/MC/D Fees", "v_mc_d_fees"), ("% Qty (Group)", "pct_qty_group")],
)
def test_snake_case(header: str, expected: str) -> None:
    assert snake_case(header) == expected


def test_reordered_headers_map_by_name() -> None:
    mapping = map_headers(BY_ENTITY["order_details"], list(reversed(ORDER_HEADERS)))
    assert mapping.is_loadable
    assert mapping.targets[0] == "order_source" and mapping.targets[-1] == "location"
    assert not mapping.unknown_headers and not mapping.missing_optional


def test_case_and_whitespace_insensitive_with_bom() -> None:
    headers = ["\ufeffLOCATION", "  order   id ", *ORDER_HEADERS[2:]]
    mapping = map_headers(BY_ENTITY["order_details"], headers)
    assert mapping.targets[:2] == ("location", "order_id")
    assert mapping.is_loadable


def test_documented_aliases_map_to_one_column() -> None:
    items = BY_ENTITY["item_selection_details"]
    with_alias = ["Discnt" if h == "Discount" else h for h in items.headers]
    assert map_headers(items, with_alias).targets == map_headers(items, items.headers).targets
    modifiers = BY_ENTITY["modifiers_selection_details"]
    typo = ["Sales Cateogry" if h == "Sales Category" else h for h in modifiers.headers]
    assert "sales_category" in map_headers(modifiers, typo).targets


def test_unknown_columns_kept_as_extra_and_reported() -> None:
    mapping = map_headers(BY_ENTITY["order_details"], [*ORDER_HEADERS, "Loyalty Tier"])
    assert mapping.unknown_headers == ("Loyalty Tier",)
    assert mapping.extra_targets == [("_x_loyalty_tier", "Loyalty Tier")]
    assert mapping.is_loadable


def test_missing_optional_column_loads_missing_required_rejects() -> None:
    without_server = [h for h in ORDER_HEADERS if h != "Server"]
    mapping = map_headers(BY_ENTITY["order_details"], without_server)
    assert mapping.is_loadable and mapping.missing_optional == ("Server",)
    without_id = [h for h in ORDER_HEADERS if h != "Order Id"]
    mapping = map_headers(BY_ENTITY["order_details"], without_id)
    assert not mapping.is_loadable and mapping.missing_required == ("Order Id",)


def test_duplicated_header_is_not_loadable() -> None:
    mapping = map_headers(BY_ENTITY["order_details"], [*ORDER_HEADERS, "Total"])
    assert mapping.duplicate_headers == ("Total",)
    assert not mapping.is_loadable
