"""The raw load against real files and a real DuckDB file: drift, quarantine, encodings, replacement.

Files are written by hand here so each trap is visible in the test; expectations are counted
from those bytes with the `csv` module, not read back from the loader's own bookkeeping.
"""

import csv
import io
import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from toast_assets.contract import BY_ENTITY
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.landing.landing import land
from toast_assets.landing.local_source import LocalExportTree
from toast_assets.raw import duckdb_warehouse
from toast_assets.raw.duckdb_warehouse import DuckDBWarehouseResource
from toast_assets.raw.load import WarehouseLoadError, load_raw
from toast_assets.testing import load_raw_from_tree

DAY = date(2026, 10, 8)
ORDERS = BY_ENTITY["order_details"]
ITEMS = BY_ENTITY["item_selection_details"]
BIG_ID = "1300000015734303122"


def order_row(order_id: str, total: str = "24.60", **overrides: str) -> dict[str, str]:
    row = {h: "" for h in ORDERS.headers}
    row.update(
        {"Location": "Café Sur", "Order Id": order_id, "Order #": "1", "Opened": "10/8/26 5:18 PM", "Amount": "20.00",
         "Tax": "1.60", "Tip": "3.00", "Gratuity": "0.00", "Total": total, "Voided": "false", "Dining Options": "Bar, Bar"}
    )
    row.update(overrides)
    return row


def write_csv(path: Path, headers: list[str], rows: list[list[str]], encoding: str = "utf-8", bom: bool = False) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode(encoding))


def day_folder(root: Path, location: str, day: date = DAY) -> Path:
    return root / location / day.strftime("%Y%m%d")


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    return tmp_path / "exports"


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "toast.duckdb"


@pytest.fixture()
def handed_to_checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, pd.DataFrame, bool]]:
    """Each (entity, frame, keys_repeat) the raw load hands the contract checks from now on.

    The checks are the real contract, wrapped to record what they were handed."""
    from toast_assets.quality import contract_schema
    from toast_assets.raw import load

    handed: list[tuple[str, pd.DataFrame, bool]] = []

    class Recording:
        def columns(self, toast_file):  # type: ignore[no-untyped-def]
            return contract_schema.CONTRACT_CHECKS.columns(toast_file)

        def __call__(self, toast_file, frame, *, keys_repeat=True):  # type: ignore[no-untyped-def]
            handed.append((toast_file.entity, frame, keys_repeat))
            return contract_schema.CONTRACT_CHECKS(toast_file, frame, keys_repeat=keys_repeat)

    monkeypatch.setattr(load, "CONTRACT_CHECKS", Recording())
    return handed


def test_reordered_columns_extra_column_bom_and_big_ids(tree: Path, db: Path) -> None:
    headers = list(ORDERS.headers)
    rows = [order_row(f"13000000157343031{i:02d}") for i in range(3)]
    write_csv(day_folder(tree, "185129") / "OrderDetails.csv", headers, [[r[h] for h in headers] for r in rows], bom=True)
    shuffled = list(reversed(headers)) + ["Loyalty Tier"]
    write_csv(
        day_folder(tree, "185130") / "OrderDetails.csv",
        shuffled,
        [[order_row(BIG_ID).get(h, "gold") for h in shuffled]],
    )
    load_raw_from_tree(tree, db, [DAY])

    got = query(db, "SELECT _location_id, order_id, location, dining_options, total, _extra, _row_number FROM toast_raw.order_details ORDER BY 1, 7")
    assert [g[0] for g in got] == ["185129"] * 3 + ["185130"]
    assert got[0][2] == "Café Sur"  # BOM did not leak into the first column, UTF-8 intact
    assert got[-1][1] == BIG_ID  # 19 digits, never through a float
    assert got[-1][3] == "Bar, Bar" and got[-1][4] == "24.60"
    assert got[-1][5] == '{"Loyalty Tier":"gold"}'
    assert [g[6] for g in got[:3]] == [1, 2, 3]
    manifest = query(db, "SELECT location_id, encoding, unknown_headers FROM toast_raw.file_manifest ORDER BY 1")
    assert manifest == [("185129", "utf-8-sig", "[]"), ("185130", "utf-8", '["Loyalty Tier"]')]


def test_ragged_rows_quarantined_with_original_text_and_row_numbers(tree: Path, db: Path) -> None:
    headers = list(ORDERS.headers)
    good = [[order_row(f"{BIG_ID[:-2]}{i:02d}")[h] for h in headers] for i in range(6)]
    good[2][ORDERS.headers.index("Tab Names")] = "Line one\nline two, with comma"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(good[:3])
    buffer.write("short,row\n")  # data row 4
    writer.writerows(good[3:5])
    buffer.write(",".join(good[5]) + ",surplus\n")  # data row 7: one field too many (unquoted)
    path = day_folder(tree, "185129") / "OrderDetails.csv"
    path.parent.mkdir(parents=True)
    path.write_text(buffer.getvalue())

    load_raw_from_tree(tree, db, [DAY])

    loaded = query(db, "SELECT order_id, _row_number, tab_names FROM toast_raw.order_details ORDER BY _row_number")
    assert [r[1] for r in loaded] == [1, 2, 3, 5, 6]
    assert [r[0] for r in loaded] == [good[i][1] for i in (0, 1, 2, 3, 4)]
    assert loaded[2][2] == "Line one\nline two, with comma"
    quarantined = query(db, "SELECT row_number, rule, raw_record, location_id, business_date FROM toast_raw.quarantine ORDER BY 1")
    assert [(q[0], q[1]) for q in quarantined] == [(4, "wrong_field_count"), (7, "wrong_field_count")]
    assert quarantined[0][2] == "short,row"
    assert quarantined[1][2].endswith(",surplus")
    assert quarantined[0][3:] == ("185129", DAY)
    assert query(db, "SELECT source_rows, loaded_rows, quarantined_rows FROM toast_raw.file_manifest") == [(7, 5, 2)]


def test_records_of_megabytes_load_whole_across_the_readers_buffers(tree: Path, db: Path) -> None:
    """Records of 6 MB (DuckDB's own limit is 2 MB a record) load whole from a file larger
    than the CSV reader's buffer, so records straddle its boundaries; the rows around them keep
    their numbers."""
    headers = list(ORDERS.headers)
    rows = [order_row(f"{BIG_ID[:-2]}{i:02d}") for i in range(5)]
    notes = {1: "a" * 6_000_000, 2: "b, " * 2_000_000, 3: "c\n" * 3_000_000}  # plain, commas, line breaks
    for index, text in notes.items():
        rows[index]["Tab Names"] = text
    path = day_folder(tree, "185129") / "OrderDetails.csv"
    write_csv(path, headers, [[r[h] for h in headers] for r in rows])
    assert path.stat().st_size > duckdb_warehouse.CSV_BUFFER_BYTES

    load_raw_from_tree(tree, db, [DAY])

    loaded = query(db, "SELECT _row_number, order_id, tab_names FROM toast_raw.order_details ORDER BY 1")
    assert [(n, order_id) for n, order_id, _ in loaded] == [(i + 1, rows[i]["Order Id"]) for i in range(5)]
    assert [text for _, _, text in loaded[1:4]] == [notes[1], notes[2], notes[3]]
    assert query(db, "SELECT count(*) FROM toast_raw.quarantine") == [(0,)]


def test_row_numbers_stay_right_in_files_scanned_after_a_file_with_rejects(tree: Path, db: Path) -> None:
    """Five locations' order files read in one scan, the first two with records the reader
    rejects: every loaded row carries the record number the csv module gives its order id in
    its own file, and the rejects are quarantined under theirs."""
    headers = list(ORDERS.headers)
    bad_records = {"185120": {2, 5}, "185121": {1}}  # record numbers of the malformed records
    expected: dict[tuple[str, int], str] = {}
    for index, location in enumerate(["185120", "185121", "185122", "185123", "185124"]):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        for number in range(1, 7 + index):
            if number in bad_records.get(location, set()):
                buffer.write(f"short,row,{number}\n")
            else:
                writer.writerow([order_row(f"1300{index}{number:03d}")[h] for h in headers])
            if number == 3:
                buffer.write("\n")  # a blank line is no record for either reader
        path = day_folder(tree, location) / "OrderDetails.csv"
        path.parent.mkdir(parents=True)
        path.write_text(buffer.getvalue())
        records = [row for row in list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))[1:] if row]
        for number, row in enumerate(records, start=1):
            if number not in bad_records.get(location, set()):
                expected[(location, number)] = row[headers.index("Order Id")]

    load_raw_from_tree(tree, db, [DAY])

    loaded = query(db, "SELECT _location_id, _row_number, order_id FROM toast_raw.order_details")
    assert {(location, number): order_id for location, number, order_id in loaded} == expected
    assert len(loaded) == len(expected)
    quarantined = query(db, "SELECT location_id, row_number FROM toast_raw.quarantine")
    assert sorted(quarantined) == sorted((loc, n) for loc, numbers in bad_records.items() for n in numbers)


def test_latin1_file_and_utf8_file_with_a_damaged_row(tree: Path, db: Path) -> None:
    headers = list(ORDERS.headers)
    write_csv(day_folder(tree, "185129") / "OrderDetails.csv", headers, [[order_row(BIG_ID)[h] for h in headers]], encoding="latin-1")
    good = [[order_row(f"{BIG_ID[:-1]}{i}")[h] for h in headers] for i in range(3)]
    text = "\n".join(",".join(csv_quote(v) for v in row) for row in [headers, *good]) + "\n"
    damaged = text.encode("utf-8").replace(b"Caf\xc3\xa9 Sur,1300000015734303121", b"Caf\xe9 Sur,1300000015734303121")
    path = day_folder(tree, "185130") / "OrderDetails.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(damaged)

    load_raw_from_tree(tree, db, [DAY])

    assert query(db, "SELECT location FROM toast_raw.order_details WHERE _location_id = '185129'") == [("Café Sur",)]
    assert query(db, "SELECT count(*) FROM toast_raw.order_details WHERE _location_id = '185130'") == [(2,)]
    quarantined = query(db, "SELECT rule, raw_record, row_number FROM toast_raw.quarantine")
    assert len(quarantined) == 1
    rule, raw, row_number = quarantined[0]
    assert rule == "invalid_encoding" and row_number == 2
    assert raw.startswith("Caf\\xe9 Sur,1300000015734303121")
    assert query(db, "SELECT location_id, encoding FROM toast_raw.file_manifest ORDER BY 1") == [("185129", "latin-1"), ("185130", "utf-8")]


def csv_quote(value: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([value])
    return buffer.getvalue()


def test_header_only_zero_byte_and_bom_only_files_are_empty_not_errors(tree: Path, db: Path) -> None:
    write_csv(day_folder(tree, "185129") / "OrderDetails.csv", list(ORDERS.headers), [])
    (day_folder(tree, "185130")).mkdir(parents=True)
    (day_folder(tree, "185130") / "OrderDetails.csv").write_bytes(b"")
    (day_folder(tree, "185131")).mkdir(parents=True)
    (day_folder(tree, "185131") / "OrderDetails.csv").write_bytes(b"\xef\xbb\xbf")
    load_raw_from_tree(tree, db, [DAY])
    assert query(db, "SELECT count(*) FROM toast_raw.order_details") == [(0,)]
    assert query(db, "SELECT count(*) FROM toast_raw.quarantine") == [(0,)]
    assert query(db, "SELECT location_id, status, source_rows FROM toast_raw.file_manifest ORDER BY 1") == [
        ("185129", "empty", 0), ("185130", "empty", 0), ("185131", "empty", 0)
    ]


def test_missing_required_column_rejects_the_file_into_quarantine(tree: Path, db: Path) -> None:
    headers = [h for h in ITEMS.headers if h != "Item Selection Id"]
    write_csv(day_folder(tree, "185129") / "ItemSelectionDetails.csv", headers, [["x"] * len(headers)] * 2)
    result = load_raw_from_tree(tree, db, [DAY])
    stats = result.for_entity("item_selection_details")[0]
    assert stats.status == "rejected" and "Item Selection Id" in (stats.rejection or "")
    rows = query(db, "SELECT rule, error_message, row_number FROM toast_raw.quarantine ORDER BY row_number")
    assert [r[2] for r in rows] == [1, 2]
    assert rows[0][0] == "file_rejected"
    for needle in ("ItemSelectionDetails.csv", "185129", "2026-10-08", "Item Selection Id"):
        assert needle in rows[0][1]
    assert query(db, "SELECT count(*) FROM toast_raw.item_selection_details") == [(0,)]


def test_reload_replaces_only_its_dates_and_lake_keeps_versions(tree: Path, db: Path, tmp_path: Path) -> None:
    other = date(2026, 10, 9)
    headers = list(ORDERS.headers)
    for day, n in ((DAY, 3), (other, 2)):
        write_csv(day_folder(tree, "185129", day) / "OrderDetails.csv", headers,
                  [[order_row(f"{BIG_ID[:-3]}{day.day}{i:02d}")[h] for h in headers] for i in range(n)])
    lake_root = tmp_path / "lake"
    load_raw_from_tree(tree, db, [DAY, other], lake_root=lake_root)
    load_raw_from_tree(tree, db, [DAY, other], lake_root=lake_root)
    counts = "SELECT _business_date, count(*), count(DISTINCT order_id) FROM toast_raw.order_details GROUP BY 1 ORDER BY 1"
    assert query(db, counts) == [(DAY, 3, 3), (other, 2, 2)]
    before_other = query(db, "SELECT * EXCLUDE (_loaded_at) FROM toast_raw.order_details WHERE _business_date = ? ORDER BY _row_number", [other])

    # A corrected re-delivery of one date: one more order, and a changed total.
    rows = [[order_row(f"{BIG_ID[:-3]}{DAY.day}{i:02d}", total="30.00" if i == 0 else "24.60")[h] for h in headers] for i in range(4)]
    path = day_folder(tree, "185129") / "OrderDetails.csv"
    write_csv(path, headers, rows)
    import os
    os.utime(path, (1_900_000_000, 1_900_000_000))
    load_raw_from_tree(tree, db, [DAY], lake_root=lake_root)

    assert query(db, counts) == [(DAY, 4, 4), (other, 2, 2)]
    assert query(db, "SELECT total FROM toast_raw.order_details WHERE _business_date = ? AND _row_number = 1", [DAY]) == [("30.00",)]
    after_other = query(db, "SELECT * EXCLUDE (_loaded_at) FROM toast_raw.order_details WHERE _business_date = ? ORDER BY _row_number", [other])
    assert after_other == before_other
    versions = list((lake_root / "_versions").rglob("*"))
    assert any(p.is_file() for p in versions), "the first delivery's bytes are kept as a version"


def test_failed_replacement_keeps_the_previous_rows(tree: Path, db: Path, tmp_path: Path) -> None:
    headers = list(ORDERS.headers)
    write_csv(day_folder(tree, "185129") / "OrderDetails.csv", headers, [[order_row(BIG_ID)[h] for h in headers]])
    write_csv(day_folder(tree, "185130") / "OrderDetails.csv", headers, [[order_row(BIG_ID)[h] for h in headers]])
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    warehouse = DuckDBWarehouseResource(database=str(db))
    land(LocalExportTree(tree), lake, [DAY])
    load_raw(lake, warehouse, [DAY], ["order_details"])
    # The lake loses one landed object after its manifest was written: the reload must fail
    # as a whole and leave the date exactly as it was.
    next((tmp_path / "lake").rglob("location=185130/OrderDetails.csv")).unlink()
    with pytest.raises(Exception, match="185130"):
        load_raw(lake, warehouse, [DAY], ["order_details"])
    assert query(db, "SELECT _location_id FROM toast_raw.order_details ORDER BY 1") == [("185129",), ("185130",)]


@pytest.mark.parametrize("repeats", [True, False], ids=["keys-repeat", "no-repeats"])
def test_contract_checks_in_small_frames_find_every_failing_row(
    tree: Path, db: Path, monkeypatch: pytest.MonkeyPatch, repeats: bool
) -> None:
    """The contract checks stream the run's rows in frames: with frames of four rows, streamed
    two at a time, every repeated order id (found only when its location-day is in one frame)
    and every bad amount is quarantined under its own row, and the other rows are loaded.

    Expectations are computed from the written rows: an order id seen before in the same file
    repeats its natural key; a total that is not a decimal breaks `decimal_parses`."""
    from toast_assets.raw import duckdb_warehouse

    monkeypatch.setattr(duckdb_warehouse, "CHECK_BATCH_ROWS", 4)
    monkeypatch.setattr(duckdb_warehouse, "STREAM_ROWS", 2)
    headers = list(ORDERS.headers)
    days = [DAY, date(2026, 10, 9)]
    # Per location-day: the order ids and totals written, in file order. A repeat sits four
    # rows after its first occurrence, so a frame cut inside the file would separate the two.
    files = {
        ("185120", days[0]): [("1", "24.60"), ("2", "24.60"), ("3", "24.60"), ("4", "x"), ("5", "24.60"), ("3", "24.60")],
        ("185120", days[1]): [("1", "24.60"), ("2", "2,4"), ("1", "24.60")],
        ("185121", days[0]): [("3", "24.60"), ("6", "24.60"), ("7", "24.60"), ("8", "24.60"), ("9", "24.60"), ("6", "24.60"), ("10", "1.2.3")],
        ("185122", days[1]): [("3", "24.60")],
    }
    if not repeats:
        files = {where: [(f"{i}{order_id}", total) for i, (order_id, total) in enumerate(rows)] for where, rows in files.items()}
    expected_quarantine, expected_loaded = set(), set()
    for (location, day), rows in files.items():
        write_csv(day_folder(tree, location, day) / "OrderDetails.csv", headers,
                  [[order_row(f"1300{order_id}", total=total)[h] for h in headers] for order_id, total in rows])
        seen = set()
        for number, (order_id, total) in enumerate(rows, start=1):
            rules = {"natural_key_unique"} if order_id in seen else set()
            if not total.replace(".", "", 1).isdigit():
                rules.add("decimal_parses")
            seen.add(order_id)
            target = expected_quarantine if rules else expected_loaded
            target.add((location, day, number, ";".join(sorted(rules))) if rules else (location, day, number, f"1300{order_id}"))
    assert any("natural_key_unique" in r[3] for r in expected_quarantine) == repeats

    result = load_raw_from_tree(tree, db, days)

    quarantined = query(db, "SELECT location_id, business_date, row_number, rule FROM toast_raw.quarantine")
    assert set(quarantined) == expected_quarantine and len(quarantined) == len(expected_quarantine)
    loaded = query(db, "SELECT _location_id, _business_date, _row_number, order_id FROM toast_raw.order_details")
    assert set(loaded) == expected_loaded and len(loaded) == len(expected_loaded)
    # 17 rows in frames of at least four: more than one check, fewer than one per file.
    assert 1 < result.validation_calls["order_details"] <= 17 // 4 + 1


@pytest.mark.parametrize("repeats", [True, False], ids=["keys-repeat", "no-repeats"])
def test_the_checks_read_only_their_columns_and_quarantine_keeps_whole_rows(
    tree: Path, db: Path, handed_to_checks: list[tuple[str, pd.DataFrame, bool]], repeats: bool
) -> None:
    """Only the rows' ids and the columns the contract's rules read leave DuckDB for the
    checks (not the source file's name, about 80 bytes a row), and the checks hear whether a
    natural key repeats; a quarantined row still keeps every value it was written with, free
    text included, and the rules find the same rows."""
    headers = list(ORDERS.headers)
    rows = [order_row("13001", Server="Ana"), order_row("13002", total="x", Server="Bo, the second"),
            order_row("13001" if repeats else "13003", Server="Cy")]
    write_csv(day_folder(tree, "185120") / "OrderDetails.csv", headers, [[r[h] for h in headers] for r in rows])

    load_raw_from_tree(tree, db, [DAY])

    rule_columns = {"order_id", "total", "opened", "amount", "voided"}  # typed or key columns of the contract
    free_text = {"location", "server", "dining_options", "tab_names"}  # no rule reads them
    orders = [(list(frame.columns), keys_repeat) for entity, frame, keys_repeat in handed_to_checks if entity == "order_details"]
    assert orders and all(keys_repeat == repeats for _, keys_repeat in orders)
    for columns, _ in orders:
        assert {"rowid", "_location_id", "_business_date"} | rule_columns <= set(columns)
        assert not (free_text | {"_source_file", "_row_number"}) & set(columns)
    expected = {2: (rows[1], "decimal_parses")} | ({3: (rows[2], "natural_key_unique")} if repeats else {})
    quarantined = query(db, "SELECT row_number, rule, raw_record FROM toast_raw.quarantine WHERE entity = 'order_details'")
    assert sorted((number, rule) for number, rule, _ in quarantined) == sorted((n, rule) for n, (_, rule) in expected.items())
    for number, _, record in quarantined:
        assert json.loads(record) == {h: v for h, v in expected[number][0].items() if v != ""}


def test_a_load_of_dates_with_a_gap_checks_and_counts_only_its_own_dates(
    tree: Path, db: Path, handed_to_checks: list[tuple[str, pd.DataFrame, bool]]
) -> None:
    """Reloading the 8th and the 10th hands the checks exactly those dates' rows, not the 9th's
    between them, and leaves the 9th's rows, quarantine and manifest as they were."""
    headers = list(ORDERS.headers)
    days = [DAY, date(2026, 10, 9), date(2026, 10, 10)]
    written = {}
    for number, day in enumerate(days):
        rows = [order_row(f"14{number}{i:02d}") for i in range(3 + number)]
        rows[-1]["Total"] = "oops"  # one row of each date breaks the amount rule
        write_csv(day_folder(tree, "185129", day) / "OrderDetails.csv", headers, [[r[h] for h in headers] for r in rows])
        written[day] = len(rows)
    load_raw_from_tree(tree, db, days)
    middle = "SELECT * EXCLUDE ({loaded}) FROM toast_raw.{table} WHERE {column} = ? ORDER BY ALL"
    tables = (("order_details", "_business_date", "_loaded_at"), ("quarantine", "business_date", "quarantined_at"),
              ("file_manifest", "business_date", "loaded_at"))  # fmt: skip
    before = [query(db, middle.format(table=t, column=c, loaded=x), [days[1]]) for t, c, x in tables]
    handed_to_checks.clear()  # the first load's frames

    result = load_raw_from_tree(tree, db, [days[0], days[2]])

    checked = pd.concat(frame for entity, frame, _ in handed_to_checks if entity == "order_details")["_business_date"].astype(str)
    assert sorted(checked) == [str(days[0])] * written[days[0]] + [str(days[2])] * written[days[2]]
    assert [query(db, middle.format(table=t, column=c, loaded=x), [days[1]]) for t, c, x in tables] == before
    counts = {(f.business_date, f.loaded_rows, f.quarantined_rows) for f in result.files if f.entity == "order_details"}
    assert counts == {(str(days[0]), written[days[0]] - 1, 1), (str(days[2]), written[days[2]] - 1, 1)}


def test_the_warehouse_caps_duckdbs_memory_when_told(tmp_path: Path) -> None:
    """Every warehouse connection carries the configured DuckDB memory limit (unless told, 128MB
    for each of DuckDB's threads and at least 256MB), and a size DuckDB would misread is refused
    before a connection is used."""
    setting = "SELECT current_setting('memory_limit')"
    warehouse = DuckDBWarehouseResource(database=str(tmp_path / "toast.duckdb"), memory_limit="64MB")
    with warehouse.connection() as conn:
        assert conn.execute(setting).fetchone()[0] == "61.0 MiB"  # 64,000,000 bytes
    assert [duckdb_warehouse.default_memory_limit(n) for n in (1, 2, 3, 16)] == ["256MB", "256MB", "384MB", "2048MB"]
    with DuckDBWarehouseResource(database=str(tmp_path / "toast.duckdb")).connection() as conn, duckdb.connect() as fresh:
        threads = conn.execute("SELECT current_setting('threads')").fetchone()[0]
        assert threads == fresh.execute("SELECT current_setting('threads')").fetchone()[0]  # DuckDB's own: the cores
        fresh.execute(f"SET memory_limit = '{max(256, 128 * threads)}MB'")
        assert conn.execute(setting).fetchone()[0] == fresh.execute(setting).fetchone()[0]
    lots = DuckDBWarehouseResource(database=str(tmp_path / "toast.duckdb"), memory_limit="lots")
    with pytest.raises(ValueError, match="'lots' is not a size"), lots.connection():
        pass


def test_a_load_beyond_the_memory_limit_names_the_setting_and_keeps_the_loaded_date(tree: Path, db: Path) -> None:
    """A cap below what one file's read needs (the CSV reader's 16 MiB buffer under 8MB): the
    reload fails with an error naming the load's dates and TOAST_DUCKDB_MEMORY_LIMIT, and the
    date loaded before keeps its rows, quarantine and manifest as they were."""
    rows = [list(order_row(f"130000001573430310{i}").values()) for i in range(5)] + [list(order_row("", Total="x").values())]
    write_csv(day_folder(tree, "185129") / "OrderDetails.csv", ORDERS.headers, rows)
    load_raw_from_tree(tree, db, [DAY])
    tables = ["order_details", "quarantine", "file_manifest"]
    before = [query(db, f"SELECT * FROM toast_raw.{t} ORDER BY ALL") for t in tables]
    assert [len(b) for b in before] == [5, 1, 1]  # five orders, the one without an id, one file

    starved = DuckDBWarehouseResource(database=str(db), memory_limit="8MB")
    with pytest.raises(WarehouseLoadError) as failure:
        load_raw(LocalLakeResource(root=str(db.parent / "lake")), starved, [DAY], ["order_details"])
    message = str(failure.value)
    assert "order_details for business date(s) 2026-10-08" in message and "rolled back" in message
    assert "ran out of memory under TOAST_DUCKDB_MEMORY_LIMIT=8MB: set TOAST_DUCKDB_MEMORY_LIMIT higher" in message
    assert isinstance(failure.value.__cause__, duckdb_warehouse.LoadMemoryError)
    assert isinstance(failure.value.__cause__.__cause__, duckdb.OutOfMemoryException)
    assert [query(db, f"SELECT * FROM toast_raw.{t} ORDER BY ALL") for t in tables] == before


def test_row_numbers_follow_each_file_while_the_read_runs_ahead_of_the_insert(
    tree: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirty order files read on the second connection in batches of 50 rows, at most two
    waiting (the reader blocks on the insert many times): every loaded row carries the record
    number the csv module gives its order id in its own file, rejects included."""
    monkeypatch.setattr(duckdb_warehouse, "STREAM_ROWS", 50)
    monkeypatch.setattr(duckdb_warehouse, "STREAM_QUEUE_BATCHES", 2)
    headers = list(ORDERS.headers)
    expected: dict[tuple[str, int], str] = {}
    rejected: set[tuple[str, int]] = set()
    for index in range(30):
        location = f"1852{index:02d}"
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        for number in range(1, 121 + index):
            if index % 7 == 3 and number in (4, 77):
                buffer.write(f"short,row,{number}\n")
            else:
                writer.writerow([order_row(f"13{index:02d}{number:05d}")[h] for h in headers])
        path = day_folder(tree, location) / "OrderDetails.csv"
        path.parent.mkdir(parents=True)
        path.write_text(buffer.getvalue())
        for number, row in enumerate(list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))[1:], start=1):
            if len(row) == len(headers):
                expected[(location, number)] = row[headers.index("Order Id")]
            else:
                rejected.add((location, number))

    load_raw_from_tree(tree, db, [DAY])

    loaded = query(db, "SELECT _location_id, _row_number, order_id FROM toast_raw.order_details")
    assert len(loaded) == len(expected) > 30 * 50
    assert {(location, number): order_id for location, number, order_id in loaded} == expected
    assert set(query(db, "SELECT location_id, row_number FROM toast_raw.quarantine")) == rejected


def test_a_failed_read_reaches_the_insert_with_its_own_error(tmp_path: Path) -> None:
    """The second connection's read fails on a file that is not there: the insert's thread
    gets DuckDB's error naming the file, and closing the stream ends the reading thread."""
    present = tmp_path / "present.csv"
    write_csv(present, ["a"], [["1"], ["2"]])
    missing = tmp_path / "missing.csv"
    with duckdb.connect(str(tmp_path / "t.duckdb")) as conn:
        stream = duckdb_warehouse._CsvStream(conn, ("a",), "utf-8", 1, [str(present), str(missing)], "failed")
        with pytest.raises(duckdb.IOException, match="missing.csv"):
            stream.reader.read_all()
        stream.close()
        assert not stream._thread.is_alive()


def test_closing_a_stream_the_insert_stopped_reading_ends_its_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An insert that fails after its first batch leaves the reader blocked on a full queue:
    closing the stream stops it at once, with nothing left running on the second connection."""
    monkeypatch.setattr(duckdb_warehouse, "STREAM_ROWS", 10)
    monkeypatch.setattr(duckdb_warehouse, "STREAM_QUEUE_BATCHES", 1)
    path = tmp_path / "many.csv"
    write_csv(path, ["a"], [[str(n)] for n in range(10_000)])
    with duckdb.connect(str(tmp_path / "t.duckdb")) as conn:
        stream = duckdb_warehouse._CsvStream(conn, ("a",), "utf-8", 1, [str(path)], "stopped")
        first = stream.reader.read_next_batch()
        assert first.column("a").to_pylist() == [str(n) for n in range(10)]
        stream.close()
        assert not stream._thread.is_alive()
        assert stream.rejects is None  # it never reached the end of the files
