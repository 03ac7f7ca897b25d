"""The dbt CLI resource: the project, its committed profiles and the target from the environment."""

import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliInvocation, DbtCliResource
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

    def cli_with_env(self, args: Sequence[str], env: Mapping[str, str], **kwargs: Any) -> DbtCliInvocation:
        """`cli` with extra environment variables for this one dbt process.

        dagster-dbt builds the subprocess's environment from `os.environ` inside `cli`, which
        starts the process before returning; the variables are set for that call only.
        """
        with _environment(env):
            return self.cli(args, **kwargs)

    def keep_parse_state(self, invocation: DbtCliInvocation) -> None:
        """After a finished dbt run: keep its parse state for the next run, drop its artifacts.

        dagster-dbt seeds every run's own target folder with the project's
        `target/partial_parse.msgpack`, written when the manifest was prepared, for another
        profile (the DuckDB path, the BigQuery project) than this deployment's, so dbt
        re-parsed the whole project on every run (~6 s). The run's own parse state, written
        back atomically, lets the next run parse only what changed. The run's folder
        (manifest, run results, logs: ~6 MB a run) is removed; a failed run never gets here
        and keeps its folder for inspection. A read-only project folder (an image) only
        loses the saving.
        """
        run_target = Path(invocation.target_path)
        state = run_target / PARTIAL_PARSE_FILE
        shared = _project_target_path(Path(self.project_dir)) / PARTIAL_PARSE_FILE
        try:
            if state.exists():
                staged = shared.with_name(f".{PARTIAL_PARSE_FILE}.{os.getpid()}.part")
                shutil.copyfile(state, staged)
                os.replace(staged, shared)
        except OSError:
            pass
        shutil.rmtree(run_target, ignore_errors=True)


PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def _project_target_path(project_dir: Path) -> Path:
    """Where dagster-dbt looks for the parse state it copies into each run: DBT_TARGET_PATH,
    else `target/`, relative to the project."""
    target = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    return target if target.is_absolute() else project_dir / target


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dbt_resource() -> ToastDbtCliResource:
    """The dbt resource for `dbt_project/` with `dbt_project/profiles.yml` and TOAST_DBT_TARGET."""
    return ToastDbtCliResource(
        project_dir=toast_dbt_project,
        profiles_dir=str(DBT_PROJECT_DIR),
        target=toast_dbt_project.target,
        dbt_executable=dbt_executable(),
    )
