"""DuckDB as the warehouse: the embedded default, one file on disk.

Each entity's files for a run are read by DuckDB's own CSV reader in as few scans as
possible (one per distinct header layout), never row by row in Python. Records the reader
cannot parse are captured by its reject tables and written to quarantine with the original
text. Every business date in the run is replaced inside one transaction.

`ensure_raw_schema` and `replace_entities` are the parse itself, on any DuckDB connection:
the BigQuery warehouse runs them on a scratch database, so both warehouses hold the same
values and the same quarantine for the same files.
"""

import csv
import ctypes
import dataclasses
import functools
import io
import itertools
import json
import queue
import re
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as arrow
import pyarrow.compute as arrow_compute
from dagster_duckdb import DuckDBResource

from toast_assets.contract import BY_ENTITY, EXTRA_COLUMN, LINEAGE_COLUMNS, ToastFile
from toast_assets.lib.csvfile import decode, layout, line_endings, write_normalized
from toast_assets.raw.prepare import FileLoadStats, PreparedFile, base_stats, rejected_file_records
from toast_assets.raw.warehouse import (
    FILE_MANIFEST_TABLE,
    QUARANTINE_TABLE,
    RAW_SCHEMA,
    LoadResult,
    Reconciliation,
    RowValidator,
    WarehouseResource,
)
from toast_assets.settings import DUCKDB_MEMORY_FLOOR_MB, DUCKDB_MEMORY_PER_THREAD_MB, MEMORY_LIMIT_PATTERN

_SQL_TYPES = {"text": "VARCHAR", "date": "DATE", "int": "BIGINT", "timestamp": "TIMESTAMP"}

# Largest single CSV record DuckDB accepts; real Toast rows are far below this.
MAX_LINE_BYTES = 8 * 1024 * 1024
# The CSV reader's buffer per file being read. DuckDB's default is 16 times the largest record,
# 128 MiB here, allocated whole for each file in flight while a night's files average 160 KB:
# two such buffers alone broke a 400 MB memory limit on day-200.
CSV_BUFFER_BYTES = 2 * MAX_LINE_BYTES
# Rows checked against the contract at once (about 60 busy location-days of item selections):
# the memory of the checks stays the same from one location to a year of 200.
CHECK_BATCH_ROWS = 100_000
# The order of a load's rows: file and row order within each location and date.
ROW_ORDER = ("_location_id", "_business_date", "_source_file", "_row_number")
# What names a raw row to the checks and for moving it to quarantine: DuckDB's row id, stable
# within the load's transaction. Eight bytes per row; the source file's name was about 80.
ROW_ID = "rowid"
# Batches of STREAM_ROWS held between the read of a layout's files and their insert (_CsvStream).
STREAM_QUEUE_BATCHES = 8
# Rows per batch streamed out of DuckDB towards a frame.
STREAM_ROWS = 16_384

# The quarantine's and the file manifest's columns. Their rows are inserted from a frame, read
# as these types (the manifest's landed_at is ISO text with its offset).
_QUARANTINE_COLUMNS = {
    "entity": "VARCHAR", "location_id": "VARCHAR", "business_date": "DATE", "source_file": "VARCHAR",
    "file_sha256": "VARCHAR", "row_number": "BIGINT", "rule": "VARCHAR", "error_message": "VARCHAR",
    "raw_record": "VARCHAR", "quarantined_at": "TIMESTAMP",
}
_MANIFEST_COLUMNS = {
    "entity": "VARCHAR", "location_id": "VARCHAR", "business_date": "DATE", "file_name": "VARCHAR", "source_file": "VARCHAR",
    "sha256": "VARCHAR", "size_bytes": "BIGINT", "encoding": "VARCHAR", "source_rows": "BIGINT", "loaded_rows": "BIGINT",
    "quarantined_rows": "BIGINT", "status": "VARCHAR", "unknown_headers": "VARCHAR", "missing_columns": "VARCHAR",
    "rejection": "VARCHAR", "landed_at": "TIMESTAMP", "loaded_at": "TIMESTAMP",
}
_MANIFEST_READ_AS = {**_MANIFEST_COLUMNS, "landed_at": "TIMESTAMPTZ"}


def _ddl(table: str, columns: dict[str, str]) -> str:
    return f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{table} ({', '.join(f'{name} {sql_type}' for name, sql_type in columns.items())})"


QUARANTINE_DDL = _ddl(QUARANTINE_TABLE, _QUARANTINE_COLUMNS)
FILE_MANIFEST_DDL = _ddl(FILE_MANIFEST_TABLE, _MANIFEST_COLUMNS)

# DuckDB reject error types, named as quarantine rules.
_REJECT_RULES = {
    "MISSING COLUMNS": "wrong_field_count",
    "TOO MANY COLUMNS": "wrong_field_count",
    "INVALID ENCODING": "invalid_encoding",
    "UNQUOTED VALUE": "malformed_quoting",
    "LINE SIZE OVER MAXIMUM": "record_too_large",
    "CAST": "unparseable_record",
}


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# The run's rows of a raw table, as a filter DuckDB applies inside the scan: the range skips
# other dates' row groups, and the list picks the run's dates. `IN (SELECT unnest($dates))` is
# a join: when the table's statistics do not yet count the load's uncommitted rows, DuckDB
# builds its hash table from them, holding every read column of the run in memory before the
# first row comes out (day-200's checks: 0.4 s and a table's columns at once).
_ON_DATES = "_business_date BETWEEN $first_date AND $last_date AND list_contains($dates, _business_date)"


def _on_dates(dates: list[date]) -> dict[str, object]:
    """The parameters of `_ON_DATES`."""
    return {"dates": dates, "first_date": min(dates), "last_date": max(dates)}


@contextmanager
def _registered(conn: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> Iterator[None]:
    """`frame` readable as the view `name` by the block's statements."""
    conn.register(name, frame)
    try:
        yield
    finally:
        conn.unregister(name)


def _insert_rows(conn: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str], rows: list[list]) -> None:
    """Insert rows (lists in the order of `columns`, each read as its type) in one statement.

    Read from one frame: DuckDB's executemany, or a VALUES list with a parameter per value,
    costs about a third of a millisecond per row (0.6 s for day-200's 1,800 manifest rows).
    """
    with _registered(conn, "_inserted_rows", pd.DataFrame(rows, columns=list(columns))):
        conn.execute(
            f"INSERT INTO {RAW_SCHEMA}.{table} SELECT "
            + ", ".join(f"{_q(name)}::{sql_type}" for name, sql_type in columns.items())
            + " FROM _inserted_rows"
        )


def raw_table_ddl(toast_file: ToastFile) -> str:
    columns = [f"{_q(c.name)} VARCHAR" for c in toast_file.columns]
    columns.append(f"{_q(EXTRA_COLUMN)} VARCHAR")
    columns += [f"{_q(name)} {_SQL_TYPES[kind]}" for name, kind in LINEAGE_COLUMNS]
    return f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{_q(toast_file.entity)} (\n    " + ",\n    ".join(columns) + "\n)"


class DuckDBWarehouseResource(WarehouseResource):
    """Raw tables in a DuckDB file (`TOAST_DUCKDB_PATH`)."""

    database: str
    memory_limit: str | None = None  # TOAST_DUCKDB_MEMORY_LIMIT; None: default_memory_limit for DuckDB's threads

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with DuckDBResource(database=self.database).get_connection() as conn:
            # dagster-duckdb closes the connection only when the block succeeds: a failed load
            # would keep the file open (and locked) for as long as the process lives.
            try:
                limit_memory(conn, self.memory_limit)
                yield conn
            finally:
                conn.close()

    def describe(self) -> str:
        return f"DuckDB file {self.database}"

    def ensure_schema(self, conn: duckdb.DuckDBPyConnection) -> None:
        ensure_raw_schema(conn)

    def replace_raw_partitions(
        self, entities: list[str], dates: list[date], files: list[PreparedFile], validator: RowValidator | None = None
    ) -> LoadResult:
        loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
        with memory_limit_named(self.memory_limit), self.connection() as conn:
            self.ensure_schema(conn)
            conn.execute("BEGIN TRANSACTION")
            try:
                result = replace_entities(conn, entities, dates, files, loaded_at, validator)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return result

    def read_frame(
        self, schema: str, table: str, date_column: str, dates: list[date], columns: list[str] | None = None
    ) -> pd.DataFrame:
        with self.connection() as conn:
            existing = _columns(conn, schema, table)
            if not existing:
                return pd.DataFrame(columns=columns or [])
            wanted = columns or existing
            unknown = [c for c in [*wanted, date_column] if c not in existing]
            if unknown:
                raise KeyError(f"{schema}.{table} has no column(s) {unknown}")
            select = ", ".join(_q(c) for c in wanted)
            return conn.execute(
                f"SELECT {select} FROM {_q(schema)}.{_q(table)} WHERE {_q(date_column)} IN (SELECT unnest($dates))",
                {"dates": dates},
            ).df()

    def read_table(self, schema: str, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        with self.connection() as conn:
            existing = _columns(conn, schema, table)
            if not existing:
                return pd.DataFrame(columns=columns or [])
            wanted = columns or existing
            unknown = [c for c in wanted if c not in existing]
            if unknown:
                raise KeyError(f"{schema}.{table} has no column(s) {unknown}")
            return conn.execute(f"SELECT {', '.join(_q(c) for c in wanted)} FROM {_q(schema)}.{_q(table)}").df()

    def replace_frame(self, schema: str, table: str, date_column: str, dates: list[date], frame: pd.DataFrame) -> None:
        with self.connection() as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(schema)}")
            with _registered(conn, "_replacement", frame):
                conn.execute("BEGIN TRANSACTION")
                try:
                    conn.execute(f"CREATE TABLE IF NOT EXISTS {_q(schema)}.{_q(table)} AS SELECT * FROM _replacement LIMIT 0")
                    conn.execute(
                        f"DELETE FROM {_q(schema)}.{_q(table)} WHERE {_q(date_column)} IN (SELECT unnest($dates))",
                        {"dates": dates},
                    )
                    conn.execute(f"INSERT INTO {_q(schema)}.{_q(table)} BY NAME SELECT * FROM _replacement")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise

    def reconcile(self, entities: list[str], dates: list[date]) -> list[Reconciliation]:
        out: list[Reconciliation] = []
        with self.connection() as conn:
            self.ensure_schema(conn)
            for entity in entities:
                rows = conn.execute(
                    f"""
                    WITH loaded AS (
                        SELECT _source_file AS source_file, count(*) AS n
                        FROM {RAW_SCHEMA}.{_q(entity)} WHERE _business_date IN (SELECT unnest($dates))
                        GROUP BY 1
                    ), quarantined AS (
                        SELECT source_file, count(DISTINCT row_number) AS n
                        FROM {RAW_SCHEMA}.{QUARANTINE_TABLE}
                        WHERE entity = $entity AND business_date IN (SELECT unnest($dates))
                        GROUP BY 1
                    )
                    SELECT m.location_id, m.business_date::VARCHAR, m.file_name, m.source_rows,
                           coalesce(l.n, 0), coalesce(q.n, 0)
                    FROM {RAW_SCHEMA}.{FILE_MANIFEST_TABLE} m
                    LEFT JOIN loaded l ON l.source_file = m.source_file
                    LEFT JOIN quarantined q ON q.source_file = m.source_file
                    WHERE m.entity = $entity AND m.business_date IN (SELECT unnest($dates))
                    ORDER BY 2, 1
                    """,
                    {"entity": entity, "dates": dates},
                ).fetchall()
                out += [Reconciliation(entity, *row) for row in rows]
        return out


class LoadMemoryError(RuntimeError):
    """A raw load needed more memory than TOAST_DUCKDB_MEMORY_LIMIT lets DuckDB take."""


@contextmanager
def memory_limit_named(memory_limit: str | None) -> Iterator[None]:
    """DuckDB's out-of-memory error, raised again with the setting that caps it."""
    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        limit = (
            f"TOAST_DUCKDB_MEMORY_LIMIT={memory_limit}"
            if memory_limit
            else f"the default limit ({DUCKDB_MEMORY_PER_THREAD_MB}MB per DuckDB thread, at least {DUCKDB_MEMORY_FLOOR_MB}MB)"
        )
        raise LoadMemoryError(
            f"DuckDB ran out of memory under {limit}: set TOAST_DUCKDB_MEMORY_LIMIT higher (e.g. 1GB), "
            f"or load fewer dates per run. DuckDB: {exc}"
        ) from exc


def default_memory_limit(threads: int) -> str:
    """The cap when TOAST_DUCKDB_MEMORY_LIMIT is unset: a share for each of DuckDB's threads."""
    return f"{max(DUCKDB_MEMORY_FLOOR_MB, threads * DUCKDB_MEMORY_PER_THREAD_MB)}MB"


def limit_memory(conn: duckdb.DuckDBPyConnection, memory_limit: str | None) -> None:
    """Cap DuckDB's memory on this connection's database (TOAST_DUCKDB_MEMORY_LIMIT; unset,
    `default_memory_limit` for the threads DuckDB runs with).

    Beyond the limit DuckDB writes buffers and the run's uncommitted rows to a temporary
    folder beside the database. The limit must still hold what one statement pins; a load that
    needs more fails with `LoadMemoryError` and rolls back.
    """
    if memory_limit is None:
        (threads,) = conn.execute("SELECT current_setting('threads')").fetchone()
        memory_limit = default_memory_limit(int(threads))
    if not re.fullmatch(MEMORY_LIMIT_PATTERN, memory_limit.strip()):
        raise ValueError(f"DuckDB memory limit {memory_limit!r} is not a size such as 512MB or 2GB")
    conn.execute(f"SET memory_limit = '{memory_limit.strip()}'")


def ensure_raw_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """The raw tables of the contract, the quarantine and the file manifest, created or widened."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    for toast_file in BY_ENTITY.values():
        conn.execute(raw_table_ddl(toast_file))
        # A newer contract may add columns: add them instead of failing on old tables.
        existing = set(_columns(conn, RAW_SCHEMA, toast_file.entity))
        for column in [*toast_file.column_names, EXTRA_COLUMN]:
            if column not in existing:
                conn.execute(f"ALTER TABLE {RAW_SCHEMA}.{_q(toast_file.entity)} ADD COLUMN {_q(column)} VARCHAR")
    conn.execute(QUARANTINE_DDL)
    conn.execute(FILE_MANIFEST_DDL)


def replace_entities(
    conn: duckdb.DuckDBPyConnection,
    entities: list[str],
    dates: list[date],
    files: list[PreparedFile],
    loaded_at: datetime,
    validator: RowValidator | None = None,
) -> LoadResult:
    """Replace these entities' dates in the raw, quarantine and manifest tables of `conn`.

    The caller owns the transaction. On an empty scratch database the tables end up holding
    exactly the run's rows, which is how the BigQuery warehouse parses.
    """
    result = LoadResult()
    by_entity: dict[str, list[PreparedFile]] = defaultdict(list)
    for prepared in files:
        by_entity[prepared.landed.entity].append(prepared)
    for entity in entities:
        stats = _replace_entity(conn, BY_ENTITY[entity], dates, by_entity.get(entity, []), loaded_at, validator, result)
        result.files.extend(stats)
        result.quarantine_rules[entity] = _rule_counts(conn, entity, dates)
        _release_freed_memory()
    return result


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc: nothing to hand back this way


def _release_freed_memory() -> None:
    """Hand the memory one table's scan and checks freed back to the system before the next.

    Arrow's pool and glibc's malloc keep freed pages for reuse; after day-200's larger tables
    that was 100-250 MB each, so the process's peak grew with the night instead of staying at
    one table's working set.
    """
    arrow.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _columns(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def _replace_entity(
    conn: duckdb.DuckDBPyConnection,
    toast_file: ToastFile,
    dates: list[date],
    files: list[PreparedFile],
    loaded_at: datetime,
    validator: RowValidator | None,
    result: LoadResult | None = None,
) -> list[FileLoadStats]:
    entity = toast_file.entity
    table = f"{RAW_SCHEMA}.{_q(entity)}"
    params = {"dates": dates, "entity": entity}
    conn.execute(f"DELETE FROM {table} WHERE _business_date IN (SELECT unnest($dates))", {"dates": dates})
    conn.execute(
        f"DELETE FROM {RAW_SCHEMA}.{QUARANTINE_TABLE} WHERE entity = $entity AND business_date IN (SELECT unnest($dates))",
        params,
    )
    conn.execute(
        f"DELETE FROM {RAW_SCHEMA}.{FILE_MANIFEST_TABLE} WHERE entity = $entity AND business_date IN (SELECT unnest($dates))",
        params,
    )

    stats = {p.path: base_stats(p) for p in files}
    groups: dict[tuple, list[PreparedFile]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix=f"toast-{entity}-") as scratch:
        for prepared in files:
            if prepared.status == "loadable":
                readable = _readable(prepared, scratch)
                key = (readable.mapping.signature, _duckdb_encoding(readable.landed.encoding), readable.header_line)
                groups[key].append(readable)
            elif prepared.status == "rejected":
                _quarantine_whole_file(conn, prepared, loaded_at)

        disputed: list[PreparedFile] = []
        for number, ((signature, encoding, skip), members) in enumerate(sorted(groups.items())):
            disputed += _load_group(conn, toast_file, signature, encoding, skip, members, loaded_at, suffix=f"{entity}_{number}")
        # DuckDB and the csv module split a few malformed files into different records. Such a
        # file is read again as the csv module sees it, so the records counted at landing are
        # exactly the records loaded or quarantined; if even that disagrees, it is quarantined whole.
        for number, prepared in enumerate(disputed):
            original = next(f for f in files if f.landed.key == prepared.landed.key)
            if prepared.path != original.path:
                unreadable = [prepared]
            else:
                copy = _normalized(prepared, scratch)
                unreadable = _load_group(
                    conn, toast_file, copy.mapping.signature, _duckdb_encoding(copy.landed.encoding), copy.header_line,
                    [copy], loaded_at, suffix=f"{entity}_again_{number}",
                )
            if unreadable:
                _quarantine_whole_file(
                    conn, original, loaded_at, rule="unreadable_file",
                    reason="DuckDB's CSV reader and the csv module disagree on its records",
                )
    if validator is not None and groups:
        started = time.perf_counter()
        calls = _quarantine_invalid_rows(conn, toast_file, dates, validator, loaded_at)
        if result is not None:
            result.validation_seconds[entity] = time.perf_counter() - started
            result.validation_calls[entity] = result.validation_calls.get(entity, 0) + calls

    counts = dict(
        conn.execute(f"SELECT _source_file, count(*) FROM {table} WHERE {_ON_DATES} GROUP BY 1", _on_dates(dates)).fetchall()
    )
    quarantined = dict(
        conn.execute(
            f"""SELECT source_file, count(DISTINCT row_number) FROM {RAW_SCHEMA}.{QUARANTINE_TABLE}
                WHERE entity = $entity AND business_date IN (SELECT unnest($dates)) GROUP BY 1""",
            params,
        ).fetchall()
    )
    manifest_rows = []
    for prepared in files:
        entry = stats[prepared.path]
        entry.loaded_rows = counts.get(entry.source_file, 0)
        entry.quarantined_rows = quarantined.get(entry.source_file, 0)
        manifest_rows.append(
            [
                entity, entry.location_id, entry.business_date, entry.file_name, entry.source_file,
                entry.sha256, entry.size_bytes, entry.encoding, entry.source_rows, entry.loaded_rows,
                entry.quarantined_rows, entry.status, json.dumps(entry.unknown_headers),
                json.dumps(entry.missing_columns), entry.rejection, entry.landed_at or None, loaded_at,
            ]
        )
    if manifest_rows:
        _insert_rows(conn, FILE_MANIFEST_TABLE, _MANIFEST_READ_AS, manifest_rows)
    return list(stats.values())


def _duckdb_encoding(encoding: str) -> str:
    # The BOM sits on the header line (or a blank line above it), which the reader skips.
    return "latin-1" if encoding == "latin-1" else "utf-8"


def _readable(prepared: PreparedFile, scratch: str) -> PreparedFile:
    """The file itself, or a normalized copy when its line endings are mixed: DuckDB's strict
    reader raises on `\r\n` and `\n` (or a lone `\r`) in one file, which would fail the
    whole load for one odd file."""
    style = prepared.line_endings
    if style is None:  # not known from the read that verified the file
        with open(prepared.path, "rb") as handle:
            style = line_endings(handle.read())
    return prepared if style != "mixed" else _normalized(prepared, scratch)


def _normalized(prepared: PreparedFile, scratch: str) -> PreparedFile:
    target = Path(tempfile.mkstemp(dir=scratch, suffix=".csv")[1])
    write_normalized(prepared.path, prepared.landed.encoding, target)
    return dataclasses.replace(prepared, path=str(target), header_line=1, line_endings=None)


def _load_group(
    conn: duckdb.DuckDBPyConnection,
    toast_file: ToastFile,
    signature: tuple[str, ...],
    encoding: str,
    skip: int,
    members: list[PreparedFile],
    loaded_at: datetime,
    suffix: str,
) -> list[PreparedFile]:
    """One multi-file scan for files sharing a header layout, encoding and header position.

    Returns the members whose records DuckDB split differently from the csv module (their
    rows are taken out again); every other member's rows are loaded or quarantined.
    """
    entity = toast_file.entity
    files_table, rejects, reject_scans = f"_load_files_{suffix}", f"_rejects_{suffix}", f"_reject_scans_{suffix}"
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE {files_table} "
        "(path VARCHAR, location_id VARCHAR, business_date DATE, source_file VARCHAR, sha256 VARCHAR, row_offset BIGINT)"
    )
    # Where each file's rows start in the scan, from the records counted at landing (see below).
    offsets = [0, *itertools.accumulate(m.landed.records or 0 for m in members)]
    # One statement: DuckDB's executemany costs about half a millisecond per file.
    conn.execute(
        f"INSERT INTO {files_table} VALUES {', '.join(['(?, ?, ?, ?, ?, ?)'] * len(members))}",
        [
            value
            for m, offset in zip(members, offsets)
            for value in (m.path, m.landed.location_id, m.landed.business_date, m.landed.key, m.landed.sha256, offset)
        ],
    )
    present = set(signature)
    select_columns = [_q(c) if c in present else "NULL" for c in toast_file.column_names]
    extras = members[0].mapping.extra_targets
    params: dict[str, object] = {"loaded_at": loaded_at}
    if extras:
        pairs = []
        for index, (target, header) in enumerate(extras):
            params[f"extra_{index}"] = header
            pairs.append(f"$extra_{index}, s.{_q(target)}")
        all_null = " AND ".join(f"s.{_q(t)} IS NULL" for t, _ in extras)
        extra_sql = f"CASE WHEN {all_null} THEN NULL ELSE json_object({', '.join(pairs)})::VARCHAR END"
    else:
        extra_sql = "NULL"
    target_columns = ", ".join([*map(_q, toast_file.column_names), _q(EXTRA_COLUMN), *(_q(n) for n, _ in LINEAGE_COLUMNS)])
    # Row numbers come from the order of the read's rows (see _CsvStream), which the window
    # follows: it runs on one thread. A file's rows are numbered from where its records start
    # when every record before it was loaded; a file whose first row then is not 1 (records
    # rejected before it) is shifted below, and rows after a rejected record are renumbered
    # with the rejects. Numbering per file with a window (the scan's number minus its minimum
    # by file name) held every row of the scan in memory at once.
    stream = _CsvStream(conn, signature, encoding, skip, [m.path for m in members], suffix)
    conn.register(f"_rows_{suffix}", stream.reader)
    try:
        conn.execute(
            f"""
            INSERT INTO {RAW_SCHEMA}.{_q(entity)} ({target_columns})
            SELECT {", ".join("s." + c if c != "NULL" else c for c in select_columns)},
                   {extra_sql},
                   f.location_id, f.business_date, f.source_file, f.sha256,
                   s._scan_rn - f.row_offset,
                   $loaded_at
            FROM (SELECT *, row_number() OVER () AS _scan_rn FROM _rows_{suffix}) s
            JOIN {files_table} f ON f.path = s.filename
            """,
            params,
        )
    except Exception:
        stream.raise_failure()  # the reader's own error says more than the stream's
        raise
    finally:
        conn.unregister(f"_rows_{suffix}")
        stream.close()
    # The stream's last batch raised any failure of the read, so the INSERT succeeding means
    # the files were read to the end and their rejects are in.
    conn.register(rejects, stream.rejects)
    conn.register(reject_scans, stream.reject_scans)
    loaded, shifted = {}, []
    for source_file, count, first in conn.execute(
        f"SELECT _source_file, count(*), min(_row_number) FROM {RAW_SCHEMA}.{_q(entity)} "
        f"WHERE _loaded_at = $loaded_at AND _source_file IN (SELECT source_file FROM {files_table}) GROUP BY 1",
        {"loaded_at": loaded_at},
    ).fetchall():
        loaded[source_file] = count
        if first != 1:
            shifted.append((source_file, first - 1))
    if shifted:  # numbered from the file's first loaded row, as if the scan held only this file
        with _registered(conn, "_shifted", pd.DataFrame(shifted, columns=["source_file", "shift"])):
            conn.execute(
                f"""UPDATE {RAW_SCHEMA}.{_q(entity)} AS t SET _row_number = t._row_number - s.shift
                    FROM _shifted s WHERE t._source_file = s.source_file AND t._loaded_at = $loaded_at""",
                {"loaded_at": loaded_at},
            )
    reject_lines: dict[str, set[int]] = defaultdict(set)
    for source_file, line in conn.execute(
        f"""SELECT DISTINCT f.source_file, r.line FROM {rejects} r
            JOIN {reject_scans} sc ON sc.scan_id = r.scan_id AND sc.file_id = r.file_id
            JOIN {files_table} f ON f.path = sc.file_path"""
    ).fetchall():
        reject_lines[source_file].add(line)
    # A reject names its CSV row position (blank lines included); the quarantine names the
    # record number. Both readers must agree on where the records are, or the file is disputed.
    record_numbers: dict[str, dict[int, int]] = {}
    disputed: list[PreparedFile] = []
    for member in members:
        key = member.landed.key
        lines, count = reject_lines.get(key, set()), loaded.get(key, 0)
        if not lines and count == member.landed.records:
            continue
        with open(member.path, "rb") as handle:
            shape = layout(decode(handle.read(), member.landed.encoding))
        numbers = {line: number for number, line in enumerate(shape.record_lines, start=1)}
        if count + len(lines) == shape.records and lines <= numbers.keys():
            record_numbers[key] = numbers
        else:
            disputed.append(member)
    if disputed:
        conn.execute(
            f"DELETE FROM {RAW_SCHEMA}.{_q(entity)} WHERE _loaded_at = $loaded_at AND _source_file IN (SELECT unnest($keys))",
            {"loaded_at": loaded_at, "keys": [m.landed.key for m in disputed]},
        )
    if record_numbers and any(reject_lines.get(key) for key in record_numbers):
        _quarantine_rejects(conn, entity, files_table, rejects, reject_scans, loaded_at, record_numbers, len(signature))
    conn.execute(f"DROP TABLE IF EXISTS {files_table}")
    conn.unregister(rejects)
    conn.unregister(reject_scans)
    return disputed


class _CsvStream:
    """A layout's files read by DuckDB's CSV reader on a second connection, as an Arrow stream.

    The insert numbers rows with a window, which DuckDB runs on one thread, and a read inside
    the insert ran on that thread too: a day-200 load used one core of two. Here a thread reads
    the files on a second connection of the same database (DuckDB releases the GIL) while the
    insert consumes the batches, so reading and inserting use a core each. Rows stay in file
    order: a query's result keeps its scan's order while preserve_insertion_order is on
    (DuckDB's default), and the files are read in one scan as before, so the reader's rejects
    are the same. At most STREAM_QUEUE_BATCHES batches wait between the two. The second
    connection only reads files, so the load stays one transaction on the first.
    """

    def __init__(
        self, conn: duckdb.DuckDBPyConnection, signature: tuple[str, ...], encoding: str, skip: int, paths: list[str], suffix: str
    ):
        self._columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in signature) + "}"
        self._encoding, self._skip = encoding, int(skip)
        self._paths = paths
        self._reject_names = (f"_stream_rejects_{suffix}", f"_stream_reject_scans_{suffix}")
        self._schema = arrow.schema([*((name, arrow.string()) for name in signature), ("filename", arrow.string())])
        self._queue: queue.Queue = queue.Queue(maxsize=STREAM_QUEUE_BATCHES)
        self._stop = threading.Event()
        self._failure: Exception | None = None
        self.rejects: arrow.Table | None = None  # the reader's reject tables, once the rows are read
        self.reject_scans: arrow.Table | None = None
        self._cursor = conn.cursor()
        self._thread = threading.Thread(target=self._read, name="toast-csv-stream", daemon=True)
        self._thread.start()
        self.reader = arrow.RecordBatchReader.from_batches(self._schema, self._batches())

    def _read(self) -> None:
        try:
            result = self._cursor.execute(
                f"""SELECT * FROM read_csv($paths, columns = {self._columns}, header = false, skip = {self._skip},
                        filename = true, auto_detect = false, hive_partitioning = false, delim = ',', quote = '"',
                        escape = '"', strict_mode = true, null_padding = false, encoding = '{self._encoding}',
                        max_line_size = {MAX_LINE_BYTES}, buffer_size = {CSV_BUFFER_BYTES}, store_rejects = true,
                        rejects_table = '{self._reject_names[0]}', rejects_scan = '{self._reject_names[1]}')""",
                {"paths": self._paths},
            ).to_arrow_reader(STREAM_ROWS)
            for batch in result:
                if batch.schema != self._schema:
                    batch = batch.cast(self._schema)
                if not self._put(batch):
                    return
            self.rejects, self.reject_scans = (self._cursor.execute(f"SELECT * FROM {name}").to_arrow_table() for name in self._reject_names)
        except Exception as exc:  # noqa: BLE001 - raised again in the insert's thread, which reports it
            self._failure = exc
        finally:
            self._put(None)

    def _put(self, item: arrow.RecordBatch | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _batches(self) -> Iterator[arrow.RecordBatch]:
        while (batch := self._queue.get()) is not None:
            yield batch
        self.raise_failure()

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        """Stop the reading thread (after a failed insert) and close its connection."""
        self._stop.set()
        if self._thread.is_alive():
            self._cursor.interrupt()
        self._thread.join()
        for name in self._reject_names:
            self._cursor.execute(f"DROP TABLE IF EXISTS {name}")
        self._cursor.close()


def _quarantine_rejects(
    conn: duckdb.DuckDBPyConnection,
    entity: str,
    files_table: str,
    rejects: str,
    reject_scans: str,
    loaded_at: datetime,
    record_numbers: dict[str, dict[int, int]],
    header_fields: int,
) -> None:
    """Quarantine the reader's rejects of the files in `record_numbers` (CSV row position ->
    record number per file) and renumber the loaded rows of those files around them."""
    rule_case = " ".join(f"WHEN r.error_type = '{k}' THEN '{v}'" for k, v in _REJECT_RULES.items())
    rows = conn.execute(
        f"""
        SELECT f.location_id, f.business_date, f.source_file, f.sha256, f.path, r.line,
               string_agg(DISTINCT CASE {rule_case} ELSE lower(replace(r.error_type, ' ', '_')) END, ';') AS rule,
               string_agg(DISTINCT r.error_message, '; ') AS error_message,
               any_value(r.csv_line) AS raw_record,
               min(r.line_byte_position) AS byte_position
        FROM {rejects} r
        JOIN {reject_scans} sc ON sc.scan_id = r.scan_id AND sc.file_id = r.file_id
        JOIN {files_table} f ON f.path = sc.file_path
        GROUP BY ALL
        """
    ).fetchall()
    records = []
    for location_id, business_date, source_file, sha256, path, line, rule, message, raw, position in rows:
        if source_file not in record_numbers:
            continue  # a disputed file: read again as a whole
        if rule == "invalid_encoding" and position is not None:
            raw = _raw_line(path, position)  # the reader's copy has the bad bytes replaced
        raw = (raw or "").lstrip("\r\n")  # the reader prefixes the blank lines above a record
        if rule == "wrong_field_count":
            # The reader reports one message per missing column; say it once, plainly.
            fields = next(csv.reader(io.StringIO(raw, newline=""), strict=False), [])
            message = f"{len(fields)} field(s) where the header has {header_fields}"
        number = record_numbers[source_file][line]
        records.append([entity, location_id, business_date, source_file, sha256, number, rule, message, raw, loaded_at])
    if not records:
        return
    # Loaded rows were numbered by their position among loaded rows of the file; a row comes
    # after the j-th rejected record (j counted from 1) once its position exceeds x_j - j.
    rejected_rows = pd.DataFrame({"source_file": [r[3] for r in records], "row_number": [r[5] for r in records]})
    with _registered(conn, "_rejected_rows", rejected_rows):
        conn.execute(
            f"""
            UPDATE {RAW_SCHEMA}.{_q(entity)} AS t
            SET _row_number = t._row_number + (
                SELECT count(*) FROM (
                    SELECT row_number - row_number() OVER (ORDER BY row_number) AS threshold
                    FROM _rejected_rows q WHERE q.source_file = t._source_file
                ) WHERE threshold < t._row_number
            )
            WHERE t._source_file IN (SELECT DISTINCT source_file FROM _rejected_rows)
              AND t._loaded_at = $loaded_at
            """,
            {"loaded_at": loaded_at},
        )
    _insert_rows(conn, QUARANTINE_TABLE, _QUARANTINE_COLUMNS, records)


def _raw_line(path: str, position: int) -> str:
    """The original bytes of a record, undecodable bytes shown as \\xNN escapes."""
    with open(path, "rb") as handle:
        # DuckDB 1.5 reports the line start one byte late (past the previous newline) after
        # the skipped header; step back one byte and drop it only when it is a line break.
        handle.seek(max(position - 1, 0))
        first = handle.read(1)
        line = handle.readline(MAX_LINE_BYTES) if first in (b"\n", b"\r") else first + handle.readline(MAX_LINE_BYTES)
    return line.rstrip(b"\r\n").decode("utf-8", errors="backslashreplace")


def _quarantine_invalid_rows(
    conn: duckdb.DuckDBPyConnection, toast_file: ToastFile, dates: list[date], validator: RowValidator, loaded_at: datetime
) -> int:
    """Move rows that break the contract's value rules from the raw table to quarantine.

    Runs inside the load's transaction, so readers never see the rows in both places. Only
    the rows' ids and the columns the checks read leave DuckDB, streamed out of one scan and
    checked in frames of about `CHECK_BATCH_ROWS`, so the memory of the checks does not grow
    with the locations or dates of a run; the failing rows are then read whole for
    quarantine. Returns how many frames were checked.
    """
    table = f"{RAW_SCHEMA}.{_q(toast_file.entity)}"
    # Which of two rows sharing a natural key is the first (kept) depends on the rows' order.
    # Sorting every row costs as much as the checks, so the rows are sorted only when a key
    # repeats; without repeats the rules' verdicts depend neither on order nor on where the
    # frames are cut, and the checks skip the key rule. With repeats, frames are cut between
    # location-days only (the natural key is unique per location and date), in file and row
    # order within each.
    key = ", ".join(_q(c) for c in ("_location_id", "_business_date", *toast_file.natural_key))
    repeated = conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {_ON_DATES} GROUP BY {key} HAVING count(*) > 1)", _on_dates(dates)
    ).fetchone()[0]
    read = [ROW_ID, *(_q(c) for c in validator.columns(toast_file))]
    rows = conn.execute(
        f"SELECT {', '.join(read)} FROM {table} WHERE {_ON_DATES}" + (f" ORDER BY {', '.join(ROW_ORDER)}" if repeated else ""),
        _on_dates(dates),
    ).to_arrow_reader(STREAM_ROWS)
    failing: dict[int, list] = defaultdict(list)
    frames = 0
    for frame in _check_frames(rows, whole_location_days=bool(repeated)):
        for failure in validator(toast_file, frame, keys_repeat=bool(repeated)):
            failing[int(frame.at[failure.index, ROW_ID])].append(failure)
        frames += 1
    if failing:
        with _registered(conn, "_moved_rows", pd.DataFrame({"row_id": list(failing)})):
            moved = f"{ROW_ID} IN (SELECT row_id FROM _moved_rows)"
            whole = conn.execute(
                f"SELECT {ROW_ID}, * EXCLUDE ({_q(EXTRA_COLUMN)}, _loaded_at) FROM {table} WHERE {moved}"
            ).to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)
            records = _quarantine_records(toast_file, whole, failing, loaded_at)
            _insert_rows(conn, QUARANTINE_TABLE, _QUARANTINE_COLUMNS, records)
            conn.execute(f"DELETE FROM {table} WHERE {moved}")
    return frames


def _check_frames(rows: arrow.RecordBatchReader, whole_location_days: bool) -> Iterator[pd.DataFrame]:
    """The streamed rows as frames of at least `CHECK_BATCH_ROWS` rows (the last one smaller).

    With `whole_location_days` (rows sorted by location and date) a frame ends where a
    location-day ends: the rows of the last location-day read so far wait for the next frame.
    """
    pending: list[arrow.RecordBatch] = []
    count = 0
    for batch in rows:
        pending.append(batch)
        count += batch.num_rows
        if count < CHECK_BATCH_ROWS:
            continue
        table = arrow.Table.from_batches(pending)
        cut = _last_location_day_start(table) if whole_location_days else table.num_rows
        if cut == 0:
            continue  # a single location-day so far: it stays whole
        # Arrow-backed columns: no Python object per cell, a fraction of the memory.
        yield table.slice(0, cut).to_pandas(types_mapper=pd.ArrowDtype)
        rest = table.slice(cut)
        pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield arrow.Table.from_batches(pending).to_pandas(types_mapper=pd.ArrowDtype)


def _last_location_day_start(table: arrow.Table) -> int:
    """Where the rows of the table's last location-day begin (rows sorted by location and date)."""
    location, day = table.column("_location_id"), table.column("_business_date")
    other = arrow_compute.or_(
        arrow_compute.not_equal(location, location[-1]), arrow_compute.not_equal(day, day[-1])
    ).to_numpy(zero_copy_only=False)
    before = other.nonzero()[0]
    return int(before[-1]) + 1 if len(before) else 0


def _quarantine_records(
    toast_file: ToastFile, whole: pd.DataFrame, failing: dict[int, list], loaded_at: datetime
) -> list[list]:
    """One quarantine record per failing row, with every rule it breaks, in the order found.

    `whole` holds the failing rows with all their columns and row ids; `failing` maps each
    row's id to its failures.
    """
    by_key = {int(row[ROW_ID]): row for _, row in whole.iterrows()}
    records = []
    for key, row_failures in failing.items():
        row = by_key[key]
        rules = sorted({f.rule for f in row_failures})
        message = "; ".join(
            sorted({f"{f.column}: {f.rule} ({_shown(f.value)})" for f in row_failures if not f.column.startswith("_")})
        )
        original = {c.header: row[c.name] for c in toast_file.columns if c.name in whole.columns and pd.notna(row[c.name])}
        records.append(
            [toast_file.entity, row["_location_id"], row["_business_date"], row["_source_file"], row["_file_sha256"],
             int(row["_row_number"]), ";".join(rules), message, json.dumps(original, ensure_ascii=False), loaded_at]
        )
    return records


def _shown(value: object, limit: int = 80) -> str:
    """A failing value as the message quotes it: a huge cell is cut (the record keeps it all)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(str(value))} characters)"


def _quarantine_whole_file(
    conn: duckdb.DuckDBPyConnection,
    prepared: PreparedFile,
    loaded_at: datetime,
    rule: str = "file_rejected",
    reason: str | None = None,
) -> None:
    landed = prepared.landed
    message = f"file rejected: {reason or prepared.rejection} in {prepared.where}"
    records = [
        [landed.entity, landed.location_id, landed.business_date, landed.key, landed.sha256, number,
         rule, message, text, loaded_at]
        for number, text in rejected_file_records(prepared)
    ]
    if records:
        _insert_rows(conn, QUARANTINE_TABLE, _QUARANTINE_COLUMNS, records)


def _rule_counts(conn: duckdb.DuckDBPyConnection, entity: str, dates: list[date]) -> dict[str, int]:
    return dict(
        conn.execute(
            f"""SELECT rule, count(*) FROM {RAW_SCHEMA}.{QUARANTINE_TABLE}
                WHERE entity = $entity AND business_date IN (SELECT unnest($dates)) GROUP BY 1 ORDER BY 2 DESC""",
            {"entity": entity, "dates": dates},
        ).fetchall()
    )
