"""The seeded demo generator: determinism, tree layout, traps, and exact cross-file consistency.

Every consistency check recomputes from the CSV files with the `csv` module and `Decimal`,
independently of the generator's own arithmetic, and maps columns by header name (one
location's files have reordered columns).
"""

import csv
import io
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from toast_assets.contract import TOAST_FILES, LogicalType
from toast_assets.demo import clock
from toast_assets.demo.generator import GenerationSummary, generate, location_catalog, main, trap_plan

START = date(2026, 10, 5)  # a Monday: five dates reach Friday, the busiest weekday
END = date(2026, 10, 9)
LOCATIONS = 3
FILE_NAMES = [f.file_name for f in TOAST_FILES]
ID_RE = re.compile(r"^[1-9]\d{18}$")
MONEY_RE = re.compile(r"^-?\d+\.\d{2}$")

# Row-id columns: one entity each, unique across the whole tree.
ROW_IDS = {
    "OrderDetails.csv": "Order Id",
    "CheckDetails.csv": "Check Id",
    "PaymentDetails.csv": "Payment Id",
    "ItemSelectionDetails.csv": "Item Selection Id",
    "ModifiersSelectionDetails.csv": "Modifier Id",
    "KitchenTimings.csv": "ID",
    "CashEntries.csv": "Entry Id",
    "TimeEntries.csv": "Id",
}
# strptime equivalents of the generator's styles (strptime accepts unpadded numbers).
STRPTIME = {
    clock.SHORT: "%m/%d/%y %I:%M %p",
    clock.PADDED_SECONDS: clock.PADDED_SECONDS,
    clock.H24_SECONDS: clock.H24_SECONDS,
    clock.ISO: clock.ISO,
}


def read_rows(path: Path) -> list[dict[str, str]]:
    """A CSV file as dicts keyed by header (BOM tolerated)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def money(text: str) -> Decimal:
    """A money cell as an exact Decimal; it must have exactly two decimals and no `$`."""
    assert MONEY_RE.match(text), f"not 2-decimal money: {text!r}"
    return Decimal(text)


def date_folders(root: Path, export_id: str) -> list[Path]:
    """A location's business-date folders, skipping stray entries such as `not_a_date`."""
    return sorted(p for p in (root / export_id).iterdir() if p.is_dir() and p.name.isdigit())


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationSummary]:
    """3 locations x Monday..Friday with every trap, default volumes."""
    root = tmp_path_factory.mktemp("toast")
    return root, generate(root, START, END, LOCATIONS, seed=7)


@pytest.fixture(scope="module")
def days(tree: tuple[Path, GenerationSummary]) -> dict[tuple[str, str], dict[str, list[dict[str, str]]]]:
    """Every location-day that has data: (export id, YYYYMMDD) -> file name -> rows."""
    root, summary = tree
    loaded = {}
    for export_id in summary.export_ids:
        for folder in date_folders(root, export_id):
            files = {name: read_rows(folder / name) for name in FILE_NAMES if (folder / name).exists()}
            if files["OrderDetails.csv"]:
                loaded[(export_id, folder.name)] = files
    return loaded


# -- determinism ---------------------------------------------------------------------------------


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under root by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    args = (date(2026, 10, 9), date(2026, 10, 10), 2)
    generate(tmp_path / "a", *args, seed=11, orders_per_day=(40, 60))
    generate(tmp_path / "b", *args, seed=11, orders_per_day=(40, 60))
    generate(tmp_path / "c", *args, seed=12, orders_per_day=(40, 60))
    first, second, other = (tree_bytes(tmp_path / n) for n in "abc")
    assert first == second
    assert first != other


def test_location_day_does_not_depend_on_other_locations_or_dates(
    tmp_path: Path, tree: tuple[Path, GenerationSummary]
) -> None:
    root, summary = tree
    export_id, day = summary.export_ids[0], START + timedelta(days=1)
    generate(tmp_path, day, day, 1, seed=7)
    folder = f"{export_id}/{day:%Y%m%d}"
    assert tree_bytes(tmp_path / folder) == tree_bytes(root / folder)


# -- layout and traps ----------------------------------------------------------------------------


def test_tree_layout_and_summary(tree: tuple[Path, GenerationSummary]) -> None:
    root, summary = tree
    plan = summary.plan
    dates = [START + timedelta(days=i) for i in range((END - START).days + 1)]
    assert summary.dates == dates
    assert len(summary.export_ids) == LOCATIONS == len(set(summary.export_ids))
    assert all(re.fullmatch(r"\d{6}", e) for e in summary.export_ids)
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == sorted(summary.export_ids)

    files = rows = size = 0
    for export_id in summary.export_ids:
        assert [p.name for p in date_folders(root, export_id)] == [f"{d:%Y%m%d}" for d in dates]
        for day in dates:
            present = sorted(p.name for p in (root / export_id / f"{day:%Y%m%d}").iterdir())
            expected = [n for n in FILE_NAMES if plan.missing_file != (export_id, day, n)]
            assert present == sorted(expected)
            for name in present:
                data = (root / export_id / f"{day:%Y%m%d}" / name).read_bytes()
                assert data.endswith(b"\n") and b"\r" not in data
                files += 1
                size += len(data)
                rows += data.count(b"\n") - 1  # no cell holds a line break: one line per row
    assert (files, rows, size) == (summary.files, summary.rows, summary.bytes)

    # Stray entries real SFTP roots carry.
    assert plan.stray_folder == f"{summary.export_ids[0]}/not_a_date"
    assert (root / plan.stray_folder).is_dir()
    assert (root / "README.txt").is_file() and plan.stray_root_file == "README.txt"


def test_trap_plan_defaults(tree: tuple[Path, GenerationSummary]) -> None:
    _, summary = tree
    ids, dates = summary.export_ids, summary.dates
    plan = summary.plan
    assert plan == trap_plan(ids, dates)
    assert plan.bom_location == ids[0]
    assert plan.reordered_location == ids[1]
    assert plan.extra_column_header == "Loyalty Tier"
    assert plan.closed_day == (ids[-1], dates[2])
    assert plan.missing_file == (ids[0], dates[4], "KitchenTimings.csv")
    short = trap_plan(ids[:1], dates[:2])
    assert short.closed_day is None and short.missing_file is None and short.reordered_location is None


def test_headers_match_contract_except_the_drifting_location(tree: tuple[Path, GenerationSummary]) -> None:
    root, summary = tree
    plan = summary.plan
    for export_id in summary.export_ids:
        for folder in date_folders(root, export_id):
            for toast_file in TOAST_FILES:
                path = folder / toast_file.file_name
                if not path.exists():
                    continue
                with path.open(newline="", encoding="utf-8-sig") as handle:
                    header = next(csv.reader(handle))
                if export_id == plan.reordered_location:
                    assert header == list(plan.reordered_headers[toast_file.file_name])
                    assert sorted(header) == sorted([*toast_file.headers, "Loyalty Tier"])
                    assert header[: len(toast_file.headers)] != toast_file.headers
                else:
                    assert header == toast_file.headers
                assert header == plan.headers_for(export_id, toast_file.file_name)


def test_bom_only_on_first_location_order_details(tree: tuple[Path, GenerationSummary]) -> None:
    root, summary = tree
    for export_id in summary.export_ids:
        for folder in date_folders(root, export_id):
            for path in folder.iterdir():
                has_bom = path.read_bytes().startswith(b"\xef\xbb\xbf")
                assert has_bom == (export_id == summary.plan.bom_location and path.name == "OrderDetails.csv")


def test_closed_day_is_header_only_and_missing_file_is_missing(tree: tuple[Path, GenerationSummary]) -> None:
    root, summary = tree
    export_id, day = summary.plan.closed_day
    folder = root / export_id / f"{day:%Y%m%d}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILE_NAMES)
    for path in folder.iterdir():
        assert path.read_bytes().count(b"\n") == 1, path.name
    export_id, day, name = summary.plan.missing_file
    assert not (root / export_id / f"{day:%Y%m%d}" / name).exists()
    assert (root / export_id / f"{day:%Y%m%d}" / "OrderDetails.csv").exists()


def test_files_are_exactly_what_csv_writer_writes(tree: tuple[Path, GenerationSummary]) -> None:
    """Joined cells must equal csv.writer QUOTE_MINIMAL output byte for byte."""
    root, summary = tree
    for export_id in summary.export_ids:
        folder = date_folders(root, export_id)[0]
        for path in folder.iterdir():
            text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(csv.reader(io.StringIO(text, newline="")))
            assert out.getvalue() == text, path


def test_clean_files_without_traps(tmp_path: Path) -> None:
    summary = generate(tmp_path, START, END, 2, seed=7, traps=False, orders_per_day=(40, 50))
    assert not summary.plan.enabled
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(summary.export_ids)  # no strays
    for export_id in summary.export_ids:
        folders = date_folders(tmp_path, export_id)
        assert len(folders) == len(summary.dates)
        for folder in folders:
            assert sorted(p.name for p in folder.iterdir()) == sorted(FILE_NAMES)
            for toast_file in TOAST_FILES:
                data = (folder / toast_file.file_name).read_bytes()
                assert not data.startswith(b"\xef\xbb\xbf")
                assert data.isascii()
                text = data.decode()
                assert text.split("\n", 1)[0] == ",".join(toast_file.headers)
                if toast_file.file_name == "OrderDetails.csv":
                    rows = list(csv.DictReader(io.StringIO(text)))
                    assert rows  # no closed day
                    # No after-midnight orders: every order opens on the business date.
                    day = datetime.strptime(folder.name, "%Y%m%d").date()
                    assert {datetime.strptime(r["Opened"], STRPTIME[clock.SHORT]).date() for r in rows} == {day}


# -- consistency ---------------------------------------------------------------------------------


def test_order_totals_add_up(days: dict) -> None:
    for files in days.values():
        for order in files["OrderDetails.csv"]:
            total = money(order["Amount"]) + money(order["Tax"]) + money(order["Tip"]) + money(order["Gratuity"])
            assert money(order["Total"]) == total, order["Order Id"]
            assert money(order["Discount Amount"]) >= 0


def test_order_amount_is_the_sum_of_sold_items(days: dict) -> None:
    for files in days.values():
        net: dict[str, Decimal] = defaultdict(Decimal)
        discount: dict[str, Decimal] = defaultdict(Decimal)
        for item in files["ItemSelectionDetails.csv"]:
            assert money(item["Net Price"]) == money(item["Gross Price"]) - money(item["Discount"])
            assert item["Void?"] in ("true", "false") and item["Deferred"] in ("true", "false")
            assert re.fullmatch(r"\d+\.0", item["Qty"])
            assert re.fullmatch(r"\d+\.\d{4,8}", item["Tax"])
            if item["Void?"] == "false" and item["Deferred"] == "false":
                net[item["Order Id"]] += Decimal(item["Net Price"])
                discount[item["Order Id"]] += Decimal(item["Discount"])
        for order in files["OrderDetails.csv"]:
            assert money(order["Amount"]) == net[order["Order Id"]], order["Order Id"]
            assert money(order["Discount Amount"]) == discount[order["Order Id"]]


def test_captured_payments_add_up_to_order_total(days: dict) -> None:
    statuses: Counter = Counter()
    for files in days.values():
        captured: dict[str, Decimal] = defaultdict(Decimal)
        for payment in files["PaymentDetails.csv"]:
            statuses[payment["Status"]] += 1
            parts = money(payment["Amount"]) + money(payment["Tip"]) + money(payment["Gratuity"])
            assert money(payment["Total"]) == parts
            if payment["Type"] == "Credit":
                assert payment["Card Type"] in ("VISA", "MASTERCARD", "AMEX")
            else:
                assert payment["Type"] in ("Cash", "Gift Card", "Other") and payment["Card Type"] == ""
            if payment["Status"] == "CAPTURED":
                captured[payment["Order Id"]] += Decimal(payment["Total"])
        for order in files["OrderDetails.csv"]:
            assert captured[order["Order Id"]] == money(order["Total"]), order["Order Id"]
    assert statuses["CAPTURED"] > 0.9 * sum(statuses.values())


def test_references_between_files(days: dict) -> None:
    for files in days.values():
        orders = {o["Order Id"] for o in files["OrderDetails.csv"]}
        checks = {c["Check Id"] for c in files["CheckDetails.csv"]}
        check_numbers = {c["Check #"] for c in files["CheckDetails.csv"]}
        items = {i["Item Selection Id"]: i for i in files["ItemSelectionDetails.csv"]}
        for name in ("ItemSelectionDetails.csv", "PaymentDetails.csv", "ModifiersSelectionDetails.csv"):
            for row in files[name]:
                assert row["Order Id"] in orders and row["Check Id"] in checks, name
        assert {i["Check Id"] for i in items.values()} == checks  # every check has items
        for modifier in files["ModifiersSelectionDetails.csv"]:
            parent = items[modifier["Parent Menu Selection Item ID"]]
            assert modifier["Item Selection Id"] == parent["Item Selection Id"]
            assert (modifier["Order Id"], modifier["Check Id"]) == (parent["Order Id"], parent["Check Id"])
            assert modifier["Parent Menu Selection"] == parent["Menu Item"]
            assert modifier["Void?"] == parent["Void?"]
        for ticket in files.get("KitchenTimings.csv", []):
            assert ticket["Check #"] in check_numbers
        for order in files["OrderDetails.csv"]:
            assert set(order["Checks"].split(", ")) <= check_numbers


def test_check_totals_add_up_to_orders(days: dict) -> None:
    for files in days.values():
        check_totals = {c["Check Id"]: money(c["Total"]) for c in files["CheckDetails.csv"]}
        by_order: dict[str, Decimal] = defaultdict(Decimal)
        seen: set[str] = set()
        for item in files["ItemSelectionDetails.csv"]:
            if item["Check Id"] not in seen:
                seen.add(item["Check Id"])
                by_order[item["Order Id"]] += check_totals[item["Check Id"]]
        for order in files["OrderDetails.csv"]:
            assert by_order[order["Order Id"]] == money(order["Total"])


def test_product_mix_agrees_with_item_selections(days: dict) -> None:
    for files in days.values():
        sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 6)
        orders: dict[str, set[str]] = defaultdict(set)
        for item in files["ItemSelectionDetails.csv"]:
            qty, gross = Decimal(item["Qty"]), Decimal(item["Gross Price"])
            s = sums[item["Item Id"]]
            if item["Void?"] == "true":
                s[4] += qty
                s[5] += gross
            else:  # deferred gift cards are part of the product mix
                s[0] += qty
                s[1] += gross
                s[2] += Decimal(item["Discount"])
                s[3] += Decimal(item["Net Price"])
                orders[item["Item Id"]].add(item["Order Id"])
        mix = files["AllItemsReport.csv"]
        assert 150 <= len(mix) <= 500
        assert len({(r["Master ID"], r["Item ID"]) for r in mix}) == len(mix)
        assert set(sums) <= {r["Item ID"] for r in mix}
        zero_rows = 0
        for row in mix:
            qty, gross, discount, net, void_qty, void_amount = sums[row["Item ID"]]
            assert Decimal(row["Item Qty"]) == qty
            assert money(row["Gross Amount"]) == gross
            assert money(row["Discount Amount"]) == discount
            assert money(row["Net Amount"]) == net
            assert Decimal(row["Void Qty"]) == void_qty and money(row["Void Amount"]) == void_amount
            assert Decimal(row["Item Qty (incl voids)"]) == qty + void_qty
            assert money(row["Gross Amount (incl voids)"]) == gross + void_amount
            assert int(row["# Orders"]) == len(orders[row["Item ID"]])
            for header in row:
                if header.startswith("%"):
                    assert Decimal(0) <= Decimal(row[header]) <= Decimal(100)
            zero_rows += qty + void_qty == 0
        assert zero_rows > 0
        assert sum(Decimal(r["% Qty (All)"]) for r in mix) == pytest.approx(100, abs=1)


def test_ids_are_19_digits_and_unique_across_the_tree(days: dict) -> None:
    seen: dict[str, str] = {}
    for files in days.values():
        for name, column in ROW_IDS.items():
            for row in files.get(name, []):
                value = row[column]
                assert ID_RE.match(value), (name, column, value)
                assert value not in seen, f"{value} in {name} and {seen.get(value)}"
                seen[value] = name
        for toast_file in TOAST_FILES:
            id_columns = [c.header for c in toast_file.columns if c.type == LogicalType.ID]
            for row in files.get(toast_file.file_name, []):
                for column in id_columns:
                    assert row[column] == "" or ID_RE.match(row[column]), (toast_file.file_name, column)


def test_voids_deferred_discounts_and_after_midnight_orders_exist(days: dict) -> None:
    counts: Counter = Counter()
    for (_, folder), files in days.items():
        business_date = datetime.strptime(folder, "%Y%m%d").date()
        voided = {o["Order Id"] for o in files["OrderDetails.csv"] if o["Voided"] == "true"}
        counts["orders"] += len(files["OrderDetails.csv"])
        counts["voided orders"] += len(voided)
        for order in files["OrderDetails.csv"]:
            assert order["Voided"] in ("true", "false")
            opened = datetime.strptime(order["Opened"], STRPTIME[clock.SHORT])
            if opened.date() != business_date:
                assert opened.date() == business_date + timedelta(days=1) and opened.hour < 2
                counts["after midnight"] += 1
        for item in files["ItemSelectionDetails.csv"]:
            counts["items"] += 1
            if item["Order Id"] in voided:
                assert item["Void?"] == "true"
            elif item["Void?"] == "true":
                counts["voided items in standing orders"] += 1
            if item["Deferred"] == "true":
                assert item["Menu Item"].startswith("Gift Card $")
                counts["deferred"] += 1
            counts["discounted"] += Decimal(item["Discount"]) > 0
        actions = {e["Action"] for e in files["CashEntries.csv"]}
        assert actions & {"CLOSE_OUT_EXACT", "CLOSE_OUT_OVERAGE", "CLOSE_OUT_SHORTAGE"}
    assert 0.005 < counts["voided orders"] / counts["orders"] < 0.05
    assert counts["voided items in standing orders"] > 0 and counts["deferred"] > 0
    assert 0.05 < counts["discounted"] / counts["items"] < 0.15
    assert counts["after midnight"] >= len(days)  # at least one per open location-day


def test_realistic_volumes(days: dict) -> None:
    for files in days.values():
        orders = len(files["OrderDetails.csv"])
        assert 40 <= orders <= 300
        assert 1.05 < len(files["CheckDetails.csv"]) / orders < 1.4
        assert 1.05 < len(files["PaymentDetails.csv"]) / orders < 1.5
        assert 3 <= len(files["ItemSelectionDetails.csv"]) / orders <= 4.2
        net = sum(Decimal(o["Amount"]) for o in files["OrderDetails.csv"])
        tips = sum(Decimal(o["Tip"]) for o in files["OrderDetails.csv"])
        assert 20 <= net / len(files["CheckDetails.csv"]) <= 45
        assert Decimal("0.13") <= tips / net <= Decimal("0.23")
        for entry in files["TimeEntries.csv"]:
            assert money(entry["Total Pay"]) == money(entry["Regular Pay"]) + money(entry["Overtime Pay"])
            payable = Decimal(entry["Total Hours"]) - Decimal(entry["Unpaid Break Time"])
            assert Decimal(entry["Payable Hours"]) == payable
    friday = [len(f["OrderDetails.csv"]) for (_, d), f in days.items() if d == f"{END:%Y%m%d}"]
    monday = [len(f["OrderDetails.csv"]) for (_, d), f in days.items() if d == f"{START:%Y%m%d}"]
    assert min(friday) > max(monday)


def test_timestamps_follow_each_files_style(days: dict, tree: tuple[Path, GenerationSummary]) -> None:
    styles = tree[1].plan.timestamp_styles
    assert styles["OrderDetails.csv"] == clock.SHORT and styles["TimeEntries.csv"] == clock.ISO
    for files in list(days.values())[:4]:
        for toast_file in TOAST_FILES:
            columns = [c.header for c in toast_file.columns if c.type == LogicalType.TIMESTAMP]
            for row in files.get(toast_file.file_name, []):
                for column in columns:
                    if row[column]:
                        datetime.strptime(row[column], STRPTIME[styles[toast_file.file_name]])
                        if styles[toast_file.file_name] == clock.SHORT:
                            assert not re.search(r"(^0|/0| 0)", row[column])  # no zero padding
        for check in files["CheckDetails.csv"]:
            datetime.strptime(check["Opened Date"] + " " + check["Opened Time"], "%m/%d/%y %I:%M %p")
            assert re.fullmatch(r"\d\d/\d\d/\d\d", check["Opened Date"])


def test_non_ascii_names_and_quoted_commas(tree: tuple[Path, GenerationSummary], days: dict) -> None:
    root, summary = tree
    export_id = summary.export_ids[0]
    menu_items = {i["Menu Item"] for (e, _), f in days.items() if e == export_id for i in f["ItemSelectionDetails.csv"]}
    assert menu_items & {"Crème Brûlée", "Jalapeño Poppers", "Café au Lait"}
    order_text = "".join((f / "OrderDetails.csv").read_text("utf-8-sig") for f in date_folders(root, export_id))
    assert '"Bar, Bar"' in order_text  # Dining Options of a bar order split into two checks
    assert re.search(r'^[^,]*,[^,]*,[^,]*,"\d+, \d+",', order_text, re.MULTILINE)  # Checks "12, 13"
    tab_names = [o["Tab Names"] for (e, _), f in days.items() if e == export_id for o in f["OrderDetails.csv"]]
    assert any("," in t for t in tab_names)  # "García, José"


# -- catalog and command line --------------------------------------------------------------------


def test_location_catalog(tree: tuple[Path, GenerationSummary]) -> None:
    _, summary = tree
    catalog = location_catalog(LOCATIONS, seed=7)
    assert [row["export_id"] for row in catalog] == summary.export_ids
    for row in catalog:
        assert {"export_id", "location_name", "time_zone", "region", "opened_on"} <= set(row)
        ZoneInfo(row["time_zone"])
        assert row["opened_on"] < date(2024, 1, 1)
    bigger = location_catalog(40, seed=7)
    assert bigger[:LOCATIONS] == catalog  # adding locations keeps the existing ones
    assert len({row["export_id"] for row in bigger}) == len({row["location_name"] for row in bigger}) == 40
    assert location_catalog(LOCATIONS, seed=8) != catalog


def test_cli_writes_tree_and_prints_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--out", str(tmp_path), "--start", "2026-10-01", "--days", "2", "--locations", "2"]
    code = main([*args, "--orders-per-day", "40", "45"])
    assert code == 0
    output = capsys.readouterr().out.strip().splitlines()
    assert len(output) == 1 and "rows" in output[0]
    assert len(list(tmp_path.glob("*/2026100[12]/OrderDetails.csv"))) == 4
    assert main(["--out", str(tmp_path / "x"), "--start", "2026-10-01", "--end", "2026-10-01", "--no-traps"]) == 0
    assert not (tmp_path / "x" / "README.txt").exists()

