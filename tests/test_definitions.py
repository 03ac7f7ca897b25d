"""The code location loads, and its asset keys and groups are reviewed like code.

Run with UPDATE_SNAPSHOTS=1 to rewrite `snapshots/asset_keys.txt` after an intended change.
"""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_keys.txt"


def embedded_default_settings(folder: Path) -> dict[str, str]:
    """The TOAST_* settings of the embedded default (DuckDB, a local lake), with files in `folder`."""
    key, known_hosts = folder / "id_ed25519", folder / "known_hosts"
    key.write_text("unused at load time")
    known_hosts.write_text("")
    return {
        "TOAST_SFTP_HOST": "127.0.0.1",
        "TOAST_SFTP_USERNAME": "group",
        "TOAST_SFTP_PRIVATE_KEY_PATH": str(key),
        "TOAST_SFTP_KNOWN_HOSTS": str(known_hosts),
        "TOAST_LAKE_URL": str(folder / "lake"),
        "TOAST_DUCKDB_PATH": str(folder / "toast.duckdb"),
    }


@pytest.fixture()
def definitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    for name in [n for n in os.environ if n.startswith("TOAST_")]:
        monkeypatch.delenv(name)
    for name, value in embedded_default_settings(tmp_path).items():
        monkeypatch.setenv(name, value)
    import toast_assets.definitions as module

    return importlib.reload(module).defs


def test_definitions_load_and_resolve(definitions: dg.Definitions) -> None:
    repository = definitions.get_repository_def()
    assert repository.get_job("toast_daily")
    graph = repository.asset_graph
    assert graph.get_all_asset_keys()


def test_asset_keys_and_groups_snapshot(definitions: dg.Definitions) -> None:
    graph = definitions.get_repository_def().asset_graph
    lines = sorted(f"{graph.get(key).group_name or '-'} {key.to_user_string()}" for key in graph.get_all_asset_keys())
    checks = sorted(f"check {key.asset_key.to_user_string()}:{key.name}" for key in graph.asset_check_keys)
    text = "\n".join(lines + checks) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), "run once with UPDATE_SNAPSHOTS=1 to create the snapshot"
    assert text == SNAPSHOT.read_text()


def test_lineage_runs_from_sftp_file_to_raw_table(definitions: dg.Definitions) -> None:
    graph = definitions.get_repository_def().asset_graph
    for entity in ("order_details", "time_entries"):
        raw = dg.AssetKey(["toast_raw", entity])
        landing = dg.AssetKey(["toast_landing", entity])
        assert landing in graph.get(raw).parent_keys
        assert dg.AssetKey(["toast_sftp", entity]) in graph.get(landing).parent_keys


def test_partitioned_assets_backfill_in_one_run(definitions: dg.Definitions) -> None:
    graph = definitions.get_repository_def().asset_graph
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        if node.partitions_def is not None:
            policy = node.backfill_policy
            assert policy is not None and policy.max_partitions_per_run is None, key


def test_the_embedded_default_loads_without_the_gcs_and_bigquery_libraries(tmp_path: Path) -> None:
    """A fresh process loading the code location on DuckDB and a local lake imports neither
    dagster-gcp nor the GCS and BigQuery client libraries (about 0.5 s of every run's start);
    the GCS lake and the BigQuery warehouse are imported when configured
    (tests/test_lake_gcs.py, tests/test_warehouse_bigquery.py)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TOAST_")}
    env.update(embedded_default_settings(tmp_path), DAGSTER_HOME=str(tmp_path / "dagster_home"))
    probe = (
        "import sys\n"
        "from toast_assets.definitions import defs\n"
        "assert defs.resolve_job_def('toast_daily')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('dagster_gcp', 'google.cloud.storage', 'google.cloud.bigquery'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
