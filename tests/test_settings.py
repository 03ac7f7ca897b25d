"""Configuration is validated at load time and every message names the setting to fix."""

from pathlib import Path

import pytest

from toast_assets.settings import ConfigError, load_config


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "id_ed25519"
    key.write_text("not read at load time")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    return {
        "TOAST_SFTP_HOST": "sftp.example.test",
        "TOAST_SFTP_USERNAME": "group",
        "TOAST_SFTP_PRIVATE_KEY_PATH": str(key),
        "TOAST_SFTP_KNOWN_HOSTS": str(known_hosts),
        "TOAST_LAKE_URL": str(tmp_path / "lake"),
        "TOAST_DUCKDB_PATH": str(tmp_path / "toast.duckdb"),
    }


def test_complete_environment_loads(env: dict[str, str], tmp_path: Path) -> None:
    config = load_config({**env, "TOAST_EXPORT_IDS": "185129, 185130", "TOAST_SFTP_PORT": "2222"})
    assert config.sftp.port == 2222 and config.sftp.root == "/"
    assert config.export_ids == ("185129", "185130")
    assert config.lake_url == str((tmp_path / "lake").resolve())
    assert config.warehouse == "duckdb"
    assert config.sftp.connections == 2


def test_sftp_connections_reach_the_landing_resource(env: dict[str, str]) -> None:
    from toast_assets.resources import build_resources

    config = load_config({**env, "TOAST_SFTP_CONNECTIONS": "1"})
    assert config.sftp.connections == 1
    assert build_resources(config)["toast_sftp"].connections == 1


def test_duckdb_memory_limit_reaches_both_warehouses(env: dict[str, str]) -> None:
    from toast_assets.resources import build_warehouse

    assert load_config(env).duckdb_memory_limit is None  # unset: a share per DuckDB thread
    config = load_config({**env, "TOAST_DUCKDB_MEMORY_LIMIT": "2GB"})
    assert build_warehouse(config, None).memory_limit == "2GB"  # type: ignore[arg-type]
    bigquery = load_config({**env, "TOAST_DUCKDB_MEMORY_LIMIT": "1.5GiB", "TOAST_WAREHOUSE": "bigquery", "TOAST_GCP_PROJECT": "acme-toast"})
    assert build_warehouse(bigquery, None).parse_memory_limit == "1.5GiB"  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="TOAST_DUCKDB_MEMORY_LIMIT='half' is not a size"):
        load_config({**env, "TOAST_DUCKDB_MEMORY_LIMIT": "half"})


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"TOAST_SFTP_HOST": ""}, "TOAST_SFTP_HOST"),
        ({"TOAST_SFTP_USERNAME": ""}, "TOAST_SFTP_USERNAME"),
        ({"TOAST_SFTP_PORT": "twenty-two"}, "TOAST_SFTP_PORT"),
        ({"TOAST_SFTP_PORT": "70000"}, "TOAST_SFTP_PORT"),
        ({"TOAST_SFTP_PRIVATE_KEY_PATH": "/nonexistent/key"}, "TOAST_SFTP_PRIVATE_KEY_PATH"),
        ({"TOAST_SFTP_PRIVATE_KEY_PATH": ""}, "TOAST_SFTP_PRIVATE_KEY"),
        ({"TOAST_SFTP_KNOWN_HOSTS": ""}, "TOAST_SFTP_KNOWN_HOSTS"),
        ({"TOAST_SFTP_KNOWN_HOSTS": "", "TOAST_SFTP_HOST_KEY_FINGERPRINT": "md5:aa"}, "TOAST_SFTP_HOST_KEY_FINGERPRINT"),
        ({"TOAST_EXPORT_IDS": "185129,main-street"}, "TOAST_EXPORT_IDS"),
        ({"TOAST_WAREHOUSE": "snowflake"}, "TOAST_WAREHOUSE"),
        ({"TOAST_SFTP_READ_TIMEOUT": "-1"}, "TOAST_SFTP_READ_TIMEOUT"),
        ({"TOAST_SFTP_CONNECTIONS": "0"}, "TOAST_SFTP_CONNECTIONS"),
        ({"TOAST_SFTP_CONNECTIONS": "two"}, "TOAST_SFTP_CONNECTIONS"),
    ],
)
def test_bad_or_missing_setting_is_named(env: dict[str, str], change: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config({**env, **change})


def test_key_text_and_pinned_fingerprint_are_enough(env: dict[str, str]) -> None:
    env = {**env, "TOAST_SFTP_PRIVATE_KEY_PATH": "", "TOAST_SFTP_PRIVATE_KEY": "-----BEGIN OPENSSH PRIVATE KEY-----",
           "TOAST_SFTP_KNOWN_HOSTS": "", "TOAST_SFTP_HOST_KEY_FINGERPRINT": "SHA256:abc"}
    config = load_config(env)
    assert config.sftp.has_private_key_text and config.sftp.private_key_path is None
    assert config.sftp.host_key_fingerprint == "SHA256:abc"


# The lake on GCS: TOAST_LAKE_URL=gs://bucket/prefix

def test_gcs_lake_url_selects_the_gcs_lake(env: dict[str, str], tmp_path: Path) -> None:
    from toast_assets.landing.gcs_lake import GcsLakeResource
    from toast_assets.landing.lake import LocalLakeResource
    from toast_assets.resources import build_lake

    keyfile = tmp_path / "sa.json"
    keyfile.write_text("{}")
    config = load_config({**env, "TOAST_LAKE_URL": "gs://acme-toast-lake/toast/raw/", "TOAST_GCP_PROJECT": "acme-data",
                          "TOAST_GCP_KEYFILE": str(keyfile)})  # fmt: skip
    assert config.lake_url == "gs://acme-toast-lake/toast/raw"
    assert (config.lake_gcs.bucket, config.lake_gcs.prefix) == ("acme-toast-lake", "toast/raw")
    assert (config.lake_gcs.project, config.lake_gcs.keyfile) == ("acme-data", str(keyfile.resolve()))
    lake = build_lake(config)
    assert isinstance(lake, GcsLakeResource) and lake.describe() == "gs://acme-toast-lake/toast/raw"
    assert lake.gcs.project == "acme-data" and lake.gcs.service_account_key_path == str(keyfile.resolve())

    bare = load_config({**env, "TOAST_LAKE_URL": "gs://acme.toast_lake-1"})
    assert bare.lake_url == "gs://acme.toast_lake-1" and bare.lake_gcs.prefix == ""
    assert bare.lake_gcs.project is None and bare.lake_gcs.keyfile is None  # Application Default Credentials

    local = load_config({**env, "TOAST_LAKE_URL": f"file://{tmp_path / 'lake'}"})
    assert local.lake_gcs is None and local.lake_url == str((tmp_path / "lake").resolve())
    assert isinstance(build_lake(local), LocalLakeResource)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("gs://", "not a GCS bucket name"),
        ("gs://ab/toast", "not a GCS bucket name"),  # too short
        ("gs://Acme-Lake/toast", "not a GCS bucket name"),  # upper case
        ("gs://acme lake/toast", "not a GCS bucket name"),
        ("gs://-acme-lake", "not a GCS bucket name"),
        ("gs://" + "a" * 64, "1-63 characters"),
        ("gs://acme..lake", "1-63 characters"),
        ("gs://192.168.5.4", "IP address"),
        ("gs://google-toast-lake", "google"),
        ("gs://goog-lake", "goog"),
        ("gs://acme-lake/toast/../other", "plain folder path"),
        ("gs://acme-lake/toast//raw", "plain folder path"),
        ("gs://acme-lake/toast?versions=1", "plain folder path"),
        ("s3://acme-lake/toast", "gs://<bucket>/<prefix>"),
    ],
)
def test_bad_gcs_lake_url_is_explained(env: dict[str, str], url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match="TOAST_LAKE_URL") as raised:
        load_config({**env, "TOAST_LAKE_URL": url})
    assert reason in str(raised.value)


def test_missing_gcp_keyfile_is_named(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="TOAST_GCP_KEYFILE"):
        load_config({**env, "TOAST_LAKE_URL": "gs://acme-lake/toast", "TOAST_GCP_KEYFILE": "/nonexistent/sa.json"})


# -- The BigQuery warehouse (TOAST_WAREHOUSE=bigquery) -------------------------------------------


def test_bigquery_warehouse_settings_build_the_bigquery_resource(env: dict[str, str], tmp_path: Path) -> None:
    from toast_assets.raw.bigquery_warehouse import BigQueryWarehouseResource
    from toast_assets.resources import build_resources

    key = tmp_path / "sa.json"
    key.write_text("{}")
    config = load_config({**env, "TOAST_WAREHOUSE": "bigquery", "TOAST_GCP_PROJECT": "acme-toast", "TOAST_BQ_LOCATION": "EU",
                          "TOAST_BQ_RAW_DATASET": "toast_raw_eu", "TOAST_GCP_KEYFILE": str(key)})  # fmt: skip
    assert config.warehouse == "bigquery"
    assert config.bigquery is not None and config.bigquery.project == "acme-toast"
    assert (config.bigquery.location, config.bigquery.raw_dataset, config.bigquery.api_endpoint) == ("EU", "toast_raw_eu", None)
    warehouse = build_resources(config)["warehouse"]
    assert isinstance(warehouse, BigQueryWarehouseResource)
    assert (warehouse.bigquery.project, warehouse.bigquery.location, warehouse.raw_dataset) == ("acme-toast", "EU", "toast_raw_eu")
    assert warehouse.bigquery.keyfile == str(key.resolve())
    # A local lake: the load jobs upload their files themselves.
    assert warehouse.lake is None and warehouse.load_uri_prefix is None
    assert "acme-toast" in warehouse.describe()


def test_bigquery_with_a_gcs_lake_loads_from_the_bucket(env: dict[str, str]) -> None:
    from toast_assets.resources import build_resources

    config = load_config({**env, "TOAST_WAREHOUSE": "bigquery", "TOAST_GCP_PROJECT": "acme-toast",
                          "TOAST_LAKE_URL": "gs://acme-lake/toast", "TOAST_BQ_API_ENDPOINT": "http://127.0.0.1:9050"})  # fmt: skip
    resources = build_resources(config)
    warehouse = resources["warehouse"]
    assert warehouse.load_uri_prefix == "gs://acme-lake/toast"
    assert warehouse.lake is resources["lake"]
    assert config.bigquery.location == "US" and config.bigquery.raw_dataset == "toast_raw"
    assert warehouse.bigquery.api_endpoint == "http://127.0.0.1:9050"


def test_duckdb_stays_the_default_warehouse(env: dict[str, str]) -> None:
    from toast_assets.raw.duckdb_warehouse import DuckDBWarehouseResource
    from toast_assets.resources import build_resources

    config = load_config(env)
    assert config.bigquery is None
    assert isinstance(build_resources(config)["warehouse"], DuckDBWarehouseResource)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"TOAST_WAREHOUSE": "bigquery"}, "TOAST_GCP_PROJECT"),
        ({"TOAST_WAREHOUSE": "bigquery", "TOAST_GCP_PROJECT": "Acme Toast"}, "TOAST_GCP_PROJECT"),
        ({"TOAST_WAREHOUSE": "bigquery", "TOAST_GCP_PROJECT": "acme-toast", "TOAST_BQ_RAW_DATASET": "toast-raw"}, "TOAST_BQ_RAW_DATASET"),
        ({"TOAST_WAREHOUSE": "bigquery", "TOAST_GCP_PROJECT": "acme-toast", "TOAST_BQ_API_ENDPOINT": "localhost:9050"}, "TOAST_BQ_API_ENDPOINT"),
        ({"TOAST_WAREHOUSE": "bigquery", "TOAST_GCP_PROJECT": "acme-toast", "TOAST_DBT_TARGET": "duckdb"}, "TOAST_DBT_TARGET"),
        ({"TOAST_DBT_TARGET": "bigquery"}, "TOAST_DBT_TARGET"),
    ],
)
def test_bad_bigquery_setting_is_named(env: dict[str, str], change: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config({**env, **change})


def test_dbt_target_follows_the_warehouse(monkeypatch: pytest.MonkeyPatch) -> None:
    from toast_assets.dbt.project import dbt_target

    monkeypatch.delenv("TOAST_DBT_TARGET", raising=False)
    monkeypatch.setenv("TOAST_WAREHOUSE", "bigquery")
    assert dbt_target() == "bigquery"
    monkeypatch.setenv("TOAST_WAREHOUSE", "duckdb")
    assert dbt_target() == "duckdb"
    monkeypatch.delenv("TOAST_WAREHOUSE")
    assert dbt_target() == "duckdb"
    monkeypatch.setenv("TOAST_DBT_TARGET", "bigquery")
    assert dbt_target() == "bigquery"
