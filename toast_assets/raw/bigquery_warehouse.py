"""BigQuery as the warehouse: the production backend, through dagster-gcp's BigQueryResource.

The files of a run are parsed exactly as on DuckDB (`replace_entities` on a scratch DuckDB
file: the same CSV reader, rejects, Pandera rules and row numbers), so both warehouses hold
the same values and the same quarantine. What reaches BigQuery is one Parquet file per table
per run, written to the lake under `_loads/<run>/` (a landed GCS object when the lake is a
bucket; uploaded with the load job otherwise), loaded by ONE load job per table into a
staging table with the target's layout, then swapped in by one MERGE per table that deletes
the run's business dates and inserts the staged rows in the same statement. The MERGEs of a
run are one multi-statement transaction (a session), as the DuckDB load is one transaction:
a failure leaves every table with its previous rows. Batch loads are free but capped per
table per day (1,500), which is why a run never loads per file, location or date.

Values reach SQL only as query parameters; identifiers come from the contract or from a
table's own schema.
"""

import contextlib
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
from dagster_gcp import BigQueryResource
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import GoogleAPICallError, NotFound
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from google.oauth2 import service_account
from pydantic import Field

from toast_assets.landing.lake import LakeResource
from toast_assets.raw.duckdb_warehouse import ensure_raw_schema, limit_memory, memory_limit_named, replace_entities
from toast_assets.raw.prepare import PreparedFile
from toast_assets.raw.warehouse import (
    FILE_MANIFEST_TABLE,
    QUARANTINE_TABLE,
    RAW_SCHEMA,
    LoadResult,
    Reconciliation,
    RowValidator,
    WarehouseResource,
)

# Lake prefix of the per-run load files (give it a lifecycle rule; they are an audit trail).
LOADS_PREFIX = "_loads"
# Staging tables outlive a crashed run by at most this long.
STAGING_EXPIRY = timedelta(hours=24)

# DuckDB column types as BigQuery types (DECIMAL(p, s) is NUMERIC; anything else is refused).
_BQ_TYPES = {"VARCHAR": "STRING", "DATE": "DATE", "BIGINT": "INT64", "INTEGER": "INT64", "DOUBLE": "FLOAT64",
             "BOOLEAN": "BOOL", "TIMESTAMP": "TIMESTAMP", "TIMESTAMP WITH TIME ZONE": "TIMESTAMP"}  # fmt: skip
_SCOPES = ("https://www.googleapis.com/auth/bigquery", "https://www.googleapis.com/auth/cloud-platform")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROJECT = re.compile(r"[a-z0-9.:-]+")


class ToastBigQueryResource(BigQueryResource):
    """dagster-gcp's BigQueryResource, plus a service-account key file and an emulator endpoint.

    With neither it is BigQueryResource itself: application-default credentials (workload
    identity, `gcloud auth application-default login`) or `gcp_credentials`. `keyfile` is the
    key dbt's profile also reads (TOAST_GCP_KEYFILE). `api_endpoint` points the client at a
    BigQuery API emulator with anonymous credentials, as emulators expect.
    """

    keyfile: str | None = Field(default=None, description="Service-account key file (TOAST_GCP_KEYFILE).")
    api_endpoint: str | None = Field(default=None, description="BigQuery API root of an emulator (TOAST_BQ_API_ENDPOINT).")

    @contextmanager
    def get_client(self) -> Iterator[bigquery.Client]:
        if self.api_endpoint:
            credentials, options = AnonymousCredentials(), ClientOptions(api_endpoint=self.api_endpoint)
        elif self.keyfile:
            credentials, options = service_account.Credentials.from_service_account_file(self.keyfile, scopes=_SCOPES), None
        else:
            with super().get_client() as client:
                yield client
            return
        client = bigquery.Client(project=self.project, location=self.location, credentials=credentials, client_options=options)
        try:
            yield client
        finally:
            client.close()


def _ident(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a BigQuery identifier this platform creates")
    return f"`{name}`"


def _layout(table: str) -> tuple[str, list[str]]:
    """(partition column, clustering columns) of a table the raw load writes."""
    if table in (QUARANTINE_TABLE, FILE_MANIFEST_TABLE):
        return "business_date", ["entity", "location_id"]
    return "_business_date", ["_location_id"]


class BigQueryWarehouseResource(WarehouseResource):
    """Raw tables in BigQuery dataset `raw_dataset` of `bigquery.project`; dbt's datasets
    (toast_staging, toast_marts, toast_reference, ...) are read under their own names."""

    bigquery: ToastBigQueryResource
    raw_dataset: str = Field(default=RAW_SCHEMA, description="Dataset of the raw tables (TOAST_BQ_RAW_DATASET).")
    lake: LakeResource | None = Field(default=None, description="Lake the per-run load files are written to.")
    load_uri_prefix: str | None = Field(
        default=None,
        description="gs:// URI of the lake root: load jobs read the load files from there. "
        "None: the load job uploads the file itself.",
    )
    parse_memory_limit: str | None = Field(
        default=None,
        description="DuckDB's memory while it parses the run's files before the load jobs (TOAST_DUCKDB_MEMORY_LIMIT). "
        "None: a share per DuckDB thread (duckdb_warehouse.default_memory_limit).",
    )

    # -- plumbing ----------------------------------------------------------------------------

    def describe(self) -> str:
        where = f" in {self.bigquery.location}" if self.bigquery.location else ""
        endpoint = f" at {self.bigquery.api_endpoint}" if self.bigquery.api_endpoint else ""
        return f"BigQuery project {self.bigquery.project}, dataset {self.raw_dataset}{where}{endpoint}"

    def _dataset(self, schema: str) -> str:
        # dbt names its datasets exactly as the schemas (macros/generate_schema_name.sql).
        return self.raw_dataset if schema == RAW_SCHEMA else schema

    def _table_id(self, client: bigquery.Client, dataset: str, table: str) -> str:
        _ident(dataset), _ident(table)
        return f"{client.project}.{dataset}.{table}"

    def _sql_name(self, client: bigquery.Client, dataset: str, table: str) -> str:
        if not _PROJECT.fullmatch(client.project):
            raise ValueError(f"{client.project!r} is not a GCP project id")
        return f"`{client.project}`.{_ident(dataset)}.{_ident(table)}"

    def _ensure_dataset(self, client: bigquery.Client, dataset: str) -> None:
        # Terraform creates the datasets in production (the pipeline's account may not);
        # create only what is missing, e.g. on an emulator.
        try:
            client.get_dataset(f"{client.project}.{dataset}")
        except NotFound:
            ds = bigquery.Dataset(f"{client.project}.{dataset}")
            ds.location = self.bigquery.location
            client.create_dataset(ds, exists_ok=True)

    def _ensure_table(self, client: bigquery.Client, table: str, schema: list[bigquery.SchemaField]) -> bigquery.Table:
        """The raw-side table with the contract's columns, created day-partitioned and clustered;
        columns a newer contract adds are appended (never dropped or retyped)."""
        table_id = self._table_id(client, self.raw_dataset, table)
        try:
            existing = client.get_table(table_id)
        except NotFound:
            return client.create_table(_partitioned(table_id, table, schema), exists_ok=True)
        known = {f.name for f in existing.schema}
        missing = [f for f in schema if f.name not in known]
        if missing:
            existing.schema = [*existing.schema, *missing]
            existing = client.update_table(existing, ["schema"])
        return existing

    def _query(
        self, client: bigquery.Client, sql: str, session: str | None = None, **params: object
    ) -> bigquery.QueryJob:
        config = bigquery.QueryJobConfig(query_parameters=[_param(k, v) for k, v in params.items()])
        if session:
            config.connection_properties = [bigquery.ConnectionProperty("session_id", session)]
        job = client.query(sql, job_config=config)
        job.result()
        return job

    # -- the raw load ------------------------------------------------------------------------

    def replace_raw_partitions(
        self, entities: list[str], dates: list[date], files: list[PreparedFile], validator: RowValidator | None = None
    ) -> LoadResult:
        loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
        run = f"{loaded_at:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory(prefix="toast-bq-load-") as scratch:
            with memory_limit_named(self.parse_memory_limit), duckdb.connect(str(Path(scratch) / "parse.duckdb")) as conn:
                conn.execute("SET TimeZone = 'UTC'")  # lineage times are UTC
                limit_memory(conn, self.parse_memory_limit)
                ensure_raw_schema(conn)
                result = replace_entities(conn, entities, dates, files, loaded_at, validator)
                tables = [*entities, QUARANTINE_TABLE, FILE_MANIFEST_TABLE]
                exports = {
                    table: _export(conn.sql(f'SELECT * FROM {RAW_SCHEMA}."{table}"'), Path(scratch) / f"{table}.parquet")
                    for table in tables
                }
            with self.bigquery.get_client() as client:
                self._ensure_dataset(client, self.raw_dataset)
                for table in tables:
                    self._ensure_table(client, table, exports[table][0])
                staged: dict[str, str] = {}
                try:
                    self._stage(client, run, {t: exports[t] for t in tables if exports[t][1]}, staged)
                    self._swap_in_one_transaction(client, tables, exports, staged, {"dates": dates, "entities": entities})
                finally:
                    for staging in staged.values():
                        client.delete_table(staging, not_found_ok=True)
        return result

    def _stage(
        self,
        client: bigquery.Client,
        run: str,
        exports: dict[str, tuple[list[bigquery.SchemaField], Path]],
        staged: dict[str, str],
    ) -> None:
        """One load job per table into a fresh staging table (recorded in `staged` as soon as it
        exists, so the caller drops it whatever happens); all the run's jobs run at once."""
        jobs = []
        for table, (fields, path) in exports.items():
            staging_id = self._table_id(client, self.raw_dataset, f"_load_{table}_{run}")
            staging = _partitioned(staging_id, table, fields)
            staging.expires = datetime.now(timezone.utc) + STAGING_EXPIRY
            client.create_table(staging)
            staged[table] = staging_id
            config = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET,
                write_disposition=bigquery.WriteDisposition.WRITE_APPEND,  # into the fresh, empty staging table
                schema=fields,
            )
            if self.lake is not None and self.load_uri_prefix:
                key = f"{LOADS_PREFIX}/{run}/{table}.parquet"
                self.lake.put_bytes(key, path.read_bytes())
                uri = f"{self.load_uri_prefix.rstrip('/')}/{key}"
                jobs.append(client.load_table_from_uri(uri, staging_id, job_config=config))
            else:
                with path.open("rb") as handle:
                    jobs.append(client.load_table_from_file(handle, staging_id, job_config=config))
        for job in jobs:
            job.result()

    def _swap_in_one_transaction(
        self,
        client: bigquery.Client,
        tables: list[str],
        exports: dict[str, tuple[list[bigquery.SchemaField], Path | None]],
        staged: dict[str, str],
        scope: dict[str, list],
    ) -> None:
        """Every table's swap inside one transaction: BEGIN, one statement per table and COMMIT
        are jobs of one session, each job with its own query parameters."""
        begin = client.query("BEGIN TRANSACTION", job_config=bigquery.QueryJobConfig(create_session=True))
        begin.result()
        session = begin.session_info.session_id
        try:
            for table in tables:
                self._swap(client, session, table, exports[table][0], staged.get(table), scope)
            self._query(client, "COMMIT TRANSACTION", session)
        except BaseException:
            # The swap's own error is the one to report; BigQuery also rolls back a transaction
            # that is never committed when its session ends.
            with contextlib.suppress(GoogleAPICallError):
                self._query(client, "ROLLBACK TRANSACTION", session)
            raise

    def _swap(
        self,
        client: bigquery.Client,
        session: str,
        table: str,
        fields: list[bigquery.SchemaField],
        staging: str | None,
        scope: dict[str, list],
    ) -> None:
        """Replace the run's business dates of one table in one statement."""
        name = self._sql_name(client, self.raw_dataset, table)
        if table in (QUARANTINE_TABLE, FILE_MANIFEST_TABLE):
            where, params = "T.entity IN UNNEST(@entities) AND T.business_date IN UNNEST(@dates)", scope
        else:
            where, params = "T._business_date IN UNNEST(@dates)", {"dates": scope["dates"]}
        if staging is None:
            self._query(client, f"DELETE FROM {name} AS T WHERE {where}", session, **params)
            return
        # MERGE ... ON FALSE: every staged row is "not matched" (inserted) and every target row
        # of the run's dates is "not matched by source" (deleted), in one statement. The column
        # list is spelled out: the emulator does not understand INSERT ROW.
        columns = ", ".join(_ident(f.name) for f in fields)
        staged_name = self._sql_name(client, self.raw_dataset, staging.rsplit(".", 1)[1])
        self._query(
            client,
            f"MERGE {name} AS T USING {staged_name} AS S ON FALSE "
            f"WHEN NOT MATCHED BY SOURCE AND {where} THEN DELETE "
            f"WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({columns})",
            session,
            **params,
        )

    # -- reading back ------------------------------------------------------------------------

    def reconcile(self, entities: list[str], dates: list[date]) -> list[Reconciliation]:
        if not entities:
            return []
        with self.bigquery.get_client() as client:
            manifest = self._sql_name(client, self.raw_dataset, FILE_MANIFEST_TABLE)
            quarantine = self._sql_name(client, self.raw_dataset, QUARANTINE_TABLE)
            try:
                for table in [*entities, FILE_MANIFEST_TABLE, QUARANTINE_TABLE]:
                    client.get_table(self._table_id(client, self.raw_dataset, table))
            except NotFound:
                return []  # nothing loaded yet
            loaded = " UNION ALL ".join(
                f"SELECT _source_file AS source_file, COUNT(*) AS n FROM {self._sql_name(client, self.raw_dataset, e)} "
                "WHERE _business_date IN UNNEST(@dates) GROUP BY 1"
                for e in entities
            )
            rows = self._query(
                client,
                f"""
                WITH loaded AS ({loaded}),
                quarantined AS (
                    SELECT source_file, COUNT(DISTINCT row_number) AS n FROM {quarantine}
                    WHERE entity IN UNNEST(@entities) AND business_date IN UNNEST(@dates) GROUP BY 1
                )
                SELECT m.entity, m.location_id, CAST(m.business_date AS STRING) AS business_date, m.file_name,
                       m.source_rows, COALESCE(l.n, 0) AS loaded_rows, COALESCE(q.n, 0) AS quarantined_rows
                FROM {manifest} AS m
                LEFT JOIN loaded AS l ON l.source_file = m.source_file
                LEFT JOIN quarantined AS q ON q.source_file = m.source_file
                WHERE m.entity IN UNNEST(@entities) AND m.business_date IN UNNEST(@dates)
                """,
                entities=entities,
                dates=dates,
            ).result()
            out = [Reconciliation(r.entity, r.location_id, r.business_date, r.file_name, r.source_rows,
                                  r.loaded_rows, r.quarantined_rows) for r in rows]  # fmt: skip
        order = {e: i for i, e in enumerate(entities)}
        return sorted(out, key=lambda r: (order[r.entity], r.business_date, r.location_id))

    def read_frame(
        self, schema: str, table: str, date_column: str, dates: list[date], columns: list[str] | None = None
    ) -> pd.DataFrame:
        with self.bigquery.get_client() as client:
            existing = self._columns(client, schema, table)
            if existing is None:
                return pd.DataFrame(columns=columns or [])
            wanted = columns or existing
            unknown = [c for c in [*wanted, date_column] if c not in existing]
            if unknown:
                raise KeyError(f"{schema}.{table} has no column(s) {unknown}")
            sql = (
                f"SELECT {', '.join(_ident(c) for c in wanted)} FROM {self._sql_name(client, self._dataset(schema), table)} "
                f"WHERE {_ident(date_column)} IN UNNEST(@dates)"
            )
            return _frame(self._query(client, sql, dates=list(dates)), wanted)

    def read_table(self, schema: str, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        with self.bigquery.get_client() as client:
            existing = self._columns(client, schema, table)
            if existing is None:
                return pd.DataFrame(columns=columns or [])
            wanted = columns or existing
            unknown = [c for c in wanted if c not in existing]
            if unknown:
                raise KeyError(f"{schema}.{table} has no column(s) {unknown}")
            sql = f"SELECT {', '.join(_ident(c) for c in wanted)} FROM {self._sql_name(client, self._dataset(schema), table)}"
            return _frame(self._query(client, sql), wanted)

    def replace_frame(self, schema: str, table: str, date_column: str, dates: list[date], frame: pd.DataFrame) -> None:
        dataset = self._dataset(schema)
        with self.bigquery.get_client() as client:
            self._ensure_dataset(client, dataset)
            staging_id = self._table_id(client, dataset, f"_load_{table}_{uuid.uuid4().hex[:12]}")
            try:
                with tempfile.TemporaryDirectory(prefix="toast-bq-frame-") as scratch, duckdb.connect() as conn:
                    conn.execute("SET TimeZone = 'UTC'")  # naive times in frames are UTC
                    fields, path = _export(conn.from_df(frame), Path(scratch) / "frame.parquet")
                    staging = bigquery.Table(staging_id, schema=fields)
                    staging.expires = datetime.now(timezone.utc) + STAGING_EXPIRY
                    client.create_table(staging)
                    if path is not None:
                        config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET, schema=fields)
                        with path.open("rb") as handle:
                            client.load_table_from_file(handle, staging_id, job_config=config).result()
                table_id = self._table_id(client, dataset, table)
                try:
                    client.get_table(table_id)
                except NotFound:
                    target = bigquery.Table(table_id, schema=fields)
                    if any(f.name == date_column and f.field_type == "DATE" for f in fields):
                        target.time_partitioning = bigquery.TimePartitioning(field=date_column)
                    client.create_table(target, exists_ok=True)
                columns = ", ".join(_ident(f.name) for f in fields)
                self._query(
                    client,
                    f"MERGE {self._sql_name(client, dataset, table)} AS T "
                    f"USING {self._sql_name(client, dataset, staging_id.rsplit('.', 1)[1])} AS S "
                    f"ON FALSE WHEN NOT MATCHED BY SOURCE AND T.{_ident(date_column)} IN UNNEST(@dates) THEN DELETE "
                    f"WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({columns})",
                    dates=list(dates),
                )
            finally:
                client.delete_table(staging_id, not_found_ok=True)

    def _columns(self, client: bigquery.Client, schema: str, table: str) -> list[str] | None:
        try:
            return [f.name for f in client.get_table(self._table_id(client, self._dataset(schema), table)).schema]
        except NotFound:
            return None


def _partitioned(table_id: str, table: str, schema: list[bigquery.SchemaField]) -> bigquery.Table:
    partition, clustering = _layout(table)
    out = bigquery.Table(table_id, schema=schema)
    out.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=partition)
    out.clustering_fields = clustering
    return out


def _bq_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return "NUMERIC"
    if duckdb_type not in _BQ_TYPES:
        raise TypeError(f"no BigQuery column type for DuckDB type {duckdb_type}")
    return _BQ_TYPES[duckdb_type]


def _export(relation: duckdb.DuckDBPyRelation, path: Path) -> tuple[list[bigquery.SchemaField], Path | None]:
    """Rows' BigQuery schema, and the rows as Parquet (None when there are none)."""
    described = [(name, str(kind)) for name, kind in zip(relation.columns, relation.types)]
    for name, _ in described:
        _ident(name)
    schema = [bigquery.SchemaField(name, _bq_type(kind)) for name, kind in described]
    if not relation.aggregate("count(*)").fetchone()[0]:
        return schema, None
    # Naive lineage times are UTC (the scratch session's time zone): written adjusted to UTC,
    # which is what BigQuery loads into a TIMESTAMP column.
    select = ", ".join(
        f'CAST("{name}" AS TIMESTAMPTZ) AS "{name}"' if kind == "TIMESTAMP" else f'"{name}"' for name, kind in described
    )
    relation.project(select).write_parquet(str(path))
    return schema, path


def _param(name: str, value: object) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    if isinstance(value, (list, tuple)):
        kind = "DATE" if value and isinstance(value[0], date) else "STRING"
        return bigquery.ArrayQueryParameter(name, kind, list(value))
    kind = "DATE" if isinstance(value, date) else "INT64" if isinstance(value, int) else "STRING"
    return bigquery.ScalarQueryParameter(name, kind, value)


def _frame(job: bigquery.QueryJob, columns: list[str]) -> pd.DataFrame:
    """Query rows as DuckDB's `.df()` shapes them: dates as datetime64, NUMERIC as float,
    TIMESTAMP as naive UTC, so code above the warehouse sees one kind of frame."""
    frame = job.result().to_arrow(create_bqstorage_client=False).to_pandas(date_as_object=False)
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object and values.map(lambda v: isinstance(v, Decimal)).any():
            frame[column] = values.astype(float)
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            frame[column] = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return frame.reindex(columns=columns)
