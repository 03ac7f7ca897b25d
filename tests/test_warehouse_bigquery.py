"""The BigQuery warehouse and the dbt `bigquery` target, against a BigQuery API emulator.

The same landed files are loaded into DuckDB (the reference: tests/test_raw_load.py and
tests/test_dbt_marts.py check it against the files) and into BigQuery through its API, and
dbt builds the marts on both with the pipeline's partition vars. Raw tables, quarantine,
manifest, reconciliation and the four marts must agree. The emulator (bqemulator, DuckDB
under a BigQuery API) proves the API calls, SQL, load jobs, MERGE, session transactions and
dbt-bigquery's incremental `insert_overwrite` with a static partition list; it cannot prove
BigQuery's partition pruning, isolation between concurrent sessions, IAM, quotas or costs.
"""

import csv
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from bq_emulator import BigQueryEmulator
from google.cloud import bigquery

from toast_assets.contract import ENTITIES
from toast_assets.dbt.partition_vars import partition_window_vars
from toast_assets.demo.generator import TrapPlan, generate
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.landing.landing import land
from toast_assets.landing.local_source import LocalExportTree
from toast_assets.raw.bigquery_warehouse import LOADS_PREFIX, BigQueryWarehouseResource, ToastBigQueryResource
from toast_assets.raw.duckdb_warehouse import DuckDBWarehouseResource, LoadMemoryError
from toast_assets.raw.load import WarehouseLoadError, load_raw
from toast_assets.raw.warehouse import FILE_MANIFEST_TABLE, QUARANTINE_TABLE, RAW_SCHEMA

pytestmark = pytest.mark.timeout(900)

START, END = date(2026, 10, 1), date(2026, 10, 3)
LOCATIONS, SEED = 2, 7
DBT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DBT = str(Path(sys.executable).with_name("dbt"))
LAKE_BUCKET = "toast-lake"
TABLES = [*ENTITIES, QUARANTINE_TABLE, FILE_MANIFEST_TABLE]
# Written at load time, so never equal between two loads.
LOAD_TIME_COLUMNS = {"_loaded_at", "quarantined_at", "loaded_at"}
MART_KEYS = {
    "daily_sales_summary": ("location_id", "business_date"),
    "product_performance": ("location_id", "business_date", "menu_item"),
    "store_performance": ("location_id", "business_date"),
    "sales_by_slice": ("location_id", "business_date", "slice", "slice_value"),
}
# Injected bad rows (location index, date index, file, change), each quarantined by a different rule.
RAGGED, BAD_MONEY, BAD_TIMESTAMP, DUPLICATE = (0, 1, "OrderDetails.csv"), (1, 1, "PaymentDetails.csv"), (
    1, 0, "ItemSelectionDetails.csv"), (0, 2, "CashEntries.csv")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Building both warehouses from the same lake
# ---------------------------------------------------------------------------------------------


def edit_csv(path: Path, change: Callable[[list[str], list[list[str]]], list[list[str]]]) -> None:
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header, *rows = list(csv.reader(handle))
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *change(header, rows)])


def inject_bad_rows(export: Path, ids: list[str], dates: list[date]) -> None:
    def path(where: tuple[int, int, str]) -> Path:
        return export / ids[where[0]] / f"{dates[where[1]]:%Y%m%d}" / where[2]

    def set_first(column: str, value: str) -> Callable[[list[str], list[list[str]]], list[list[str]]]:
        def change(header: list[str], rows: list[list[str]]) -> list[list[str]]:
            rows[0][header.index(column)] = value
            return rows

        return change

    edit_csv(path(RAGGED), lambda header, rows: [*rows[:2], ["ragged", "row"], *rows[2:]])
    edit_csv(path(BAD_MONEY), set_first("Amount", "twelve"))
    edit_csv(path(BAD_TIMESTAMP), set_first("Sent Date", "31/31/26 25:99"))
    edit_csv(path(DUPLICATE), lambda header, rows: [*rows, rows[0]])


def bq_client(emulator: BigQueryEmulator) -> ToastBigQueryResource:
    return ToastBigQueryResource(project=emulator.project, location="US", api_endpoint=emulator.endpoint)


def bq_rows(emulator: BigQueryEmulator, sql: str) -> list[dict]:
    with bq_client(emulator).get_client() as client:
        return [dict(row.items()) for row in client.query(sql).result()]


def duck_rows(db: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(db), read_only=True) as conn:
        cursor = conn.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def _plain(value: object) -> object:
    """One representation for both engines: naive UTC datetimes, Decimal money, dates as dates."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def table_rows(rows: list[dict], drop: set[str] = LOAD_TIME_COLUMNS) -> list[tuple]:
    return sorted((tuple((k, _plain(v)) for k, v in sorted(row.items()) if k not in drop) for row in rows), key=repr)


def raw_table(engine: str, where: Path | BigQueryEmulator, table: str) -> list[tuple]:
    """A raw-side table's rows, load times left out."""
    if engine == "duckdb":
        return table_rows(duck_rows(where, f'SELECT * FROM {RAW_SCHEMA}."{table}"'))
    return table_rows(bq_rows(where, f"SELECT * FROM `{where.project}`.{RAW_SCHEMA}.`{table}`"))


def snapshot(engine: str, where: Path | BigQueryEmulator) -> dict[str, list[tuple]]:
    return {table: raw_table(engine, where, table) for table in TABLES}


def of_dates(tables: dict[str, list[tuple]], dates: list[date]) -> dict[str, list[tuple]]:
    """The rows of these business dates, per table."""
    out = {}
    for table, rows in tables.items():
        column = "business_date" if table in (QUARANTINE_TABLE, FILE_MANIFEST_TABLE) else "_business_date"
        out[table] = [r for r in rows if dict(r)[column] in dates]
    return out


def load_jobs_since(emulator: BigQueryEmulator, since: datetime) -> Counter:
    """Load jobs per raw-side table created after `since` (staging tables named `_load_<table>_<run>`)."""
    counts: Counter = Counter()
    with bq_client(emulator).get_client() as client:
        for job in client.list_jobs(all_users=True, min_creation_time=since):
            if job.job_type == "load" and job.created >= since:
                staging = job.destination.table_id
                counts[next(t for t in TABLES if staging.startswith(f"_load_{t}_"))] += 1
    return counts


def start_dbt(env: dict[str, str], target: str, select: str, window: tuple[date, date], target_path: Path) -> subprocess.Popen:
    """dbt as the pipeline runs it for a partition window (the pipeline's vars), without the
    data tests (tests/test_dbt_marts.py runs them): seed and models of `select`."""
    dbt_vars = partition_window_vars(dg.TimeWindow(
        datetime.combine(window[0], datetime.min.time()), datetime.combine(window[1] + timedelta(days=1), datetime.min.time())
    ))  # fmt: skip
    target_path.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [DBT, "build", "--select", select, "--exclude-resource-type", "test", "unit_test", "--vars", json.dumps(dbt_vars),
         "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target", target,
         "--target-path", str(target_path), "--log-path", str(target_path / "logs")],
        stdout=(target_path / "dbt.out").open("w"), stderr=subprocess.STDOUT, text=True, env={**os.environ, **env},
    )  # fmt: skip


def finish_dbt(process: subprocess.Popen, target_path: Path) -> None:
    try:
        process.wait(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, (target_path / "dbt.out").read_text()[-6000:]


@dataclass
class Built:
    root: Path
    export: Path
    lake: LocalLakeResource
    duckdb_path: Path
    emulator: BigQueryEmulator
    warehouse: BigQueryWarehouseResource
    plan: TrapPlan
    ids: list[str]
    dates: list[date]
    first_load_jobs: Counter
    duck_reconciliation: list
    seconds: dict[str, float]

    def dbt(self, window: tuple[date, date], select: str = "+marts") -> None:
        """The same dbt build on both warehouses, at once (the emulator mostly waits on itself)."""
        started = time.monotonic()
        duck_path, bq_path = self.root / "dbt_duckdb", self.root / "dbt_bigquery"
        duck = start_dbt({"TOAST_DBT_TARGET": "duckdb", "TOAST_DUCKDB_PATH": str(self.duckdb_path)}, "duckdb", select,
                         window, duck_path)  # fmt: skip
        bq = start_dbt({**self.emulator.dbt_env(), "TOAST_DUCKDB_PATH": str(self.duckdb_path)}, "bigquery", select,
                       window, bq_path)  # fmt: skip
        finish_dbt(duck, duck_path)
        finish_dbt(bq, bq_path)
        self.seconds[f"dbt {select} {window[0]}..{window[1]}"] = time.monotonic() - started

    def load(self, dates: list[date], warehouse: BigQueryWarehouseResource | None = None) -> None:
        land(LocalExportTree(self.export), self.lake, dates)
        load_raw(self.lake, DuckDBWarehouseResource(database=str(self.duckdb_path)), dates, list(ENTITIES))
        started = time.monotonic()
        load_raw(self.lake, warehouse or self.warehouse, dates, list(ENTITIES))
        self.seconds["bigquery load"] = time.monotonic() - started


@pytest.fixture(scope="module")
def built(bq_emulator: BigQueryEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("warehouse_bigquery")
    export = root / "export"
    summary = generate(export, START, END, locations=LOCATIONS, seed=SEED, orders_per_day=(20, 30))
    inject_bad_rows(export, summary.export_ids, summary.dates)
    # The lake folder is where the emulator resolves gs://toast-lake/..., so the load jobs read
    # the per-run files from "GCS" exactly as they do from a GCS lake.
    lake = LocalLakeResource(root=str(bq_emulator.gcs_root / LAKE_BUCKET))
    warehouse = BigQueryWarehouseResource(
        bigquery=bq_client(bq_emulator), lake=lake, load_uri_prefix=f"gs://{LAKE_BUCKET}"
    )
    built = Built(root, export, lake, root / "reference.duckdb", bq_emulator, warehouse, summary.plan,
                  summary.export_ids, summary.dates, Counter(), [], {})  # fmt: skip
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    built.load(summary.dates)
    built.first_load_jobs = load_jobs_since(bq_emulator, since)
    built.duck_reconciliation = DuckDBWarehouseResource(database=str(built.duckdb_path)).reconcile(list(ENTITIES), summary.dates)
    built.dbt((START, END))
    yield built


class FailingAtManifest(BigQueryWarehouseResource):
    def _swap(self, client: bigquery.Client, session: str, table: str, *args: object) -> None:
        if table == FILE_MANIFEST_TABLE:
            raise RuntimeError("simulated failure before the manifest")
        super()._swap(client, session, table, *args)


def staging_tables(built: Built) -> list[str]:
    with bq_client(built.emulator).get_client() as client:
        return [t.table_id for t in client.list_tables(f"{built.emulator.project}.toast_raw") if t.table_id.startswith("_load_")]


def load_times(built: Built, dates: list[date]) -> list[tuple]:
    """When the order rows of these dates were loaded (a replaced date gets a new time)."""
    rows = bq_rows(built.emulator, f"SELECT DISTINCT _business_date, _loaded_at FROM `{built.emulator.project}`.toast_raw.order_details")
    return sorted((r["_business_date"], r["_loaded_at"]) for r in rows if r["_business_date"] in dates)



# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_raw_tables_manifest_and_quarantine_equal_duckdbs(built: Built) -> None:
    for table in TABLES:
        duck = raw_table("duckdb", built.duckdb_path, table)
        assert raw_table("bigquery", built.emulator, table) == duck, table
        if table not in (QUARANTINE_TABLE, "kitchen_timings"):
            assert duck, f"{table} should have rows"
    rules = Counter(r["rule"] for r in bq_rows(built.emulator, f"SELECT rule FROM `{built.emulator.project}`.toast_raw.quarantine"))
    assert {"wrong_field_count", "decimal_parses", "timestamp_parses", "natural_key_unique"} <= set().union(
        *(set(rule.split(";")) for rule in rules)
    ), rules
    # The demo's traps came through: a drifted location's extra column, a closed day's header-only files.
    extra = bq_rows(built.emulator, f"SELECT COUNT(_extra) AS n FROM `{built.emulator.project}`.toast_raw.order_details")
    assert extra[0]["n"] > 0
    location, day = built.plan.closed_day
    closed = bq_rows(built.emulator, f"SELECT source_rows, status FROM `{built.emulator.project}`.toast_raw.file_manifest "
                                     f"WHERE location_id = '{location}' AND business_date = DATE '{day.isoformat()}'")  # fmt: skip
    assert closed and {r["source_rows"] for r in closed} == {0}


def test_exactly_one_load_job_per_table_and_per_run(built: Built) -> None:
    with_rows = {t for t in TABLES if raw_table("duckdb", built.duckdb_path, t)}
    assert built.first_load_jobs == Counter({t: 1 for t in with_rows})
    # The load files are lake objects beside the landed files, one per table of the run.
    runs = {key.split("/")[1] for key in built.lake.list_keys(LOADS_PREFIX)}
    assert len(runs) == 1
    assert sorted(k.rsplit("/", 1)[1] for k in built.lake.list_keys(LOADS_PREFIX)) == sorted(f"{t}.parquet" for t in with_rows)


def test_raw_tables_are_day_partitioned_and_clustered_staging_is_gone(built: Built) -> None:
    with bq_client(built.emulator).get_client() as client:
        for table in TABLES:
            meta = client.get_table(f"{built.emulator.project}.toast_raw.{table}")
            assert meta.time_partitioning.type_ == "DAY", table
            assert meta.time_partitioning.field == ("business_date" if table in (QUARANTINE_TABLE, FILE_MANIFEST_TABLE) else "_business_date")
            assert meta.clustering_fields in (["_location_id"], ["entity", "location_id"]), table
    assert not staging_tables(built)


def test_reconciliation_balances_and_matches_duckdb(built: Built) -> None:
    reconciliation = built.warehouse.reconcile(list(ENTITIES), built.dates)
    assert reconciliation and all(r.balanced for r in reconciliation)
    assert sorted(reconciliation, key=repr) == sorted(built.duck_reconciliation, key=repr)
    assert sum(r.quarantined_rows for r in reconciliation) >= 4


def test_quality_reads_see_the_same_frames(built: Built) -> None:
    columns = ["entity", "location_id", "business_date", "source_rows", "loaded_rows", "quarantined_rows"]
    duck = DuckDBWarehouseResource(database=str(built.duckdb_path))
    frames = [w.read_frame(RAW_SCHEMA, FILE_MANIFEST_TABLE, "business_date", built.dates[:2], columns) for w in (duck, built.warehouse)]
    ordered = [f.sort_values(columns).reset_index(drop=True) for f in frames]
    assert ordered[0].astype(str).equals(ordered[1].astype(str))
    reference = built.warehouse.read_table("toast_reference", "locations", ["export_id", "location_name"])
    assert set(built.ids) <= set(reference["export_id"])
    with pytest.raises(KeyError):
        built.warehouse.read_frame(RAW_SCHEMA, FILE_MANIFEST_TABLE, "business_date", built.dates, ["no_such_column"])
    assert built.warehouse.read_frame("toast_quality", "absent_table", "business_date", built.dates).empty


def test_replace_frame_replaces_only_its_dates(built: Built) -> None:
    import pandas as pd

    first = pd.DataFrame({"business_date": built.dates, "score": [1.0, 2.0, 3.0]})
    built.warehouse.replace_frame("toast_quality", "bq_test_frame", "business_date", built.dates, first)
    again = pd.DataFrame({"business_date": [built.dates[1]], "score": [20.0]})
    built.warehouse.replace_frame("toast_quality", "bq_test_frame", "business_date", [built.dates[1]], again)
    frame = built.warehouse.read_frame("toast_quality", "bq_test_frame", "business_date", built.dates)
    assert sorted(zip(frame["business_date"].dt.date, frame["score"])) == [
        (built.dates[0], 1.0), (built.dates[1], 20.0), (built.dates[2], 3.0)]  # fmt: skip


def mart(engine: str, built: Built, name: str) -> dict[tuple, dict]:
    if engine == "duckdb":
        rows = duck_rows(built.duckdb_path, f"SELECT * FROM toast_marts.{name}")
    else:
        rows = bq_rows(built.emulator, f"SELECT * FROM `{built.emulator.project}`.toast_marts.{name}")
    keyed = {tuple(_plain(row[k]) for k in MART_KEYS[name]): row for row in rows}
    assert len(keyed) == len(rows), f"{engine} {name} has duplicate keys"
    return keyed


def assert_marts_equal(built: Built) -> None:
    """Every mart row and value of the BigQuery run equals DuckDB's: ratios to 1e-9 relative
    (the engines may sum in another order), money within a cent: BigQuery divides NUMERIC
    exactly, DuckDB's DECIMAL division goes through DOUBLE, so an average that lands on a
    half cent (37.095) can round to 37.10 on one and 37.09 on the other."""
    for name in MART_KEYS:
        duck, bq = mart("duckdb", built, name), mart("bigquery", built, name)
        assert duck, name
        assert set(bq) == set(duck), f"{name}: keys differ: {sorted(set(bq) ^ set(duck))[:5]}"
        for key, expected in duck.items():
            for column, value in expected.items():
                got = bq[key][column]
                what = f"{name}{key}.{column}: bigquery {got!r} != duckdb {value!r}"
                if value is None or got is None:
                    assert value is None and got is None, what
                elif isinstance(value, Decimal) or isinstance(got, Decimal):
                    assert abs(Decimal(str(got)) - Decimal(str(value))) <= Decimal("0.01"), what
                elif isinstance(value, float):
                    assert abs(float(got) - value) <= 1e-9 + 1e-9 * abs(value), what
                else:
                    assert _plain(got) == _plain(value), what


def test_dbt_builds_the_same_marts_on_bigquery(built: Built) -> None:
    assert_marts_equal(built)
    with bq_client(built.emulator).get_client() as client:
        for name in MART_KEYS:
            meta = client.get_table(f"{built.emulator.project}.toast_marts.{name}")
            # dbt-bigquery also sends `cluster by location_id`; the emulator keeps no clustering
            # for tables made by DDL, so only the partitioning is checked here.
            assert (meta.time_partitioning.type_, meta.time_partitioning.field) == ("DAY", "business_date"), name


def test_reloads_replace_exactly_their_dates_and_dbt_replaces_exactly_its_window(built: Built) -> None:
    """A re-load of every date gives identical tables (nothing doubled); a re-delivered date
    (one location's day now closed) re-loaded through the upload path and rebuilt by dbt over
    that one date leaves every other date's raw rows (and their load time) and mart rows as
    they were, and both warehouses still agree."""
    before = snapshot("bigquery", built.emulator)
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    built.load(built.dates)
    assert snapshot("bigquery", built.emulator) == before
    assert max(load_jobs_since(built.emulator, since).values()) == 1

    day, others = built.dates[1], [built.dates[0], built.dates[2]]
    untouched = load_times(built, others)
    other_raw = of_dates(before, others)
    marts_before = {name: mart("bigquery", built, name) for name in MART_KEYS}
    location = built.ids[0]
    for path in (built.export / location / f"{day:%Y%m%d}").glob("*.csv"):
        edit_csv(path, lambda header, rows: [])
    # A load that fails at its last table (the raw tables' MERGEs already ran in the
    # transaction) leaves every table as it was, and no staging table behind.
    land(LocalExportTree(built.export), built.lake, [day])
    with pytest.raises(WarehouseLoadError, match="rolled back"):
        load_raw(built.lake, FailingAtManifest(bigquery=bq_client(built.emulator)), [day], list(ENTITIES))
    assert snapshot("bigquery", built.emulator) == before
    assert not staging_tables(built)
    # A parse beyond TOAST_DUCKDB_MEMORY_LIMIT says so, before any load job.
    since = datetime.now(timezone.utc)
    starved = BigQueryWarehouseResource(bigquery=bq_client(built.emulator), parse_memory_limit="8MB")
    with pytest.raises(WarehouseLoadError, match="ran out of memory under TOAST_DUCKDB_MEMORY_LIMIT=8MB") as failure:
        load_raw(built.lake, starved, [day], list(ENTITIES))
    assert isinstance(failure.value.__cause__, LoadMemoryError)
    assert not load_jobs_since(built.emulator, since)
    assert snapshot("bigquery", built.emulator) == before

    uploads = BigQueryWarehouseResource(bigquery=bq_client(built.emulator))  # no lake: the load job uploads
    built.load([day], uploads)
    built.dbt((day, day), select="marts")  # the views stand; the incremental marts replace their window

    after = snapshot("bigquery", built.emulator)
    assert of_dates(after, others) == other_raw
    assert load_times(built, others) == untouched
    assert after == snapshot("duckdb", built.duckdb_path)
    assert not [r for r in of_dates(after, [day])["order_details"] if ("_location_id", location) in r]
    assert all(r.balanced for r in built.warehouse.reconcile(list(ENTITIES), built.dates))
    assert_marts_equal(built)
    daily = mart("bigquery", built, "daily_sales_summary")
    assert daily[(location, day)]["orders_count"] == 0 and marts_before["daily_sales_summary"][(location, day)]["orders_count"] > 0
    for name in MART_KEYS:
        if name == "store_performance":
            continue  # its rolling week reads the re-delivered day
        rows = mart("bigquery", built, name)
        assert {k: v for k, v in rows.items() if k[1] != day} == {k: v for k, v in marts_before[name].items() if k[1] != day}, name
