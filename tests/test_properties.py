"""Property-based tests (hypothesis): arbitrary input never crashes, and nothing is lost.

- The header mapper: any header row maps without error onto unique, SQL-safe column names;
  every contract spelling (any case, spacing, BOM) finds its column; drift is recorded.
- The value rules of the contract against dbt staging: a value the contract accepts is a value
  staging types (never a silent NULL), and a timestamp or amount means the same thing to both.
  Staging's SQL is the compiled macros in `tests/bad_inputs/staging_parse.json` (kept current
  by tests/test_bad_inputs.py), run on DuckDB.
- The CSV reader path: any bytes or CSV-like text, landed from an export folder and loaded into
  DuckDB, never raise; every record counted here with the `csv` module is loaded or
  quarantined exactly once (row numbers 1..N), or the whole file is quarantined with a rule.
"""

import csv
import io
import itertools
import json
import re
import tempfile
from calendar import monthrange
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from toast_assets.contract import BY_ENTITY, TOAST_FILES, LogicalType, map_headers, normalize_header
from toast_assets.contract.values import TIMESTAMP_FORMATS
from toast_assets.quality.contract_schema import VALUE_RULES

STAGING_PARSE: dict[str, str] = json.loads(
    (Path(__file__).resolve().parent / "bad_inputs" / "staging_parse.json").read_text(encoding="utf-8")
)
FAST = settings(max_examples=150, deadline=None, database=None)
SLOW = settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------
# The header mapper
# ---------------------------------------------------------------------------------------------

SPELLINGS = sorted({s for f in TOAST_FILES for c in f.columns for s in c.spellings})


@st.composite
def spelled(draw: st.DrawFn) -> str:
    """A contract header as a person or a tool might spell it."""
    header = draw(st.sampled_from(SPELLINGS))
    style = draw(st.sampled_from(["as is", "upper", "lower", "padded", "double spaces", "bom", "tab"]))
    return {
        "as is": header,
        "upper": header.upper(),
        "lower": header.lower(),
        "padded": f"  {header} ",
        "double spaces": header.replace(" ", "  "),
        "bom": "\ufeff" + header,
        "tab": header.replace(" ", "\t"),
    }[style]


HEADER_CELLS = st.one_of(
    spelled(),
    st.text(max_size=15),
    st.sampled_from(["", " ", "Loyalty Tier", "Loyalty-Tier", "loyalty_tier", "_extra", "_x_order_id", "Amount__3", "#", "%", "?", "é", "日本"]),
)


@FAST
@given(toast_file=st.sampled_from(TOAST_FILES), headers=st.lists(HEADER_CELLS, max_size=45))
def test_any_header_row_maps_to_unique_safe_column_names(toast_file, headers: list[str]) -> None:
    mapping = map_headers(toast_file, headers)

    assert len(mapping.targets) == len(headers)
    assert len(set(mapping.targets)) == len(mapping.targets), "a read_csv column struct needs unique names"
    assert all(re.fullmatch(r"[a-z0-9_]+", t) for t in mapping.targets), "names are spliced into SQL"
    lookup = {normalize_header(s): c.name for c in toast_file.columns for s in c.spellings}
    seen: set[str] = set()
    for position, (header, target) in enumerate(zip(headers, mapping.targets), start=1):
        column = lookup.get(normalize_header(header))
        if column is None:
            assert target.startswith("_x_"), (header, target)  # drift: kept in _extra
        elif column in seen:
            assert target == f"{column}__{position}" and header.strip() in mapping.duplicate_headers
        else:
            assert target == column
        seen.add(column or target)
    present = set(mapping.targets)
    assert list(mapping.missing_required) == [c.header for c in toast_file.columns if c.required and c.name not in present]
    assert mapping.is_loadable == (not mapping.missing_required and not mapping.duplicate_headers)
    keys = [key for _, key in mapping.extra_targets]
    assert len(set(keys)) == len(keys), "two unknown columns would collide in the _extra JSON object"
    assert [t for t, _ in mapping.extra_targets] == [t for t in mapping.targets if t.startswith("_x_")]


@FAST
@given(toast_file=st.sampled_from(TOAST_FILES), data=st.data())
def test_mapping_is_by_name_whatever_the_order(toast_file, data: st.DataObject) -> None:
    headers = data.draw(st.lists(st.sampled_from(toast_file.headers), unique=True, min_size=1))
    shuffled = data.draw(st.permutations(headers))
    first, second = map_headers(toast_file, headers), map_headers(toast_file, shuffled)
    assert dict(zip(headers, first.targets)) == dict(zip(shuffled, second.targets))
    assert first.missing_required == second.missing_required and not first.duplicate_headers


# ---------------------------------------------------------------------------------------------
# Value rules against dbt staging
# ---------------------------------------------------------------------------------------------


def contract_accepts(logical_type: str, value: str) -> bool:
    check = VALUE_RULES[LogicalType(logical_type)][2]
    return bool(check(pd.Series([value], dtype=object)).iloc[0])


def staged(logical_type: str, value: str) -> object:
    return duckdb.execute(f"SELECT {STAGING_PARSE[logical_type]} FROM (SELECT ?::VARCHAR AS v) t", [value]).fetchone()[0]


def toast_style(moment: datetime, fmt: str, unpadded: bool) -> str:
    """`moment` written in `fmt`; unpadded month, day and hour as real files show (`10/8/26 5:18 PM`)."""
    if unpadded:
        hour12 = moment.hour % 12 or 12
        fmt = fmt.replace("%m", str(moment.month)).replace("%d", str(moment.day)).replace("%I", str(hour12)).replace("%H", str(moment.hour))
    return moment.strftime(fmt)


@FAST
@given(
    # %y reads 69-99 as 19xx and 00-68 as 20xx in Python and DuckDB alike.
    moment=st.datetimes(min_value=datetime(1969, 1, 1), max_value=datetime(2068, 12, 31, 23, 59, 59)),
    fmt=st.sampled_from(TIMESTAMP_FORMATS + ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")),
    unpadded=st.booleans(),
)
@example(moment=datetime(2026, 3, 8, 2, 30), fmt="%m/%d/%y %I:%M %p", unpadded=True)  # spring forward: no such local time
@example(moment=datetime(2026, 11, 1, 1, 30), fmt="%m/%d/%y %I:%M %p", unpadded=True)  # fall back: the hour twice
@example(moment=datetime(2026, 10, 8, 17, 18), fmt="%m/%d/%y %H:%M", unpadded=True)  # once read as year 26 by staging
def test_timestamps_in_every_format_mean_the_same_wall_clock_to_contract_and_staging(moment, fmt, unpadded) -> None:
    text = toast_style(moment, fmt, unpadded and not fmt.startswith("%Y-"))
    precision = moment.replace(microsecond=0) if "%S" in fmt else moment.replace(second=0, microsecond=0)
    assert contract_accepts("timestamp", text), text
    assert staged("timestamp", text) == precision, text


@FAST
@given(year=st.integers(2000, 2068), month=st.integers(1, 12), day=st.integers(29, 31), hour=st.integers(1, 12))
def test_days_a_month_lacks_are_not_timestamps(year: int, month: int, day: int, hour: int) -> None:
    text = f"{month}/{day}/{year % 100:02d} {hour}:18 PM"
    exists = day <= monthrange(year, month)[1]
    assert contract_accepts("timestamp", text) == exists, text
    assert (staged("timestamp", text) is not None) == exists, text


TIMESTAMP_PARTS = ["1", "2", "02", "12", "13", "29", "30", "31", "0", "2026", "26", "99", "/", "/", " ", " ", ":", ":", "AM", "PM",
                   "pm", "-", "T", "59", "60", "24", "23", "\t", "\n", "Z", "+05:00", ".5", "١", "３"]  # fmt: skip
TEXTS = {
    "timestamp": st.lists(st.sampled_from(TIMESTAMP_PARTS), min_size=1, max_size=12).map("".join),
    "date": st.lists(st.sampled_from(["1", "2", "12", "13", "29", "30", "31", "2026", "26", "/", "-", " ", "0", "١"]), max_size=8).map("".join),
    "time": st.lists(st.sampled_from(["1", "5", "12", "13", "24", "00", "59", "60", ":", " ", "AM", "PM", "\t"]), max_size=7).map("".join),
    "decimal": st.lists(st.sampled_from(["1", "0", "5", "020", "999", ",", ".", "$", "-", "(", ")", " ", "\t", "+", "e", "١", "\n"]), max_size=12).map("".join),
    "int": st.lists(st.sampled_from(["1", "0", "9" * 10, "-", ".", "0", " ", "$", "\n", "١"]), max_size=6).map("".join),
    "bool": st.sampled_from(["true", "false", "TRUE", "False", " true ", "true\n", "\ttrue", "yes", "1", "t", ""]),
    "duration": st.lists(st.sampled_from(["1", "02", "59", ":", " ", "hour", "hours", "minute", "seconds", "day", ",", "and", "  ", "\t"]), max_size=9).map("".join),
    "id": st.lists(st.sampled_from(["1", "9", "0", "1300000015734303122", " ", "\n", "-", "١", "a"]), max_size=4).map("".join),
}  # fmt: skip


@FAST
@given(data=st.data(), logical_type=st.sampled_from(sorted(TEXTS)))
@example(data=None, logical_type="timestamp")
def test_a_value_the_contract_accepts_is_typed_by_staging(data, logical_type: str) -> None:
    """Otherwise a raw row passes the contract and its value silently becomes NULL in staging."""
    values = ["2/30/26 5:18 PM", "10/8/26 5:18PM", "2026-02-30T10:00", "(-5.00)", "99999999999999999999"] if data is None else [
        data.draw(TEXTS[logical_type])
    ]
    for value in values:
        if value.strip(" ") and contract_accepts(logical_type, value):
            assert staged(logical_type, value) is not None, (logical_type, value)


@st.composite
def money(draw: st.DrawFn) -> tuple[str, Decimal]:
    """An amount as Toast or a manual report prints it, with its exact value."""
    value = draw(st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
    digits = f"{abs(value):,.2f}" if draw(st.booleans()) else f"{abs(value):.2f}"
    dollar = "$" if draw(st.booleans()) else ""
    if value < 0:
        text = draw(st.sampled_from([f"-{dollar}{digits}", f"({dollar}{digits})", f"{dollar}-{digits}" if dollar else f"-{digits}"]))
    else:
        text = f"{dollar}{digits}"
    return (f" {text} " if draw(st.booleans()) else text), value


@FAST
@given(printed=money())
@example(printed=("$1,020.00", Decimal("1020.00")))
@example(printed=("-12.50", Decimal("-12.50")))
def test_money_means_the_same_amount_to_contract_and_staging(printed: tuple[str, Decimal]) -> None:
    text, value = printed
    assert contract_accepts("decimal", text), text
    assert staged("decimal", text) == value, text


# ---------------------------------------------------------------------------------------------
# The CSV reader path
# ---------------------------------------------------------------------------------------------

ORDERS = BY_ENTITY["order_details"]
ITEMS = BY_ENTITY["item_selection_details"]
DAY = date(2026, 11, 1)
BOM = b"\xef\xbb\xbf"
CELLS = ["Harbor Grill", "1300000015734303122", "11/1/26 5:18 PM", "2/30/26 5:18 PM", "$1,020.00", "(5.00)", "-1.0", "true", "",
         "Smith, party of 4", 'say "hi"', "Café", "line\nbreak", "x" * 200, "\x00", " ", "Order Id"]  # fmt: skip
TOKENS = [",", ",", '"', '""', "\n", "\r\n", "\r", " ", ";", "\t", "a", "1", "é", "\x00", "Order Id", "\ufeff"]


@st.composite
def csv_like(draw: st.DrawFn) -> bytes:
    """A file that is nearly a Toast export: a real header (reordered, maybe drifted) and rows
    of tricky cells, some with the wrong number of fields, then noise at the byte level."""
    toast_file = draw(st.sampled_from([ORDERS, ITEMS]))
    required = [c.header for c in toast_file.required_columns]
    optional = draw(st.lists(st.sampled_from([c.header for c in toast_file.columns if not c.required] + ["Loyalty Tier"]), unique=True, max_size=6))
    headers = draw(st.permutations(required + optional))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        width = len(headers) + draw(st.sampled_from([0, 0, 0, -1, 1, -len(headers) + 1]))
        rows.append([draw(st.sampled_from(CELLS)) for _ in range(max(width, 1))])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])))
    writer.writerow(headers)
    writer.writerows(rows)
    text = buffer.getvalue()
    for _ in range(draw(st.integers(0, 3))):  # byte-level noise: a stray token somewhere
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "latin-1"]))
    payload = text.encode(encoding, errors="replace")
    return (BOM + payload) if draw(st.booleans()) else payload


@st.composite
def token_soup(draw: st.DrawFn) -> bytes:
    """CSV punctuation and a header-looking first line, in any order."""
    body = "".join(draw(st.lists(st.sampled_from(TOKENS + CELLS), max_size=40)))
    header = ",".join(c.header for c in ORDERS.required_columns) if draw(st.booleans()) else ""
    return (header + draw(st.sampled_from(["\n", "\r\n", ""])) + body).encode("utf-8")


EXPORT_FILES = st.one_of(csv_like(), token_soup(), st.binary(max_size=300))


def source_records(payload: bytes, encoding: str) -> int:
    """Records after the header (the first row with a non-blank cell), counted with `csv`."""
    if payload.startswith(BOM):
        payload, encoding = payload[len(BOM):], "utf-8"
    text = payload.decode(encoding, errors="surrogateescape" if encoding.startswith("utf-8") else "strict")
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=False))
    header = next((i for i, row in enumerate(rows) if any(cell.strip() for cell in row)), len(rows))
    return sum(1 for row in rows[header + 1 :] if row)


@pytest.fixture(scope="module")
def warehouse_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("properties")


_examples = itertools.count()


def test_any_file_is_loaded_or_quarantined_record_for_record(warehouse_folder: Path) -> None:
    from toast_assets.landing.lake import LocalLakeResource
    from toast_assets.landing.landing import land
    from toast_assets.landing.local_source import LocalExportTree
    from toast_assets.raw.duckdb_warehouse import DuckDBWarehouseResource
    from toast_assets.raw.load import load_raw

    warehouse = DuckDBWarehouseResource(database=str(warehouse_folder / "toast.duckdb"))
    tried = {"files": 0, "records": 0}

    @SLOW
    @given(files=st.lists(st.tuples(st.sampled_from([ORDERS, ITEMS]), EXPORT_FILES), min_size=1, max_size=5))
    @example(files=[(ORDERS, b"Order Id,Opened,Amount,Total\r\n1,11/1/26 5:18 PM,1,1\n2,11/1/26 5:18 PM,1,1\r\n")])
    @example(files=[(ORDERS, b"\n\nOrder Id,Opened,Amount,Total\n1,x,1,1\n\n\nshort\n3,x,1,1\n")])
    @example(files=[(ITEMS, b' "\r\n",,\r\n'), (ORDERS, b"Order Id,Opened,Amount,Total\n1,\" \"Big\",1,1\n")])
    @example(files=[(ORDERS, b"Order Id,Opened,Amount,Total\n1,a," + b"x" * 200_000 + b",1\n")])
    def load(files: list[tuple]) -> None:
        # A fresh export folder and lake per example (same-size files would look unchanged to
        # landing); the same DuckDB file, whose date is replaced by every load.
        scratch = Path(tempfile.mkdtemp(dir=warehouse_folder, prefix=f"example{next(_examples)}-"))
        for number, (toast_file, payload) in enumerate(files, start=1):
            folder = scratch / "exports" / str(100 + number) / DAY.strftime("%Y%m%d")
            folder.mkdir(parents=True)
            (folder / toast_file.file_name).write_bytes(payload)
        lake = LocalLakeResource(root=str(scratch / "lake"))
        land(LocalExportTree(scratch / "exports"), lake, [DAY])
        load_raw(lake, warehouse, [DAY], [ORDERS.entity, ITEMS.entity])

        with duckdb.connect(warehouse.database, read_only=True) as conn:
            for number, (toast_file, payload) in enumerate(files, start=1):
                key = f"toast/{toast_file.entity}/business_date={DAY.isoformat()}/location={100 + number}/{toast_file.file_name}"
                assert (scratch / "lake" / key).read_bytes() == payload, "the lake keeps the delivered bytes"
                (encoding, status, source_rows), = conn.execute(
                    "SELECT encoding, status, source_rows FROM toast_raw.file_manifest WHERE source_file = ?", [key]
                ).fetchall()
                n = source_records(payload, encoding)
                assert source_rows == n
                loaded = [r[0] for r in conn.execute(f"SELECT _row_number FROM toast_raw.{toast_file.entity} WHERE _source_file = ?", [key]).fetchall()]
                quarantine = conn.execute(
                    "SELECT row_number, rule, location_id, business_date FROM toast_raw.quarantine WHERE source_file = ?", [key]
                ).fetchall()
                quarantined = sorted({q[0] for q in quarantine})
                assert sorted(loaded + quarantined) == list(range(1, n + 1)), (status, loaded, quarantine)
                assert all(q[1] and q[2] == str(100 + number) and q[3] == DAY for q in quarantine)
                if status == "rejected":
                    assert not loaded and {q[1] for q in quarantine} <= {"file_rejected"}
                tried["files"] += 1
                tried["records"] += n

    load()
    print(f"\nCSV reader property: {tried['files']} files, {tried['records']} records, each loaded or quarantined once")
