"""The dbt project (`dbt_project/`) as Dagster sees it: paths, target and the manifest.

The manifest is prepared at build/install time (`dagster-dbt project prepare-and-package
--file toast_assets/dbt/project.py`), so loading the code location does not parse the
project; under `dagster dev` it is re-parsed on load to pick up edits, and a checkout that
skipped the build step parses once, on its first load. Parsing renders the profile: the
DuckDB target needs TOAST_DUCKDB_PATH set (any path; nothing is opened).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from toast_assets.settings import DBT_TARGET_OF_WAREHOUSE, duckdb_path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
DUCKDB_TARGET = "duckdb"
# dbt unit tests check model logic on fixed rows: they run in CI (tests/test_dbt_marts.py),
# not in every partition run.
DBT_BUILD_EXCLUDE_ARGS = ("--exclude-resource-type", "unit_test")
BIGQUERY_TARGET = "bigquery"
DEFAULT_TARGET = DUCKDB_TARGET
TARGETS = (DUCKDB_TARGET, BIGQUERY_TARGET)


def dbt_target() -> str:
    """The dbt target: TOAST_DBT_TARGET, else the one of the warehouse (TOAST_WAREHOUSE=bigquery
    builds on BigQuery; the embedded default is DuckDB)."""
    warehouse = os.environ.get("TOAST_WAREHOUSE", "").strip().lower()
    target = os.environ.get("TOAST_DBT_TARGET", "").strip() or DBT_TARGET_OF_WAREHOUSE.get(warehouse, DEFAULT_TARGET)
    if target not in TARGETS:
        raise ValueError(f"TOAST_DBT_TARGET={target!r} is not a dbt target: use one of {', '.join(TARGETS)}")
    return target


def dbt_executable() -> str:
    """`dbt` on PATH, else the one installed beside this interpreter (a virtualenv not activated)."""
    return shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))


def prepare_manifest(project: DbtProject) -> None:
    """`dbt parse`: writes the manifest the assets are defined from."""
    subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--project-dir", str(project.project_dir),
         "--profiles-dir", str(project.profiles_dir), "--target", project.target or DEFAULT_TARGET],
        check=True,
    )  # fmt: skip


# dbt's DuckDB profile and the warehouse resource must name the same file; the profile reads
# it from the environment, so resolve the platform's default before dbt renders the profile.
os.environ.setdefault("TOAST_DUCKDB_PATH", duckdb_path())

toast_dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target=dbt_target(),
)
# `dagster dev` re-parses on load to pick up edits (what DbtProject.prepare_if_dev does, but
# with the dbt beside this interpreter: a code server started from an unactivated virtualenv
# has no `dbt` on PATH).
if os.environ.get("DAGSTER_IS_DEV_CLI") or not toast_dbt_project.manifest_path.exists():
    prepare_manifest(toast_dbt_project)
