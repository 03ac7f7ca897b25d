"""The dbt CLI resource: the project, its committed profiles and the target from the environment."""

import hashlib
import os
import re
import shutil
import time
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
        """`cli` with extra environment variables for this one dbt process, starting from the
        parse state this deployment's previous run kept (see `keep_parse_state`), with dbt's
        text log file (`log_file_format_env`).

        dagster-dbt builds the subprocess's environment from `os.environ` inside `cli`, which
        starts the process before returning; the variables are set for that call only.
        """
        context = kwargs.pop("context", None)
        target_path = Path(kwargs.pop("target_path", None) or self._get_unique_target_path(context=context))
        if not target_path.is_absolute():  # dbt resolves it in the project folder, its working directory
            target_path = Path(self.project_dir) / target_path
        prune_failed_run_folders(target_path.parent)
        kept = self._parse_state_path()
        try:
            if kept.exists():
                # dagster-dbt copies the prepared state only into a folder that has none.
                target_path.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(kept, target_path / PARTIAL_PARSE_FILE)
        except OSError:
            pass  # dbt parses in full, as without a kept state
        with _environment({**log_file_format_env(), **env}):
            return self.cli(args, context=context, target_path=target_path, **kwargs)

    def keep_parse_state(self, invocation: DbtCliInvocation) -> None:
        """After a finished dbt run: keep its parse state for the next run, drop its artifacts.

        Without this, every run started from the state prepared with the manifest, whose
        profile (the DuckDB path, the BigQuery project) is not this deployment's, and dbt
        re-parsed the whole project (~6 s). The state is kept per profile (under
        `target/parse_state/<hash of the profile's settings>/`), written atomically, so
        deployments or tests sharing the project folder do not undo each other's. The run's
        folder (manifest, run results, logs: ~5 MB a run) is removed; a failed run never gets
        here and keeps its folder for inspection, for RUN_FOLDER_RETENTION_DAYS
        (`prune_failed_run_folders`). A read-only project folder (an image) only loses the saving.
        """
        run_target = Path(invocation.target_path)
        state = run_target / PARTIAL_PARSE_FILE
        kept = self._parse_state_path()
        try:
            if state.exists():
                kept.parent.mkdir(parents=True, exist_ok=True)
                staged = kept.with_name(f".{PARTIAL_PARSE_FILE}.{os.getpid()}.part")
                shutil.copyfile(state, staged)
                os.replace(staged, kept)
                _prune(kept.parent.parent, keep=KEPT_PARSE_STATES)
        except OSError:
            pass
        shutil.rmtree(run_target, ignore_errors=True)

    def _parse_state_path(self) -> Path:
        """This profile's kept parse state: keyed by the target and the values of the
        environment variables `profiles.yml` reads (hashed: some are credentials)."""
        profiles = Path(self.profiles_dir or self.project_dir) / "profiles.yml"
        try:
            names = sorted(set(PROFILE_ENV_VAR.findall(profiles.read_text())))
        except OSError:
            names = []
        settings = [f"target={self.target}", *(f"{n}={os.environ.get(n, '')}" for n in names)]
        key = hashlib.sha256("\n".join(settings).encode()).hexdigest()[:16]
        return _project_target_path(Path(self.project_dir)) / "parse_state" / key / PARTIAL_PARSE_FILE


# dagster-dbt has dbt print JSON (DBT_LOG_FORMAT=json), which dbt also applies to its log file
# unless told otherwise: a failed run's kept dbt.log would be 3 MB of JSON lines. It stays dbt's
# own text log, as dbt writes it when run by hand (an operator's DBT_LOG_FORMAT_FILE wins).
LOG_FILE_FORMAT_VAR = "DBT_LOG_FORMAT_FILE"


def log_file_format_env() -> dict[str, str]:
    """The log file format a dbt process gets: the operator's, else dbt's text log ("debug")."""
    return {LOG_FILE_FORMAT_VAR: os.environ.get(LOG_FILE_FORMAT_VAR, "debug")}


PARTIAL_PARSE_FILE = "partial_parse.msgpack"
PROFILE_ENV_VAR = re.compile(r"env_var\(\s*['\"]([A-Za-z0-9_]+)['\"]")


def _project_target_path(project_dir: Path) -> Path:
    """dbt's target folder as dagster-dbt finds it: DBT_TARGET_PATH, else `target/`,
    relative to the project."""
    target = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    return target if target.is_absolute() else project_dir / target


KEPT_PARSE_STATES = 8  # profiles whose parse state is kept (the most recently used)


# A failed dbt run's folder (its dbt.log with every statement, run results, compiled SQL;
# ~5 MB) is kept this long for inspection, then removed by a later dbt invocation.
RUN_FOLDER_RETENTION_DAYS = 14
# dagster-dbt's run folders: `<op>-<run id[:7]>-<uuid[:7]>`, or `<uuid[:7]>` without a context.
RUN_FOLDER_NAME = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*-[0-9a-f]{7}-)?[0-9a-f]{7}")


def prune_failed_run_folders(target_root: Path, retention_days: float = RUN_FOLDER_RETENTION_DAYS) -> None:
    """Remove dbt run folders in `target_root` not written to for `retention_days`.

    A successful run removes its own folder (`keep_parse_state`); a failed run's stays, and
    an unattended deployment whose dbt fails now and then (a warehouse outage, a retried run)
    would otherwise fill its disk with them. Only folders named as dagster-dbt names a run's
    folder are touched: the prepared manifest, the kept parse states and anything else in the
    target folder stay. A running invocation writes to its folder, so it is never this old.
    """
    cutoff = time.time() - retention_days * 86400
    try:
        entries = list(os.scandir(target_root))
    except OSError:
        return  # no target folder yet, or not readable: nothing to prune
    for entry in entries:
        try:
            stale = entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff
        except OSError:
            continue
        if stale and RUN_FOLDER_NAME.fullmatch(entry.name):
            shutil.rmtree(entry.path, ignore_errors=True)


def _prune(folder: Path, keep: int) -> None:
    """Remove all but the `keep` most recently written profile folders."""
    profiles = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in profiles[keep:]:
        shutil.rmtree(stale, ignore_errors=True)


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
