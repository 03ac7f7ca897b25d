"""The benchmark runner: workloads × paths, interleaved rounds, results for the report.

Each workload has its own platform state (lake folder, DuckDB file, DAGSTER_HOME) and is
served by one OpenSSH sshd. A round runs every path of the workload once, one after the
other; rounds repeat until enough rounds were measured on a quiet machine. Before the
measured rounds one warm-up round fills the OS page cache, Python's bytecode cache and the
warehouse (the marts then take the incremental path a daily run takes).
"""

import json
import os
import platform as py_platform
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import yaml

from benchmarks import references
from benchmarks.measure import Measurement, PathFailed, run_measured, summary
from benchmarks.servers import PostgresServer, ServerError, SshdServer, start_postgres, start_sshd
from benchmarks.workloads import PARTITIONS_START, Config, Tree, TreeSpec, ensure_tree
from toast_assets.contract import file_for_name
from toast_assets.dbt.project import DBT_BUILD_EXCLUDE_ARGS, DBT_PROJECT_DIR, DUCKDB_TARGET, dbt_executable
from toast_assets.dbt.resources import log_file_format_env

PROJECT_ROOT = Path(__file__).resolve().parent.parent
Log = Callable[[str], None]


def child_env(workdir: Path) -> dict[str, str]:
    """The environment of every measured child: the project venv, quiet dbt, a bytecode cache.

    PYTHONDONTWRITEBYTECODE (set on some machines) would make every run compile the whole
    code location from source; production images ship bytecode, so the benchmark keeps
    its own cache (PYTHONPYCACHEPREFIX) that the warm-up fills, outside the checkout.
    """
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOAST_", "DAGSTER_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        {
            "PATH": f"{venv_bin}:{env.get('PATH', '')}",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "NO_GCE_CHECK": "True",
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "PYTHONPYCACHEPREFIX": str(workdir / "pycache"),
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    return env


@dataclass
class Bench:
    config: Config
    workdir: Path
    sshd: SshdServer
    log: Log
    postgres: PostgresServer | None = None

    @property
    def env(self) -> dict[str, str]:
        return child_env(self.workdir)

    def logfile(self, name: str) -> Path:
        folder = self.workdir / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{name}.log"

    def tree(self, locations: int, days: int) -> Tree:
        spec = TreeSpec(locations=locations, days=days, orders=self.config.orders)
        started = time.perf_counter()
        tree = ensure_tree(spec, self.workdir)
        self.log(f"  tree {spec.name}: {tree.files} files, {tree.rows:,} rows, {tree.bytes / 1e6:.1f} MB ({time.perf_counter() - started:.1f}s)")
        return tree


class PlatformState:
    """A lake, a DuckDB warehouse and a Dagster instance for one tree, as a deployment has."""

    def __init__(self, bench: Bench, tree: Tree, name: str, postgres: bool = False) -> None:
        self.bench, self.tree, self.name = bench, tree, name
        self.folder = bench.workdir / "state" / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.home = self.folder / "dagster_home"
        self.home.mkdir(parents=True)
        # The embedded default's instance (SQLite storage, the JSON-lines log handler); or the
        # same with production's storage, a PostgreSQL database (deploy/dagster.yaml).
        instance = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
        if postgres:
            assert bench.postgres is not None
            # deploy/dagster.yaml's three storage blocks (the event log's connection kept
            # open), pointed at the benchmark's server.
            production = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
            for block in ("run_storage", "event_log_storage", "schedule_storage"):
                instance[block] = {**production[block], "config": {"postgres_db": bench.postgres.postgres_db()}}
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(instance))
        self.database = self.folder / "toast.duckdb"
        self.lake = self.folder / "lake"
        # Our own servers' CPU is ours, not foreign load.
        self.server_pids = (bench.sshd.process.pid, *((bench.postgres.process.pid,) if postgres and bench.postgres else ()))

    def env(self) -> dict[str, str]:
        env = {
            **self.bench.sshd.toast_env(self.tree.root),
            "TOAST_LAKE_URL": str(self.lake),
            "TOAST_WAREHOUSE": "duckdb",
            "TOAST_DUCKDB_PATH": str(self.database),
            "TOAST_START_DATE": PARTITIONS_START,
            "TOAST_AUTOMATION_DEFAULT_STATUS": "stopped",
            "TOAST_LOG_FILE": str(self.folder / "toast.jsonl"),
            "DAGSTER_HOME": str(self.home),
        }
        return env

    def snapshot(self) -> None:
        """Keep the warehouse as it is now (tables and marts built, none of the measured dates)."""
        shutil.copyfile(self.database, self.folder / "baseline.duckdb")

    def restore(self) -> None:
        """Put the snapshot back: each measured run then loads dates the warehouse has not seen."""
        baseline = self.folder / "baseline.duckdb"
        if baseline.exists():
            Path(f"{self.database}.wal").unlink(missing_ok=True)
            shutil.copyfile(baseline, self.database)

    def run(
        self, path: str, start: date, end: date, round_no: int, keep_lake: bool = False, restore: bool = True
    ) -> Measurement:
        """One platform run (one process, one Dagster run) for start..end, landing from scratch
        into the snapshot warehouse (unless told to keep the lake and the warehouse as they are)."""
        if not keep_lake:
            shutil.rmtree(self.lake, ignore_errors=True)
        if restore:
            self.restore()
        spec_path, out_path = self.folder / "run-spec.json", self.folder / "run-out.json"
        out_path.unlink(missing_ok=True)
        spec_path.write_text(json.dumps({"env": self.env(), "start": start.isoformat(), "end": end.isoformat()}))
        command = [sys.executable, "-m", "benchmarks.platform_run", str(spec_path), str(out_path)]
        try:
            measurement = run_measured(
                path, command, self.bench.env, PROJECT_ROOT, self.server_pids, self.bench.logfile(f"{self.name}-{path}")
            )
        except PathFailed:
            if out_path.exists():
                detail = json.loads(out_path.read_text())
                raise PathFailed(f"{path} run failed: checks {detail.get('checks_failed')}, steps {detail.get('steps')}") from None
            raise
        measurement.round = round_no
        out = json.loads(out_path.read_text())
        measurement.detail = platform_detail(out)
        # The process's reading of the run's record for this report is not the platform's work.
        measurement.wall_seconds -= out.get("bookkeeping_seconds") or 0.0
        return measurement


def platform_detail(out: dict) -> dict:
    """What the report needs from a run's own record: stage times, compute, memory, counts."""
    steps = {s["step"]: s for s in out["steps"]}
    mats = out["materializations"]
    landing = steps.get("toast_landing", {})
    raw = steps.get("toast_raw", {})
    dbt = steps.get("toast_dbt_assets", {})
    checks = [s for k, s in steps.items() if k not in ("toast_landing", "toast_raw", "toast_dbt_assets")]
    raw_meta = [m for k, m in mats.items() if k.startswith("toast_raw/") and "rows_loaded" in m]
    landing_meta = [m for k, m in mats.items() if k.startswith("toast_landing/")]
    compute_known = out.get("compute_timer") and all(s.get("compute_seconds") is not None for s in out["steps"])
    compute_total = sum(s["compute_seconds"] for s in out["steps"]) if compute_known else None
    first_raw = raw_meta[0] if raw_meta else {}
    has_check_timing = bool(raw_meta) and "contract_check_seconds" in first_raw
    return {
        "success": out["success"],
        "process_seconds": out.get("process_seconds"),
        "bookkeeping_seconds": out.get("bookkeeping_seconds"),
        "definitions_seconds": out["process_to_definitions_seconds"],
        "run_seconds": out["run_seconds"],
        "steps": len(out["steps"]),
        "step_seconds": {k: s["seconds"] for k, s in steps.items()},
        "step_compute_seconds": {k: s["compute_seconds"] for k, s in steps.items()},
        "landing_seconds": landing.get("seconds"),
        "raw_seconds": raw.get("seconds"),
        "dbt_seconds": dbt.get("seconds"),
        "checks_seconds": sum(s["seconds"] for s in checks),
        # The run's load (one number, repeated on each table) and each table's contract checks.
        "raw_load_seconds": first_raw.get("load_seconds"),
        "raw_validate_seconds": sum(m["contract_check_seconds"] for m in raw_meta) if has_check_timing else None,
        "contract_validations": sum(m["contract_check_calls"] for m in raw_meta) if has_check_timing else None,
        "compute_seconds": compute_total,
        "orchestration_seconds": out["run_seconds"] - compute_total if compute_total is not None else None,
        "files_landed": sum(m.get("files", 0) or 0 for m in landing_meta),
        "bytes_landed": sum(m.get("bytes", 0) or 0 for m in landing_meta),
        "rows_loaded": {k.split("/", 1)[1]: m.get("rows_loaded") for k, m in mats.items() if k.startswith("toast_raw/") and "rows_loaded" in m},
        "rows_quarantined": sum(m.get("rows_quarantined", 0) or 0 for m in raw_meta),
        "mart_rows": {k.split("/", 1)[1]: m.get("dagster/row_count") for k, m in mats.items() if k.startswith("toast_marts/")},
        "dbt_invocations": out["dbt_invocations"],
        "events": out["events"],
        "checks": out["checks"],
        "checks_failed": out["checks_failed"],
        "platform_peak_rss_bytes": out["peak_rss_bytes"],
    }


# ------------------------------------------------------------------ reference paths


def files_by_entity(tree: Tree, dates: list[date]) -> dict[str, list[tuple[str, str, str]]]:
    """(path, location, business date) of each export file of these dates, by entity."""
    out: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for path in tree.csv_paths(dates):
        toast_file = file_for_name(path.name)
        if toast_file is None:
            continue
        business_date = datetime.strptime(path.parent.name, "%Y%m%d").date().isoformat()
        out[toast_file.entity].append((str(path), path.parent.parent.name, business_date))
    return dict(out)


class References:
    """The reference paths for one tree and one window of dates."""

    def __init__(self, bench: Bench, tree: Tree, name: str, dates: list[date]) -> None:
        self.bench, self.tree, self.name, self.dates = bench, tree, name, dates
        self.folder = bench.workdir / "refs" / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.files = files_by_entity(tree, dates)
        self.statements: Path | None = None
        self.sql_database = self.folder / "direct_sql.duckdb"

    def _child(self, path: str, spec: dict, round_no: int) -> Measurement:
        spec_path, out_path = self.folder / f"{path}-spec.json", self.folder / f"{path}-out.json"
        spec_path.write_text(json.dumps(spec))
        out_path.unlink(missing_ok=True)
        command = [sys.executable, "-m", "benchmarks.references", path, str(spec_path), str(out_path)]
        measurement = run_measured(path, command, self.bench.env, PROJECT_ROOT, (), self.bench.logfile(f"{self.name}-{path}"))
        measurement.round = round_no
        measurement.detail = json.loads(out_path.read_text())
        return measurement

    def sftp_cli(self, round_no: int) -> Measurement:
        dest = self.folder / "sftp_get"
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir()
        batch = self.folder / "sftp.batch"
        batch.write_text(references.sftp_batch(self.tree.root, self.tree.export_ids, self.dates, dest))
        measurement = run_measured(
            "sftp_cli", self.bench.sshd.sftp_command(batch), self.bench.env, PROJECT_ROOT,
            (self.bench.sshd.process.pid,), self.bench.logfile(f"{self.name}-sftp_cli"),
        )  # fmt: skip
        files = [p for p in dest.rglob("*") if p.is_file()]
        measurement.round = round_no
        measurement.detail = {"files": len(files), "bytes": sum(p.stat().st_size for p in files), "seconds": measurement.wall_seconds}
        return measurement

    def duckdb_bare(self, round_no: int) -> Measurement:
        files = {entity: [f[0] for f in items] for entity, items in self.files.items()}
        return self._child("duckdb_bare", {"database": str(self.folder / "bare.duckdb"), "files": files}, round_no)

    def pandas_per_file(self, round_no: int) -> Measurement:
        return self._child("pandas_per_file", {"database": str(self.folder / "pandas.duckdb"), "files": self.files}, round_no)

    def prepare_direct_sql(self, state: PlatformState) -> None:
        """Copy the warehouse after a platform run and compile dbt's SQL for the window against it."""
        for suffix in ("", ".wal"):
            source = Path(f"{state.database}{suffix}")
            if source.exists():
                shutil.copyfile(source, f"{self.sql_database}{suffix}")
        start, end = self.dates[0].isoformat(), self.dates[-1].isoformat()
        self.statements = references.compile_dbt(self.sql_database, start, end, self.folder, self.bench.env)

    def direct_sql(self, round_no: int) -> Measurement:
        assert self.statements is not None, "prepare_direct_sql first"
        spec = {
            "database": str(self.sql_database),
            "statements": str(self.statements),
            "start": self.dates[0].isoformat(),
            "end": self.dates[-1].isoformat(),
        }
        return self._child("direct_sql", spec, round_no)

    def dbt_startup(self, state: PlatformState, round_no: int) -> Measurement:
        """dbt's start-up alone: the platform's `dbt build`, with its project, profile and
        log format, selecting no node. It starts from the parse state its previous round kept,
        as the platform's dbt does; what is left is imports, reading the project and profile,
        the parse state and the graph. Part of every run, whatever the data."""
        target = self.folder / "dbt_startup"
        target.mkdir(exist_ok=True)  # kept between rounds: the warm-up leaves the parse state
        env = {
            **self.bench.env,
            **state.env(),
            "TOAST_DUCKDB_PATH": str(self.folder / "dbt_startup.duckdb"),
            "DBT_LOG_FORMAT": "json",  # as dagster-dbt runs dbt, and the platform's log file
            **log_file_format_env(),
            "DBT_TARGET_PATH": str(target),
            "DBT_LOG_PATH": str(target),
        }
        command = [
            dbt_executable(), "build", *DBT_BUILD_EXCLUDE_ARGS, "--select", "path:no_such_path",
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--target", DUCKDB_TARGET,
        ]  # fmt: skip
        measurement = run_measured(
            "dbt_startup", command, env, DBT_PROJECT_DIR, (), self.bench.logfile(f"{self.name}-dbt_startup")
        )
        measurement.round = round_no
        return measurement


# ------------------------------------------------------------------ rounds


def measure_rounds(
    bench: Bench,
    label: str,
    paths: dict[str, Callable[[int], Measurement]],
    rounds: int,
    warmups: dict[str, Callable[[int], Measurement]] | None = None,
) -> dict:
    """Warm-up, then interleaved rounds until `rounds` quiet ones (or the extra budget is spent).

    `warmups` replaces a path's warm-up where repeating the path itself would be wasteful.
    """
    config = bench.config
    warmups = warmups or {}
    warmup = {}
    if config.warmup:
        bench.log(f"  {label}: warm-up")
        warmup = {name: warmups.get(name, fn)(0) for name, fn in paths.items()}
    measured: list[dict] = []
    attempt = 0
    while sum(1 for r in measured if not r["discarded"]) < rounds and attempt < rounds + config.max_extra_rounds:
        attempt += 1
        results = {name: fn(attempt) for name, fn in paths.items()}
        load = max(m.foreign_load for m in results.values())
        discarded = load > config.busy_threshold
        measured.append({"round": attempt, "foreign_load": load, "discarded": discarded, "measurements": results})
        walls = ", ".join(f"{n} {m.wall_seconds:.2f}s" for n, m in results.items())
        bench.log(f"  {label} round {attempt}: foreign load {load:.0%}{' (busy: discarded)' if discarded else ''}: {walls}")
    kept = [r for r in measured if not r["discarded"]]
    busy_kept = 0
    if len(kept) < rounds:
        # The machine never quietened: keep the least busy rounds, and say so in the report.
        spare = sorted((r for r in measured if r["discarded"]), key=lambda r: r["foreign_load"])[: rounds - len(kept)]
        busy_kept = len(spare)
        kept += spare
    return {
        "warmup": {n: m.to_json() for n, m in warmup.items()},
        "rounds": [
            {
                "round": r["round"],
                "foreign_load": r["foreign_load"],
                "discarded": r["discarded"],
                "kept": r in kept,
                "measurements": {n: m.to_json() for n, m in r["measurements"].items()},
            }
            for r in measured
        ],
        "kept_rounds": len(kept),
        "busy_rounds_kept": busy_kept,
        "paths": path_summaries(kept),
    }


def path_summaries(rounds: list[dict]) -> dict:
    by_path: dict[str, list[Measurement]] = defaultdict(list)
    for r in rounds:
        for name, m in r["measurements"].items():
            by_path[name].append(m)
    out = {}
    for name, ms in by_path.items():
        out[name] = {
            "wall_seconds": summary([m.wall_seconds for m in ms]),
            "cpu_seconds": summary([m.cpu_seconds for m in ms]),
            "peak_rss_bytes": summary([m.peak_rss_bytes for m in ms]),
            "foreign_load": summary([m.foreign_load for m in ms]),
            "work_seconds": summary([m.detail["seconds"] for m in ms if isinstance(m.detail.get("seconds"), (int, float))]),
            "detail_of_fastest": min(ms, key=lambda m: m.wall_seconds).detail,
        }
        stage_values: dict[str, list[float]] = defaultdict(list)
        for m in ms:
            for key in STAGE_KEYS:
                value = m.detail.get(key)
                if isinstance(value, (int, float)):
                    stage_values[key].append(value)
        if stage_values:
            out[name]["stages"] = {key: summary(values) for key, values in stage_values.items()}
    return out


STAGE_KEYS = (
    "definitions_seconds", "run_seconds", "landing_seconds", "raw_seconds", "raw_load_seconds", "raw_validate_seconds", "dbt_seconds", "checks_seconds", "compute_seconds", "orchestration_seconds",
    "platform_peak_rss_bytes", "runs_total_seconds", "runs_orchestration_seconds", "runs_compute_seconds",
)  # fmt: skip


def combined(path: str, runs: list[Measurement]) -> Measurement:
    """Several sequential runs reported as one path (30 daily runs, 12 monthly runs)."""
    wall = sum(m.wall_seconds for m in runs)
    detail = {
        "runs": len(runs),
        "runs_total_seconds": wall,
        "run_walls": [round(m.wall_seconds, 3) for m in runs],
        "runs_compute_seconds": sum(m.detail.get("compute_seconds") or 0 for m in runs),
        "runs_orchestration_seconds": sum(m.wall_seconds - (m.detail.get("compute_seconds") or 0) for m in runs),
        "dbt_invocations": sum(m.detail.get("dbt_invocations", 0) for m in runs),
        "rows_loaded": _sum_dicts([m.detail.get("rows_loaded", {}) for m in runs]),
        "platform_peak_rss_bytes": max(m.detail.get("platform_peak_rss_bytes", 0) for m in runs),
        "definitions_seconds": sum(m.detail.get("definitions_seconds", 0) for m in runs),
    }
    return Measurement(
        path=path,
        wall_seconds=wall,
        cpu_seconds=sum(m.cpu_seconds for m in runs),
        foreign_load=sum(m.foreign_load * m.wall_seconds for m in runs) / wall if wall else 0.0,
        peak_rss_bytes=max(m.peak_rss_bytes for m in runs),
        round=runs[0].round if runs else 0,
        detail=detail,
    )


def _sum_dicts(dicts: list[dict]) -> dict:
    out: dict = defaultdict(int)
    for d in dicts:
        for k, v in d.items():
            out[k] += v or 0
    return dict(out)


# ------------------------------------------------------------------ workloads


def day_workload(bench: Bench) -> dict:
    """day-N: one business date of N locations; every reference path; plus an empty date."""
    config = bench.config
    bench.log(f"day-{config.day_locations}")
    tree = bench.tree(config.day_locations, 1)
    day = tree.spec.start
    state = PlatformState(bench, tree, f"day{config.day_locations}")
    refs = References(bench, tree, f"day{config.day_locations}", [day])
    empty_day = day - timedelta(days=1)

    def empty_date(r: int) -> Measurement:
        m = state.run("platform_empty_date", empty_day, empty_day, r)
        if r == 0:
            state.snapshot()  # tables and marts exist, the measured date is not loaded
        return m

    def platform(r: int) -> Measurement:
        m = state.run("platform", day, day, r)
        if refs.statements is None:
            refs.prepare_direct_sql(state)
        return m

    paths = {
        "platform_empty_date": empty_date,
        "platform": platform,
        "sftp_cli": refs.sftp_cli,
        "duckdb_bare": refs.duckdb_bare,
        "direct_sql": refs.direct_sql,
        "pandas_per_file": refs.pandas_per_file,
        "dbt_startup": lambda r: refs.dbt_startup(state, r),
    }
    warmups: dict[str, Callable[[int], Measurement]] = {}
    if bench.postgres is not None:
        # The same run on production's instance storage: how much of the orchestration is SQLite.
        pg_state = PlatformState(bench, tree, f"day{config.day_locations}-postgres", postgres=True)
        paths["platform_postgres_instance"] = lambda r: pg_state.run("platform_postgres_instance", day, day, r)
        warmups["platform_postgres_instance"] = lambda r: _warm_up(pg_state, empty_day)
    if not config.empty_date_runs:
        del paths["platform_empty_date"]
    result = measure_rounds(bench, f"day-{config.day_locations}", paths, config.rounds, warmups)
    result["tree"] = tree_json(tree)
    return result


def scale_workload(bench: Bench) -> dict:
    """One date for each location count: the platform, the bare load and the SFTP CLI."""
    config = bench.config
    bench.log(f"scale {config.scale_locations}")
    paths: dict[str, Callable[[int], Measurement]] = {}
    warmups: dict[str, Callable[[int], Measurement]] = {}
    trees = {}
    for n in config.scale_locations:
        tree = bench.tree(n, 1)
        trees[n] = tree
        state = PlatformState(bench, tree, f"scale{n}")
        refs = References(bench, tree, f"scale{n}", [tree.spec.start])
        day = tree.spec.start
        paths[f"platform@{n}"] = lambda r, s=state, d=day: s.run("platform", d, d, r)
        warmups[f"platform@{n}"] = lambda r, s=state, d=day: _warm_up(s, d - timedelta(days=1))
        paths[f"duckdb_bare@{n}"] = refs.duckdb_bare
        paths[f"sftp_cli@{n}"] = refs.sftp_cli
    result = measure_rounds(bench, "scale", paths, config.rounds, warmups)
    result["points"] = {n: tree_json(t) for n, t in trees.items()}
    return result


def _single_run_path(single: PlatformState, refs: References, dates: list[date]) -> Callable[[int], Measurement]:
    """The path that runs all dates as one run; its first run also compiles the SQL that the
    direct-SQL reference then executes."""

    def one_run(r: int) -> Measurement:
        m = single.run("platform_single_run", dates[0], dates[-1], r)
        if refs.statements is None:
            refs.prepare_direct_sql(single)
        return m

    return one_run


def backfill_workload(bench: Bench) -> dict:
    """backfill-D: D dates × L locations as one single-run backfill and as D separate runs."""
    config = bench.config
    days, locations = config.backfill_days, config.backfill_locations
    bench.log(f"backfill-{days} ({locations} locations)")
    tree = bench.tree(locations, days)
    dates = tree.spec.dates()
    single = PlatformState(bench, tree, f"backfill{days}-single")
    separate = PlatformState(bench, tree, f"backfill{days}-separate")
    refs = References(bench, tree, f"backfill{days}", dates)
    empty_day = dates[0] - timedelta(days=1)

    one_run = _single_run_path(single, refs, dates)

    def separate_runs(r: int) -> Measurement:
        # One run per date, one after the other, each landing and loading its own date.
        shutil.rmtree(separate.lake, ignore_errors=True)
        separate.restore()
        runs = [separate.run("platform_daily_run", d, d, r, keep_lake=True, restore=False) for d in dates]
        return combined("platform_separate_runs", runs)

    paths = {
        "platform_empty_date": lambda r: single.run("platform_empty_date", empty_day, empty_day, r),
        "platform_single_run": one_run,
        "platform_separate_runs": separate_runs,
        "sftp_cli": refs.sftp_cli,
        "duckdb_bare": refs.duckdb_bare,
        "direct_sql": refs.direct_sql,
    }
    # Warm-ups build each warehouse on the empty date; the separate runs' warm-up is one run,
    # not another full set of them.
    warmups = {
        "platform_empty_date": lambda r: _warm_up(single, empty_day),
        "platform_separate_runs": lambda r: _warm_up(separate, empty_day),
    }
    result = measure_rounds(bench, f"backfill-{days}", paths, config.backfill_rounds, warmups)
    result["tree"] = tree_json(tree)
    return result


def year_workload(bench: Bench) -> dict:
    """year-L: a year of L locations as one run and as month-sized chunks (one run each)."""
    config = bench.config
    days, locations, chunk = config.year_days, config.year_locations, config.year_chunk_days
    bench.log(f"year ({days} dates × {locations} locations; chunks of {chunk})")
    tree = bench.tree(locations, days)
    dates = tree.spec.dates()
    single = PlatformState(bench, tree, "year-single")
    chunked = PlatformState(bench, tree, "year-chunked")
    refs = References(bench, tree, "year", dates)
    chunks = [dates[i : i + chunk] for i in range(0, len(dates), chunk)]

    empty_day = dates[0] - timedelta(days=1)

    one_run = _single_run_path(single, refs, dates)

    def chunked_runs(r: int) -> Measurement:
        shutil.rmtree(chunked.lake, ignore_errors=True)
        chunked.restore()
        runs = [chunked.run("platform_chunk", c[0], c[-1], r, keep_lake=True, restore=False) for c in chunks]
        return combined("platform_chunked_runs", runs)

    def direct_sql(r: int) -> Measurement:
        if refs.statements is None:
            return Measurement("direct_sql", 0.0, 0.0, 0.0, 0, r, {"skipped": "warm-up: compiled after the first full run"})
        return refs.direct_sql(r)

    paths = {
        "platform_single_run": one_run,
        "platform_chunked_runs": chunked_runs,
        "sftp_cli": refs.sftp_cli,
        "duckdb_bare": refs.duckdb_bare,
        "direct_sql": direct_sql,
    }
    # Warm-up: the empty date builds the tables; a full year more would double the run time.
    warmups = {
        "platform_single_run": lambda r: _warm_up(single, empty_day),
        "platform_chunked_runs": lambda r: _warm_up(chunked, empty_day),
    }
    result = measure_rounds(bench, "year", paths, config.year_rounds, warmups)
    result["tree"] = tree_json(tree)
    result["chunks"] = len(chunks)
    return result


def _warm_up(state: PlatformState, empty_day: date) -> Measurement:
    """A run of a date without files: builds the warehouse, fills the caches; then the snapshot."""
    m = state.run("warm_up", empty_day, empty_day, 0, restore=False)
    state.snapshot()
    return m


def tree_json(tree: Tree) -> dict:
    return {
        "locations": tree.spec.locations,
        "dates": tree.spec.days,
        "orders_per_location_day": tree.spec.orders,
        "first_date": tree.spec.start.isoformat(),
        "files": tree.files,
        "rows": tree.rows,
        "bytes": tree.bytes,
    }


WORKLOADS = {"day": day_workload, "scale": scale_workload, "backfill": backfill_workload, "year": year_workload}


# ------------------------------------------------------------------ the whole benchmark


def machine_json() -> dict:
    import psutil

    versions = {}
    for package in ("dagster", "dagster-dbt", "dbt-core", "dbt-duckdb", "duckdb", "pandas", "pandera", "paramiko", "pyarrow"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:  # noqa: BLE001 - a missing package is reported, not fatal
            versions[package] = None
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True)
    versions["openssh"] = (ssh.stderr or ssh.stdout).strip().split(",")[0]
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = py_platform.processor()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=PROJECT_ROOT).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{py_platform.system()} {py_platform.release()}",
        "python": py_platform.python_version(),
        "versions": versions,
        "git_commit": commit,
        "load_average_at_start": os.getloadavg(),
    }


def measured_json(meta: dict) -> dict:
    """When, at which commit and in which configuration a workload was measured: a merged
    results file holds workloads from several benchmark runs."""
    return {"date": meta["date"], "git_commit": meta["machine"]["git_commit"], "config": meta["config"]["name"]}


def merge_results(results: dict, previous: dict) -> dict:
    """`results` plus the workloads of `previous` it did not measure, each keeping its own
    date, commit and configuration (results files from before those were recorded per
    workload take them from the file's header), and the notes of `previous` unless `results`
    has its own."""
    merged = {**results, "workloads": dict(results["workloads"])}
    if not results["meta"].get("notes") and previous.get("meta", {}).get("notes"):
        merged["meta"] = {**results["meta"], "notes": previous["meta"]["notes"]}
    for name, workload in previous.get("workloads", {}).items():
        if name not in merged["workloads"]:
            merged["workloads"][name] = {"measured": measured_json(previous["meta"]), **workload}
    kept = sorted(set(merged["workloads"]) - set(results["workloads"]))
    if kept:
        merged["meta"] = {**merged["meta"], "merged_from_previous": kept}
    return merged


def run_benchmark(config: Config, workdir: Path, log: Log = print, on_workload: Callable[[dict], object] | None = None) -> dict:
    """Every workload of `config`; `on_workload(results)` after each (to save partial results)."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict = {
        "meta": {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_json(),
            "config": config.to_json(),
        },
        "workloads": {},
    }
    sshd = start_sshd(workdir / "sshd")
    postgres = None
    try:
        if config.postgres_instance and "day" in config.workloads:
            try:
                postgres = start_postgres(workdir / "postgres")
            except ServerError as exc:
                log(f"no PostgreSQL instance variant: {exc}")
                results["meta"]["postgres_unavailable"] = str(exc)
        bench = Bench(config, workdir, sshd, log, postgres)
        for name in config.workloads:
            results["workloads"][name] = WORKLOADS[name](bench)
            results["workloads"][name]["measured"] = measured_json(results["meta"])
            results["meta"]["duration_seconds"] = time.perf_counter() - started
            if on_workload is not None:
                on_workload(results)
    finally:
        sshd.stop()
        if postgres is not None:
            postgres.stop()
    results["meta"]["duration_seconds"] = time.perf_counter() - started
    return results
