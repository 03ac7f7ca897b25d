"""Configuration from the environment, validated when the code location loads.

Every knob is a `TOAST_*` environment variable; a bad or missing one stops the load with a
message that names it and says what to set, instead of failing later inside a run.
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / ".data"
# A big night is fetched over this many SFTP connections, each in its own worker process (one
# connection is bound by one core); TOAST_SFTP_CONNECTIONS=1 keeps to one session per run,
# for a server that limits sessions per login.
DEFAULT_SFTP_CONNECTIONS = 2
# DuckDB's memory during a raw load unless TOAST_DUCKDB_MEMORY_LIMIT sets it: this much for each
# of DuckDB's threads, and at least the floor. DuckDB's own default, 80% of the memory it sees,
# let it keep a night's uncommitted rows in memory, so the load's peak grew with the locations;
# capped, it writes them beside the database instead. Each thread reading CSV files needs
# buffers of its own: measured on day-200, 256MB loads with 2 or 4 threads and fails with 16.
# With 2 threads, 256MB loads a night of 400 locations and a year of 5 locations as one run
# (README, Performance).
DUCKDB_MEMORY_PER_THREAD_MB = 128
DUCKDB_MEMORY_FLOOR_MB = 256
# A size DuckDB reads for its memory_limit.
MEMORY_LIMIT_PATTERN = r"[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)"


class ConfigError(ValueError):
    """A `TOAST_*` setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class SftpConfig:
    host: str
    port: int
    username: str
    private_key_path: str | None
    has_private_key_text: bool  # the key itself stays in the environment, never in config
    has_passphrase: bool
    known_hosts_path: str | None
    host_key_fingerprint: str | None
    root: str
    connect_timeout: float
    read_timeout: float
    connections: int  # SFTP connections (worker processes) for a big night; 1 = the step's own only


@dataclass(frozen=True)
class GcsLakeConfig:
    """The lake in a GCS bucket (TOAST_LAKE_URL=gs://bucket/prefix)."""

    bucket: str
    prefix: str  # without leading or trailing slash; may be empty
    project: str | None  # TOAST_GCP_PROJECT; None: the credentials' project
    keyfile: str | None  # TOAST_GCP_KEYFILE; None: Application Default Credentials


@dataclass(frozen=True)
class BigQueryConfig:
    """Where the BigQuery warehouse lives (TOAST_WAREHOUSE=bigquery)."""

    project: str
    raw_dataset: str  # dbt's own datasets keep their names: toast_staging, toast_marts, ...
    location: str
    api_endpoint: str | None  # a BigQuery API emulator (tests); None = Google's API
    keyfile: str | None  # TOAST_GCP_KEYFILE (as dbt's profile); None: Application Default Credentials


WAREHOUSES = ("duckdb", "bigquery")
# dbt builds the marts where the raw tables are: the target follows the warehouse.
DBT_TARGET_OF_WAREHOUSE = {"duckdb": "duckdb", "bigquery": "bigquery"}
_GCP_PROJECT = re.compile(r"(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
_BQ_DATASET = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,1023}")


@dataclass(frozen=True)
class ToastConfig:
    sftp: SftpConfig
    export_ids: tuple[str, ...]  # empty: every numeric folder on the server
    lake_url: str
    warehouse: str
    duckdb_path: str
    quarantine_threshold: float
    # DuckDB's memory during a load (the DuckDB warehouse, and the parse before BigQuery's load
    # jobs); None: DUCKDB_MEMORY_PER_THREAD_MB per DuckDB thread, at least DUCKDB_MEMORY_FLOOR_MB.
    duckdb_memory_limit: str | None = None
    bigquery: BigQueryConfig | None = None  # set when warehouse == "bigquery"
    lake_gcs: GcsLakeConfig | None = None  # set when lake_url is gs://...; else lake_url is a local folder


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value and value.strip() else None


def _require(env: Mapping[str, str], name: str, hint: str) -> str:
    value = _get(env, name)
    if value is None:
        raise ConfigError(f"{name} is not set: {hint}")
    return value


def number_setting(env: Mapping[str, str], name: str, default: float, cast: type = float, low: float = 0) -> float:
    """The number `name` sets in `env` (cast with `cast`), `default` when unset; a ConfigError
    naming the setting when it is not a number or not above `low`."""
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = cast(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if value <= low:
        raise ConfigError(f"{name}={raw!r} must be greater than {low}")
    return value


def _memory_limit(env: Mapping[str, str], name: str) -> str | None:
    raw = _get(env, name)
    if raw is not None and not re.fullmatch(MEMORY_LIMIT_PATTERN, raw):
        raise ConfigError(f"{name}={raw!r} is not a size such as 512MB or 2GB (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)")
    return raw


def _existing_file(env: Mapping[str, str], name: str) -> str | None:
    raw = _get(env, name)
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(f"{name}={raw!r}: no such file")
    return str(path.resolve())


def duckdb_path(env: Mapping[str, str] | None = None) -> str:
    """The DuckDB warehouse file: TOAST_DUCKDB_PATH, or `.data/toast.duckdb` in the checkout."""
    env = os.environ if env is None else env
    return str(Path(_get(env, "TOAST_DUCKDB_PATH") or DEFAULT_DATA_DIR / "toast.duckdb").expanduser().resolve())


def parse_gcs_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of `gs://bucket/optional/prefix`, checked against GCS's naming rules."""
    rest = url.removeprefix("gs://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    if not 3 <= len(bucket) <= 222 or not re.fullmatch(r"[a-z0-9][a-z0-9._-]*[a-z0-9]", bucket):
        raise ConfigError(
            f"TOAST_LAKE_URL={url!r}: {bucket!r} is not a GCS bucket name (3-63 lowercase letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit); write gs://<bucket>/<prefix>"
        )
    if any(not 1 <= len(part) <= 63 for part in bucket.split(".")):
        raise ConfigError(f"TOAST_LAKE_URL={url!r}: each dot-separated part of a bucket name is 1-63 characters")
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", bucket):
        raise ConfigError(f"TOAST_LAKE_URL={url!r}: a bucket name cannot be an IP address")
    if bucket.startswith("goog") or "google" in bucket or "g00gle" in bucket:
        raise ConfigError(f"TOAST_LAKE_URL={url!r}: GCS refuses bucket names starting with 'goog' or containing 'google'")
    if any(c in prefix for c in "?#\\\x00\r\n") or any(part in ("", ".", "..") for part in prefix.split("/") if prefix):
        raise ConfigError(
            f"TOAST_LAKE_URL={url!r}: the prefix must be a plain folder path (no '.', '..', empty parts, '?', '#', "
            "backslashes or control characters)"
        )
    return bucket, prefix


def _lake(env: Mapping[str, str]) -> tuple[str, GcsLakeConfig | None]:
    """TOAST_LAKE_URL: a local folder (optionally file://...) or gs://bucket/prefix."""
    lake_url = _get(env, "TOAST_LAKE_URL") or str(DEFAULT_DATA_DIR / "lake")
    if lake_url.startswith("gs://"):
        bucket, prefix = parse_gcs_url(lake_url)
        gcs = GcsLakeConfig(
            bucket=bucket,
            prefix=prefix,
            project=_get(env, "TOAST_GCP_PROJECT"),
            keyfile=_existing_file(env, "TOAST_GCP_KEYFILE"),
        )
        return f"gs://{bucket}/{prefix}".rstrip("/"), gcs
    if "://" in lake_url and not lake_url.startswith("file://"):
        raise ConfigError(
            f"TOAST_LAKE_URL={lake_url!r}: use a local folder (or file://<folder>) or a GCS bucket as gs://<bucket>/<prefix>"
        )
    return str(Path(lake_url.removeprefix("file://")).expanduser().resolve()), None


def load_config(env: Mapping[str, str] | None = None) -> ToastConfig:
    env = os.environ if env is None else env
    hint = "set it to your Toast SFTP export login, or run `make demo` and `source .demo/toast.env`"
    port = int(number_setting(env, "TOAST_SFTP_PORT", 22, int))
    if port > 65535:
        raise ConfigError(f"TOAST_SFTP_PORT={port} is not a TCP port (1-65535)")
    key_path = _existing_file(env, "TOAST_SFTP_PRIVATE_KEY_PATH")
    has_key_text = _get(env, "TOAST_SFTP_PRIVATE_KEY") is not None
    if not key_path and not has_key_text:
        raise ConfigError(
            "neither TOAST_SFTP_PRIVATE_KEY_PATH nor TOAST_SFTP_PRIVATE_KEY is set: Toast's SFTP accepts "
            "public-key logins only; point TOAST_SFTP_PRIVATE_KEY_PATH at the private key whose public half "
            "you registered with Toast"
        )
    known_hosts = _existing_file(env, "TOAST_SFTP_KNOWN_HOSTS")
    fingerprint = _get(env, "TOAST_SFTP_HOST_KEY_FINGERPRINT")
    if fingerprint and not fingerprint.startswith("SHA256:"):
        raise ConfigError(f"TOAST_SFTP_HOST_KEY_FINGERPRINT={fingerprint!r} must look like 'SHA256:<base64>'")
    if not known_hosts and not fingerprint:
        raise ConfigError(
            "neither TOAST_SFTP_KNOWN_HOSTS nor TOAST_SFTP_HOST_KEY_FINGERPRINT is set: the server's host key "
            "is always verified; run `ssh-keyscan -p <port> <host> > known_hosts` once, check the fingerprint "
            "with Toast, and point TOAST_SFTP_KNOWN_HOSTS at that file"
        )
    sftp = SftpConfig(
        host=_require(env, "TOAST_SFTP_HOST", hint),
        port=port,
        username=_require(env, "TOAST_SFTP_USERNAME", hint),
        private_key_path=key_path,
        has_private_key_text=has_key_text,
        has_passphrase=_get(env, "TOAST_SFTP_PRIVATE_KEY_PASSPHRASE") is not None,
        known_hosts_path=known_hosts,
        host_key_fingerprint=fingerprint,
        root=_get(env, "TOAST_SFTP_ROOT") or "/",
        connect_timeout=number_setting(env, "TOAST_SFTP_CONNECT_TIMEOUT", 15.0),
        read_timeout=number_setting(env, "TOAST_SFTP_READ_TIMEOUT", 60.0),
        connections=number_setting(env, "TOAST_SFTP_CONNECTIONS", DEFAULT_SFTP_CONNECTIONS, int),
    )

    export_ids = tuple(x.strip() for x in (_get(env, "TOAST_EXPORT_IDS") or "").split(",") if x.strip())
    bad = [x for x in export_ids if not re.fullmatch(r"\d+", x)]
    if bad:
        raise ConfigError(f"TOAST_EXPORT_IDS has entries that are not numeric export folder ids: {bad}")

    lake_url, lake_gcs = _lake(env)

    warehouse = warehouse_name(env)
    bigquery = bigquery_config(env) if warehouse == "bigquery" else None

    threshold = number_setting(env, "TOAST_QUARANTINE_THRESHOLD", 0.001, float, low=-1)
    if not 0 <= threshold < 1:
        raise ConfigError(f"TOAST_QUARANTINE_THRESHOLD={threshold} must be a share between 0 and 1 (0.001 = 0.1%)")

    return ToastConfig(
        sftp=sftp,
        export_ids=export_ids,
        lake_url=lake_url,
        lake_gcs=lake_gcs,
        warehouse=warehouse,
        duckdb_path=duckdb_path(env),
        duckdb_memory_limit=_memory_limit(env, "TOAST_DUCKDB_MEMORY_LIMIT"),
        quarantine_threshold=threshold,
        bigquery=bigquery,
    )


def warehouse_name(env: Mapping[str, str] | None = None) -> str:
    """TOAST_WAREHOUSE (duckdb, the embedded default, or bigquery), checked against TOAST_DBT_TARGET."""
    env = os.environ if env is None else env
    warehouse = (_get(env, "TOAST_WAREHOUSE") or "duckdb").lower()
    if warehouse not in WAREHOUSES:
        raise ConfigError(f"TOAST_WAREHOUSE={warehouse!r}: supported warehouses are: {', '.join(WAREHOUSES)}")
    target = _get(env, "TOAST_DBT_TARGET")
    if target and target != DBT_TARGET_OF_WAREHOUSE[warehouse]:
        raise ConfigError(
            f"TOAST_DBT_TARGET={target!r} with TOAST_WAREHOUSE={warehouse!r}: dbt must build the marts in the "
            f"warehouse that holds the raw tables; unset TOAST_DBT_TARGET (it follows TOAST_WAREHOUSE) or set it "
            f"to {DBT_TARGET_OF_WAREHOUSE[warehouse]!r}"
        )
    return warehouse


def bigquery_config(env: Mapping[str, str]) -> BigQueryConfig:
    project = _require(env, "TOAST_GCP_PROJECT", "TOAST_WAREHOUSE=bigquery needs the GCP project id that holds the datasets")
    if not _GCP_PROJECT.fullmatch(project):
        raise ConfigError(f"TOAST_GCP_PROJECT={project!r} is not a GCP project id (lowercase letters, digits, hyphens)")
    raw_dataset = _get(env, "TOAST_BQ_RAW_DATASET") or "toast_raw"
    if not _BQ_DATASET.fullmatch(raw_dataset):
        raise ConfigError(f"TOAST_BQ_RAW_DATASET={raw_dataset!r} is not a BigQuery dataset name (letters, digits, underscores)")
    endpoint = _get(env, "TOAST_BQ_API_ENDPOINT")
    if endpoint and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", endpoint):
        raise ConfigError(f"TOAST_BQ_API_ENDPOINT={endpoint!r} must be an http(s) URL, e.g. http://127.0.0.1:9050")
    return BigQueryConfig(
        project=project,
        raw_dataset=raw_dataset,
        location=_get(env, "TOAST_BQ_LOCATION") or "US",
        api_endpoint=endpoint,
        keyfile=_existing_file(env, "TOAST_GCP_KEYFILE"),
    )
