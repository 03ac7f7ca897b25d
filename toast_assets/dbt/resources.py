"""The dbt CLI resource: the project, its committed profiles and the target from the environment."""

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from dagster_dbt import DbtCliResource
from packaging.version import Version

from toast_assets.dbt.project import DBT_PROJECT_DIR, DUCKDB_TARGET, dbt_executable, toast_dbt_project


class ToastDbtCliResource(DbtCliResource):
    """DbtCliResource that skips two costs dagster-dbt pays before every dbt invocation.

    - `dbt --version`, run to learn the dbt version, imports every installed adapter
      (dbt-bigquery's Google libraries): ~10 s here. dbt-core is installed in this
      environment, so its version is read from the package instead.
    - On DuckDB, no in-process dbt adapter: dagster-dbt would only use it to read column
      types after each model, and its read-only DuckDB handle outlives the run, locking the
      file against the next writer (the raw load, the next dbt run). Without it the catalog
      shows the column types and descriptions documented in the models' YAML.
    """

    @cached_property
    def _cli_version(self) -> Version:
        from dbt.version import __version__

        return Version(__version__)

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        if self.target == DUCKDB_TARGET:
            return None
        return super()._initialize_dbt_core_adapter(args)


def dbt_resource() -> ToastDbtCliResource:
    """The dbt resource for `dbt_project/` with `dbt_project/profiles.yml` and TOAST_DBT_TARGET."""
    return ToastDbtCliResource(
        project_dir=toast_dbt_project,
        profiles_dir=str(DBT_PROJECT_DIR),
        target=toast_dbt_project.target,
        dbt_executable=dbt_executable(),
    )
