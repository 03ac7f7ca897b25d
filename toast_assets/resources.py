"""Resources chosen by configuration: the only place that decides which backend runs.

The GCS lake and the BigQuery warehouse are imported only when configured: their Google
client libraries (with dagster-gcp) took about 0.5 s of every process that loads the code
location (each run, the code server, `dagster definitions validate`) on the embedded default.
"""

import dagster as dg

from toast_assets.landing.lake import LakeResource, LocalLakeResource
from toast_assets.quality.resources import QualityPolicy
from toast_assets.raw.duckdb_warehouse import DuckDBWarehouseResource
from toast_assets.raw.warehouse import WarehouseResource
from toast_assets.settings import ToastConfig
from toast_assets.sftp.resources import ToastSftpResource


def build_resources(config: ToastConfig) -> dict[str, dg.ConfigurableResource]:
    sftp = config.sftp
    lake = build_lake(config)
    return {
        "toast_sftp": ToastSftpResource(
            host=sftp.host,
            port=sftp.port,
            username=sftp.username,
            private_key_path=sftp.private_key_path,
            # Secrets stay environment references, resolved only inside the run.
            private_key=dg.EnvVar("TOAST_SFTP_PRIVATE_KEY") if sftp.has_private_key_text else None,
            private_key_passphrase=dg.EnvVar("TOAST_SFTP_PRIVATE_KEY_PASSPHRASE") if sftp.has_passphrase else None,
            known_hosts_path=sftp.known_hosts_path,
            host_key_fingerprint=sftp.host_key_fingerprint,
            root=sftp.root,
            export_ids=list(config.export_ids),
            connect_timeout=sftp.connect_timeout,
            read_timeout=sftp.read_timeout,
            connections=sftp.connections,
        ),
        "lake": lake,
        "warehouse": build_warehouse(config, lake),
        "quality": QualityPolicy(quarantine_threshold=config.quarantine_threshold),
    }


def build_lake(config: ToastConfig) -> LakeResource:
    """A GCS bucket for gs:// lake URLs, else the local folder."""
    gcs = config.lake_gcs
    if gcs is None:
        return LocalLakeResource(root=config.lake_url)
    from toast_assets.landing.gcs_lake import GcsClientResource, GcsLakeResource

    return GcsLakeResource(
        bucket=gcs.bucket,
        prefix=gcs.prefix,
        gcs=GcsClientResource(project=gcs.project, service_account_key_path=gcs.keyfile),
    )


def build_warehouse(config: ToastConfig, lake: LakeResource) -> WarehouseResource:
    """The DuckDB file (embedded default) or BigQuery (TOAST_WAREHOUSE=bigquery).

    On BigQuery the per-run load files are written to the lake: with a GCS lake every load
    job reads a landed object (`gs://<bucket>/<prefix>/_loads/...`); with a local lake the
    load job uploads the file itself.
    """
    if config.bigquery is None:
        return DuckDBWarehouseResource(database=config.duckdb_path, memory_limit=config.duckdb_memory_limit)
    from toast_assets.landing.gcs_lake import GcsLakeResource
    from toast_assets.raw.bigquery_warehouse import BigQueryWarehouseResource, ToastBigQueryResource

    bq = config.bigquery
    on_gcs = isinstance(lake, GcsLakeResource)
    return BigQueryWarehouseResource(
        bigquery=ToastBigQueryResource(project=bq.project, location=bq.location, keyfile=bq.keyfile, api_endpoint=bq.api_endpoint),
        raw_dataset=bq.raw_dataset,
        lake=lake if on_gcs else None,
        load_uri_prefix=f"gs://{lake.bucket}/{lake.prefix.strip('/')}".rstrip("/") if on_gcs else None,
        parse_memory_limit=config.duckdb_memory_limit,
    )
