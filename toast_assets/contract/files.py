"""The Toast nightly export contract: one declarative description of every CSV file.

Everything that needs to know a Toast column reads it from here: header mapping, the raw
table schemas, the dbt source YAML, Pandera schemas and the demo data generator. Headers
are listed in Toast's default order (the order the demo generator writes them in).
"""

import enum
import re
from dataclasses import dataclass, field


class LogicalType(str, enum.Enum):
    """What a column holds, independent of how the raw layer stores it (always text)."""

    ID = "id"  # 16-19 digit integer identifiers: kept as text, never through a float
    TEXT = "text"
    INT = "int"
    DECIMAL = "decimal"  # money, quantities, percentages: exact decimals
    BOOL = "bool"  # lowercase true/false
    TIMESTAMP = "timestamp"  # local wall clock, several formats
    DATE = "date"
    TIME = "time"
    DURATION = "duration"  # HH:MM:SS or prose ("1 hour, 2 minutes and 6 seconds")


@dataclass(frozen=True)
class Column:
    header: str
    type: LogicalType
    name: str = ""  # snake_case column name; derived from the header when empty
    aliases: tuple[str, ...] = ()  # other spellings real files or the documentation use
    required: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", snake_case(self.header))

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.header, *self.aliases)


@dataclass(frozen=True)
class ToastFile:
    file_name: str
    entity: str
    description: str
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...]  # column names, unique per location and business date
    optional_file: bool = False  # only delivered where the group enabled it

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    @property
    def required_columns(self) -> list[Column]:
        return [c for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.file_name} has no column {name!r}")


_NON_WORD = re.compile(r"[^0-9a-z]+")


def snake_case(header: str) -> str:
    """`# of Guests` -> `number_of_guests`, `Void?` -> `void`, `V/MC/D Fees` -> `v_mc_d_fees`."""
    text = header.strip().lower().replace("#", " number ").replace("%", " pct ")
    return _NON_WORD.sub("_", text).strip("_")


I, T, N, D, B = LogicalType.ID, LogicalType.TEXT, LogicalType.INT, LogicalType.DECIMAL, LogicalType.BOOL
TS, DT, TM, DUR = LogicalType.TIMESTAMP, LogicalType.DATE, LogicalType.TIME, LogicalType.DURATION


def _c(header: str, type_: LogicalType, name: str = "", *aliases: str, required: bool = False, description: str = "") -> Column:
    return Column(header=header, type=type_, name=name, aliases=tuple(aliases), required=required, description=description)


ORDER_DETAILS = ToastFile(
    file_name="OrderDetails.csv",
    entity="order_details",
    description="One row per order: amounts, tax, tips, gratuity and order status.",
    natural_key=("order_id",),
    columns=(
        _c("Location", T, description="Location display name as Toast prints it."),
        _c("Order Id", I, required=True, description="Toast order identifier (19 digits, text)."),
        _c("Order #", N, "order_number", description="Short per-day order number."),
        _c("Checks", T, description="Check numbers of the order, comma-joined."),
        _c("Opened", TS, required=True, description="When the order was opened (local time)."),
        _c("# of Guests", N, "guest_count"),
        _c("Tab Names", T),
        _c("Server", T),
        _c("Table", T, "table_name"),
        _c("Revenue Center", T),
        _c("Dining Area", T),
        _c("Service", T, description="Daypart (Lunch, Dinner, ...)."),
        _c("Dining Options", T),
        _c("Discount Amount", D),
        _c("Amount", D, required=True, description="Order net amount."),
        _c("Tax", D),
        _c("Tip", D),
        _c("Gratuity", D),
        _c("Total", D, required=True, description="Amount + Tax + Tip + Gratuity."),
        _c("Voided", B),
        _c("Paid", TS),
        _c("Closed", TS),
        _c("Duration (Opened to Paid)", DUR, "duration_opened_to_paid"),
        _c("Order Source", T),
    ),
)

CHECK_DETAILS = ToastFile(
    file_name="CheckDetails.csv",
    entity="check_details",
    description="One row per check, with customer details; joins to orders through payments or items.",
    natural_key=("check_id",),
    columns=(
        _c("Customer Id", I),
        _c("Customer", T),
        _c("Customer Phone", T),
        _c("Customer Email", T),
        _c("Location Code", T),
        _c("Opened Date", DT, required=True),
        _c("Opened Time", TM),
        _c("Item Description", T),
        _c("Server", T),
        _c("Tax", D),
        _c("Tender", T),
        _c("Check Id", I, required=True),
        _c("Check #", N, "check_number"),
        _c("Total", D, required=True),
        _c("Customer Family", T),
        _c("Table Size", N),
        _c("Discount", D, "discount_amount"),
        _c("Reason of Discount", T, "discount_reason"),
        _c("Link", T),
    ),
)

PAYMENT_DETAILS = ToastFile(
    file_name="PaymentDetails.csv",
    entity="payment_details",
    description="One row per payment, with refunds and voids.",
    natural_key=("payment_id",),
    columns=(
        _c("Location", T),
        _c("Payment Id", I, required=True),
        _c("Order Id", I, required=True),
        _c("Order #", N, "order_number"),
        _c("Paid Date", TS),
        _c("Order Date", TS),
        _c("Check Id", I),
        _c("Check #", N, "check_number"),
        _c("Tab Name", T),
        _c("Server", T),
        _c("Table", T, "table_name"),
        _c("Dining Area", T),
        _c("Service", T),
        _c("Dining Option", T),
        _c("House Acct #", T, "house_account_number"),
        _c("Amount", D, required=True),
        _c("Tip", D),
        _c("Gratuity", D),
        _c("Total", D),
        _c("Swiped Card Amount", D),
        _c("Keyed Card Amount", D),
        _c("Amount Tendered", D),
        _c("Refunded", T),
        _c("Refund Date", TS),
        _c("Refund Amount", D),
        _c("Refund Tip Amount", D),
        _c("Void User", T),
        _c("Void Approver", T),
        _c("Void Date", TS),
        _c("Status", T),
        _c("Type", T, "payment_type"),
        _c("Cash Drawer", T),
        _c("Card Type", T),
        _c("Other Type", T),
        _c("Email", T),
        _c("Phone", T),
        _c("Last 4 Card Digits", T),
        _c("V/MC/D Fees", D, "card_fees"),
        _c("Room Info", T),
        _c("Receipt", T),
        _c("Source", T),
        _c("Last 4 Gift Card Digits", T),
        _c("First 5 Gift Card Digits", T),
    ),
)

ITEM_SELECTION_DETAILS = ToastFile(
    file_name="ItemSelectionDetails.csv",
    entity="item_selection_details",
    description="One row per menu item sold: prices, discounts, voids and deferred (gift card) items.",
    natural_key=("item_selection_id",),
    columns=(
        _c("Location", T),
        _c("Order Id", I, required=True),
        _c("Order #", N, "order_number"),
        _c("Sent Date", TS),
        _c("Order Date", TS),
        _c("Check Id", I),
        _c("Server", T),
        _c("Table", T, "table_name"),
        _c("Dining Area", T),
        _c("Service", T),
        _c("Dining Option", T),
        _c("Item Selection Id", I, required=True),
        _c("Item Id", I),
        _c("Master Id", I),
        _c("SKU", T),
        _c("PLU", T),
        _c("Menu Item", T, required=True),
        _c("Menu Subgroup(s)", T, "menu_subgroups"),
        _c("Menu Group", T),
        _c("Menu", T),
        _c("Sales Category", T),
        _c("Gross Price", D),
        _c("Discount", D, "discount", "Discnt"),
        _c("Net Price", D, required=True),
        _c("Qty", D, "quantity"),
        _c("Tax", D),
        _c("Void?", B, "voided"),
        _c("Deferred", B),
        _c("Tax Exempt", B),
        _c("Tax Inclusion Option", T),
        _c("Dining Option Tax", T),
        _c("Tab Name", T),
    ),
)

MODIFIERS_SELECTION_DETAILS = ToastFile(
    file_name="ModifiersSelectionDetails.csv",
    entity="modifiers_selection_details",
    description="One row per modifier applied to an item selection.",
    natural_key=("item_selection_id", "modifier_id"),
    columns=(
        _c("Location", T),
        _c("Order Id", I, required=True),
        _c("Order #", N, "order_number"),
        _c("Sent Date", TS),
        _c("Order Date", TS),
        _c("Check Id", I),
        _c("Server", T),
        _c("Table", T, "table_name"),
        _c("Dining Area", T),
        _c("Service", T),
        _c("Dining Option", T),
        _c("Item Selection Id", I, required=True),
        _c("Modifier Id", I, required=True),
        _c("Master Id", I),
        _c("Modifier SKU", T),
        _c("Modifier", T),
        _c("Option Group ID", I),
        _c("Option Group Name", T),
        _c("Parent Menu Selection Item ID", I),
        _c("Parent Menu Selection", T),
        _c("Sales Category", T, "sales_category", "Sales Cateogry"),
        _c("Gross Price", D),
        _c("Discount", D, "discount", "Discnt"),
        _c("Net Price", D),
        _c("Qty", D, "quantity"),
        _c("Void?", B, "voided"),
        _c("Void Reason ID", I),
        _c("Void Reason", T),
    ),
)

KITCHEN_TIMINGS = ToastFile(
    file_name="KitchenTimings.csv",
    entity="kitchen_timings",
    description="One row per kitchen ticket per station: fired and fulfilled times.",
    natural_key=("ticket_id", "station"),
    columns=(
        _c("Location", T),
        _c("ID", I, "ticket_id", required=True),
        _c("Server", T),
        _c("Check #", N, "check_number"),
        _c("Table", T, "table_name"),
        _c("Check Opened", TS),
        _c("Station", T, required=True),
        _c("Expediter Level", T),
        _c("Fired Date", TS),
        _c("Fulfilled Date", TS),
        _c("Fulfillment Time", DUR),
        _c("Fulfilled By", T),
    ),
)

CASH_ENTRIES = ToastFile(
    file_name="CashEntries.csv",
    entity="cash_entries",
    description="One row per cash-drawer event: collections, pay-outs, no-sales and close-outs.",
    natural_key=("entry_id",),
    columns=(
        _c("Location", T),
        _c("Entry Id", I, required=True),
        _c("Created Date", TS),
        _c("Action", T, required=True),
        _c("Amount", D),
        _c("Cash Drawer", T),
        _c("Payout Reason", T),
        _c("No Sale Reason", T),
        _c("Comment", T),
        _c("Employee", T),
        _c("Employee 2", T),
    ),
)

ALL_ITEMS_REPORT = ToastFile(
    file_name="AllItemsReport.csv",
    entity="all_items_report",
    description="Product mix: one row per menu item per day, zero-sales items included.",
    natural_key=("master_id", "item_id"),
    columns=(
        _c("Master ID", I, required=True),
        _c("Item ID", I, required=True),
        _c("Parent ID", I),
        _c("Menu Name", T),
        _c("Menu Group", T),
        _c("Subgroup", T),
        _c("Menu Item", T, required=True),
        _c("Tags", T),
        _c("Avg Price", D),
        _c("Item Qty (incl voids)", D, "item_qty_incl_voids"),
        _c("% of Ttl Qty (incl voids)", D, "pct_of_total_qty_incl_voids"),
        _c("Gross Amount (incl voids)", D, "gross_amount_incl_voids"),
        _c("% of Ttl Amt (incl voids)", D, "pct_of_total_amount_incl_voids"),
        _c("Item Qty", D),
        _c("Gross Amount", D),
        _c("Void Qty", D),
        _c("Void Amount", D),
        _c("Discount Amount", D),
        _c("Net Amount", D, required=True),
        _c("# Orders", N, "orders_count"),
        _c("% of Ttl # Orders", D, "pct_of_total_orders"),
        _c("% Qty (Group)", D, "pct_qty_group"),
        _c("% Qty (Menu)", D, "pct_qty_menu"),
        _c("% Qty (All)", D, "pct_qty_all"),
        _c("% Net Amt (Group)", D, "pct_net_amount_group"),
        _c("% Net Amt (Menu)", D, "pct_net_amount_menu"),
        _c("% Net Amt (All)", D, "pct_net_amount_all"),
    ),
)

TIME_ENTRIES = ToastFile(
    file_name="TimeEntries.csv",
    entity="time_entries",
    description="Labor: one row per shift, with hours, tips and pay.",
    natural_key=("time_entry_id",),
    optional_file=True,
    columns=(
        _c("Location", T),
        _c("Location Code", T),
        _c("Id", I, "time_entry_id", required=True),
        _c("GUID", T, "time_entry_guid"),
        _c("Employee Id", I),
        _c("Employee GUID", T),
        _c("Employee External Id", T),
        _c("Employee", T),
        _c("Job Id", I),
        _c("Job GUID", T),
        _c("Job Code", T),
        _c("Job Title", T),
        _c("In Date", TS, required=True),
        _c("Out Date", TS),
        _c("Total Hours", D),
        _c("Unpaid Break Time", D),
        _c("Paid Break Time", D),
        _c("Payable Hours", D),
        _c("Cash Tips Declared", D),
        _c("Non Cash Tips", D),
        _c("Total Gratuity", D),
        _c("Total Tips", D),
        _c("Tips Withheld", D),
        _c("Wage", D),
        _c("Regular Hours", D),
        _c("Overtime Hours", D),
        _c("Regular Pay", D),
        _c("Overtime Pay", D),
        _c("Total Pay", D),
    ),
)

TOAST_FILES: tuple[ToastFile, ...] = (
    ORDER_DETAILS,
    CHECK_DETAILS,
    PAYMENT_DETAILS,
    ITEM_SELECTION_DETAILS,
    MODIFIERS_SELECTION_DETAILS,
    KITCHEN_TIMINGS,
    CASH_ENTRIES,
    ALL_ITEMS_REPORT,
    TIME_ENTRIES,
)

ENTITIES: tuple[str, ...] = tuple(f.entity for f in TOAST_FILES)
BY_ENTITY: dict[str, ToastFile] = {f.entity: f for f in TOAST_FILES}
BY_FILE_NAME: dict[str, ToastFile] = {f.file_name.lower(): f for f in TOAST_FILES}

# Lineage columns every raw table carries after the source columns.
EXTRA_COLUMN = "_extra"
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_location_id", "text"),
    ("_business_date", "date"),
    ("_source_file", "text"),
    ("_file_sha256", "text"),
    ("_row_number", "int"),
    ("_loaded_at", "timestamp"),
)


def file_for_name(file_name: str) -> ToastFile | None:
    """The contract entry for a delivered file name (case-insensitive), or None.

    Not trimmed: `OrderDetails.csv ` beside `OrderDetails.csv` is another file, and taking it
    for the export would load that location and date twice. It is kept as unrecognized.
    """
    return BY_FILE_NAME.get(file_name.lower())


def _check_contract() -> None:
    for f in TOAST_FILES:
        names = f.column_names
        if len(set(names)) != len(names):
            raise ValueError(f"{f.file_name}: duplicate column names in the contract")
        normalized = [normalize_header(s) for c in f.columns for s in c.spellings]
        if len(set(normalized)) != len(normalized):
            raise ValueError(f"{f.file_name}: two columns share a header spelling")
        missing_key = set(f.natural_key) - set(names)
        if missing_key:
            raise ValueError(f"{f.file_name}: natural key names unknown columns {sorted(missing_key)}")


_SPACES = re.compile(r"\s+")


def normalize_header(header: str) -> str:
    """Case- and whitespace-insensitive form of a header, BOM removed."""
    return _SPACES.sub(" ", header.replace("\ufeff", "").strip()).lower()


_check_contract()
