"""Targets and the report: `results.json` (everything measured) and `RESULTS.md` (the tables).

Every ratio is a ratio of minima over the kept rounds of one run of the benchmark (same
files, same machine, same minutes), which is what survives a noisy machine. Each target is
printed as met or not met with the measured value it was judged on.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from toast_assets.raw.duckdb_warehouse import CHECK_BATCH_ROWS

MB = 1e6


@dataclass
class Target:
    id: str
    target: str
    limit: str
    measured: str
    met: bool | None  # None: not measured in this configuration
    note: str = ""


def _min(paths: dict, name: str, key: str = "wall_seconds") -> float | None:
    entry = paths.get(name, {}).get(key, {})
    return entry.get("min") if isinstance(entry, dict) else None


def _stage(paths: dict, name: str, stage: str, stat: str = "min") -> float | None:
    return paths.get(name, {}).get("stages", {}).get(stage, {}).get(stat)


def _fastest(paths: dict, name: str) -> dict:
    return paths.get(name, {}).get("detail_of_fastest", {})


def _ok(value: float | None, test) -> bool | None:
    return None if value is None else bool(test(value))


def _s(value: float | None, unit: str = "s", digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} {unit}".strip()


def _fixed_floor(p: dict) -> str:
    """What any run pays before its work, measured beside the empty date: the run's own
    process start to definitions loaded, and dbt's start-up selecting no node."""
    definitions = _stage(p, "platform_empty_date", "definitions_seconds")
    startup = _min(p, "dbt_startup")
    if definitions is None or startup is None:
        return ""
    return (
        f"; of which imports and definitions {definitions:.2f} s and dbt's start-up {startup:.2f} s "
        f"(`dbt build` selecting no node): {definitions + startup:.2f} s before any step's work"
    )


def day_targets(day: dict) -> list[Target]:
    p = day["paths"]
    tree = day["tree"]
    out = []
    platform = _min(p, "platform")
    sftp = _min(p, "sftp_cli")
    bare = _min(p, "duckdb_bare", "work_seconds")
    direct = _min(p, "direct_sql", "work_seconds")
    reference = sftp + bare + direct if None not in (sftp, bare, direct) else None
    name = f"day-{tree['locations']}"
    if platform is not None and reference:
        out.append(
            Target(
                "end_to_end",
                f"End to end, {name}: ≤ 3× the reference pipeline + 8 s fixed",
                f"≤ {3 * reference + 8:.1f} s (reference {reference:.2f} s = sftp {sftp:.2f} + DuckDB {bare:.2f} + SQL {direct:.2f})",
                f"{platform:.2f} s ({platform / reference:.2f}× the reference)",
                platform <= 3 * reference + 8,
            )
        )
    empty = _min(p, "platform_empty_date")
    out.append(
        Target(
            "fixed_per_run",
            "Fixed cost per run (a run of a date with no files: imports, definitions, orchestration, one dbt build)",
            "≤ 8 s",
            _s(empty) + _fixed_floor(p),
            _ok(empty, lambda v: v <= 8),
        )
    )
    landing = _stage(p, "platform", "landing_seconds")
    files = tree["files"]
    if landing and sftp:
        share = sftp / landing
        out.append(
            Target(
                "sftp_throughput",
                "SFTP landing throughput vs OpenSSH `sftp -r` on the same tree and server",
                "≥ 50%",
                f"{share:.0%} ({tree['bytes'] / MB / landing:.1f} vs {tree['bytes'] / MB / sftp:.1f} MB/s; landing step includes sha256, record count, manifests)",
                share >= 0.5,
            )
        )
        per_file = (landing - sftp) / files
        out.append(
            Target(
                "sftp_per_file",
                "SFTP per-file overhead: (landing step − OpenSSH) / files",
                "≤ 10 ms",
                f"{per_file * 1000:.1f} ms over {files} files",
                per_file <= 0.010,
            )
        )
    load = _stage(p, "platform", "raw_load_seconds")
    validate = _stage(p, "platform", "raw_validate_seconds")
    if load is not None and validate is not None and bare:
        load_only = load - validate
        out.append(
            Target(
                "raw_load",
                "Raw load (multi-file read_csv per entity, quarantine, manifest; Pandera excluded) vs bare DuckDB CTAS",
                "≤ 1.25×",
                f"{load_only / bare:.2f}× ({load_only:.2f} s vs {bare:.2f} s)",
                load_only <= 1.25 * bare,
            )
        )
        calls = _fastest(p, "platform").get("contract_validations")
        rows_loaded = _fastest(p, "platform").get("rows_loaded", {})
        tables = len(rows_loaded) or None
        # One stream per table, checked in frames of CHECK_BATCH_ROWS so memory stays flat:
        # at most one call per table plus one per full frame, never one per file.
        most = (tables or 0) + sum(rows_loaded.values()) // CHECK_BATCH_ROWS
        out.append(
            Target(
                "pandera",
                f"Pandera contract checks over the load, one stream per table per run (frames of ≤ {CHECK_BATCH_ROWS:,} rows)",
                "≤ 30%",
                f"+{validate / load_only:.0%} ({validate:.2f} s over {load_only:.2f} s; {calls} frame(s) for {tables} tables)",
                validate <= 0.30 * load_only and (calls is None or tables is None or calls <= most),
            )
        )
    orchestration = _stage(p, "platform", "orchestration_seconds")
    fastest = _fastest(p, "platform")
    steps = fastest.get("steps")
    if orchestration is not None and steps:
        out.append(
            Target(
                "orchestration",
                "Orchestration per step of the daily job (run time outside the assets' code), dbt invoked once per run",
                "≤ 100 ms per step; 1 dbt call",
                f"{orchestration / steps * 1000:.0f} ms per step ({orchestration:.2f} s over {steps} steps, {fastest.get('events')} events); "
                f"{fastest.get('dbt_invocations')} dbt call(s)",
                orchestration / steps <= 0.100 and fastest.get("dbt_invocations") == 1,
            )
        )
    pg_orchestration = _stage(p, "platform_postgres_instance", "orchestration_seconds")
    pg = _fastest(p, "platform_postgres_instance")
    if pg_orchestration is not None and pg.get("steps"):
        out.append(
            Target(
                "orchestration_postgres",
                "The same on production's instance storage (PostgreSQL, as deploy/dagster.yaml)",
                "≤ 100 ms per step",
                f"{pg_orchestration / pg['steps'] * 1000:.0f} ms per step ({pg_orchestration:.2f} s over {pg['steps']} steps)",
                pg_orchestration / pg["steps"] <= 0.100,
            )
        )
    raw_step = _stage(p, "platform", "raw_seconds")
    pandas = _min(p, "pandas_per_file", "work_seconds")
    if raw_step and pandas:
        out.append(
            Target(
                "vs_pandas",
                "Load stage (raw step: load, Pandera, reconciliation) vs a pandas-per-file script",
                "≥ 3× faster",
                f"{pandas / raw_step:.1f}× ({raw_step:.2f} s vs {pandas:.2f} s)",
                pandas >= 3 * raw_step,
            )
        )
    return out


def scale_analysis(scale: dict) -> dict:
    from benchmarks.measure import linear_fit

    points = []
    for n, tree in sorted(scale["points"].items(), key=lambda kv: int(kv[0])):
        p = scale["paths"]
        points.append(
            {
                "locations": int(n),
                "rows": tree["rows"],
                "bytes": tree["bytes"],
                "platform_seconds": _min(p, f"platform@{n}"),
                "duckdb_bare_seconds": _min(p, f"duckdb_bare@{n}", "work_seconds"),
                "sftp_cli_seconds": _min(p, f"sftp_cli@{n}"),
                "peak_rss_bytes": _min(p, f"platform@{n}", "peak_rss_bytes"),
                "platform_process_peak_rss_bytes": _stage(p, f"platform@{n}", "platform_peak_rss_bytes"),
            }
        )
    xs = [pt["locations"] for pt in points]
    fit = linear_fit(xs, [pt["platform_seconds"] for pt in points])
    bare_fit = linear_fit(xs, [pt["duckdb_bare_seconds"] for pt in points])
    rss = [pt["peak_rss_bytes"] for pt in points]
    return {"points": points, "platform_fit": fit, "duckdb_bare_fit": bare_fit, "rss_growth": rss[-1] / rss[0] if rss and rss[0] else None}


def scale_targets(analysis: dict) -> list[Target]:
    fit = analysis["platform_fit"]
    points = analysis["points"]
    out = []
    if fit["slope"] is not None:
        out.append(
            Target(
                "scale_linear",
                f"Scale: cost linear in locations ({', '.join(str(p['locations']) for p in points)})",
                "R² ≥ 0.98",
                f"slope {fit['slope']:.3f} s/location, intercept {fit['intercept']:.1f} s, R² {fit['r2']:.3f}",
                fit["r2"] >= 0.98,
            )
        )
    growth = analysis["rss_growth"]
    if growth is not None:
        out.append(
            Target(
                "scale_memory",
                "Scale: peak memory (RSS of the run's processes) flat in locations",
                "largest ≤ 1.5× smallest",
                f"{growth:.2f}× ({points[0]['peak_rss_bytes'] / MB:.0f} MB → {points[-1]['peak_rss_bytes'] / MB:.0f} MB)",
                growth <= 1.5,
            )
        )
    return out


def backfill_targets(backfill: dict) -> list[Target]:
    p = backfill["paths"]
    days = backfill["tree"]["dates"]
    out = []
    single = _min(p, "platform_single_run")
    empty = _min(p, "platform_empty_date")
    separate = _fastest(p, "platform_separate_runs")
    walls = sorted(separate.get("run_walls", []))
    if single is not None and empty is not None and walls:
        one_day = walls[len(walls) // 2]  # median separate daily run
        variable_day = one_day - empty
        variable_single = single - empty
        label = f"backfill-{days} as one run: its variable work vs {days} × one day's variable work (run − empty-date run)"
        spread = (walls[-1] - walls[0]) if len(walls) > 1 else 0.0
        if variable_day <= max(spread / 2, 0.05 * empty):
            # A small day's variable work drowns in the run-to-run spread of the fixed cost.
            out.append(
                Target(
                    "backfill_single_run",
                    label,
                    "≤ 1.2×",
                    f"not measurable here: a daily run (median {one_day:.1f} s, spread {spread:.1f} s over {len(walls)} runs) "
                    f"is within the fixed cost's run-to-run spread of the empty-date run ({empty:.1f} s); "
                    f"the one run's variable work is {variable_single:.1f} s",
                    None,
                )
            )
        else:
            out.append(
                Target(
                    "backfill_single_run",
                    label,
                    "≤ 1.2×",
                    f"{variable_single / (days * variable_day):.2f}× ({single:.1f} − {empty:.1f} s vs {days} × ({one_day:.2f} − {empty:.2f}) s)",
                    variable_single <= 1.2 * days * variable_day,
                )
            )
    single_orch = _stage(p, "platform_single_run", "orchestration_seconds")
    single_detail = _fastest(p, "platform_single_run")
    if single_detail and single is not None and single_detail.get("compute_seconds") is not None:
        single_orch = single - single_detail["compute_seconds"]
    separate_orch = separate.get("runs_orchestration_seconds")
    if single_orch and separate_orch:
        out.append(
            Target(
                "backfill_orchestration",
                f"backfill-{days}: orchestration (process wall − assets' code) of one run vs {days} runs",
                "≥ 10× cheaper",
                f"{separate_orch / single_orch:.1f}× ({single_orch:.1f} s vs {separate_orch:.1f} s)",
                separate_orch >= 10 * single_orch,
            )
        )
    return out


def year_targets(year: dict) -> list[Target]:
    p = year["paths"]
    days, locations = year["tree"]["dates"], year["tree"]["locations"]
    out = []
    single = _fastest(p, "platform_single_run")
    wall = _min(p, "platform_single_run")
    if single.get("compute_seconds") is not None and wall:
        share = (wall - single["compute_seconds"]) / wall
        out.append(
            Target(
                "year_single_run",
                f"year ({days} dates × {locations} locations) as one run: orchestration share of the total",
                "≤ 5%",
                f"{share:.1%} ({wall - single['compute_seconds']:.1f} s of {wall:.1f} s)",
                share <= 0.05,
            )
        )
    chunked = _fastest(p, "platform_chunked_runs")
    if chunked.get("runs_total_seconds"):
        share = chunked["runs_orchestration_seconds"] / chunked["runs_total_seconds"]
        out.append(
            Target(
                "year_chunked_runs",
                f"year as {chunked['runs']} chunked runs (TOAST_BACKFILL_CHUNK_DAYS): orchestration share",
                "≤ 5%, ≤ 12 runs",
                f"{share:.1%} ({chunked['runs_orchestration_seconds']:.1f} s of {chunked['runs_total_seconds']:.1f} s, {chunked['runs']} runs)",
                share <= 0.05 and chunked["runs"] <= 12,
            )
        )
    return out


def evaluate(results: dict) -> tuple[list[Target], dict]:
    workloads = results["workloads"]
    targets: list[Target] = []
    analysis: dict = {}
    if "day" in workloads:
        targets += day_targets(workloads["day"])
    if "scale" in workloads:
        analysis["scale"] = scale_analysis(workloads["scale"])
        targets += scale_targets(analysis["scale"])
    if "backfill" in workloads:
        targets += backfill_targets(workloads["backfill"])
    if "year" in workloads:
        targets += year_targets(workloads["year"])
    targets.append(
        Target(
            "bigquery_load_jobs",
            "BigQuery: at most one load job per table per run",
            "≤ 1 per table",
            "not timed here (the benchmark runs the embedded DuckDB warehouse); "
            "tests/test_warehouse_bigquery.py::test_exactly_one_load_job_per_table_and_per_run "
            "counts the emulator's load jobs of a multi-date run: one per table",
            None,
        )
    )
    return targets, analysis


# ------------------------------------------------------------------ writing


def write(results: dict, out_dir: Path) -> tuple[Path, Path]:
    targets, analysis = evaluate(results)
    results["targets"] = [asdict(t) for t in targets]
    results["analysis"] = analysis
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "results.json", out_dir / "RESULTS.md"
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    md_path.write_text(markdown(results, targets, analysis))
    return json_path, md_path


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "n/a"}[met]


def targets_table(targets: list[Target]) -> str:
    lines = ["| target | limit | measured | result |", "|---|---|---|---|"]
    lines += [f"| {t.target} | {t.limit} | {t.measured} | {_verdict(t.met)} |" for t in targets]
    return "\n".join(lines)


# Paths that move no rows (a start-up alone): no rows/s or MB/s.
NO_DATA_PATHS = frozenset({"dbt_startup"})


def _paths_table(workload: dict, rows: int | None = None, size: int | None = None) -> str:
    lines = [
        "| path | wall min / median / max (s) | work min (s) | CPU min (s) | peak RSS (MB) | rows/s | MB/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in workload["paths"].items():
        wall = entry["wall_seconds"]
        work = entry.get("work_seconds", {}).get("min")
        basis = work if work else wall["min"]
        moves_data = "empty" not in name and name not in NO_DATA_PATHS
        per_s = f"{rows / basis:,.0f}" if rows and basis and moves_data and not name.startswith("sftp") else ""
        mb_s = f"{size / MB / basis:.1f}" if size and basis and moves_data else ""
        lines.append(
            f"| {name} | {wall['min']:.2f} / {wall['median']:.2f} / {wall['max']:.2f} | {_s(work, '')} | "
            f"{entry['cpu_seconds']['min']:.1f} | {entry['peak_rss_bytes']['max'] / MB:.0f} | {per_s} | {mb_s} |"
        )
    return "\n".join(lines)


def _stages_table(workload: dict, path: str) -> str:
    stages = workload["paths"].get(path, {}).get("stages", {})
    labels = {
        "definitions_seconds": "process start → definitions loaded (imports, code location)",
        "landing_seconds": "landing step (SFTP → lake, sha256, record counts, manifests)",
        "raw_seconds": "raw step (load + Pandera + reconciliation + check results)",
        "raw_load_seconds": "  of which raw load (manifests → DuckDB, quarantine, file manifest)",
        "raw_validate_seconds": "  of which Pandera contract checks",
        "dbt_seconds": "dbt step (one `dbt build`)",
        "checks_seconds": "quality check steps",
        "compute_seconds": "time inside the assets' and checks' code",
        "orchestration_seconds": "orchestration (run time outside that code)",
        "run_seconds": "Dagster run (execute_in_process)",
    }
    lines = ["| stage (from the run's own step timings) | min (s) | median (s) | max (s) |", "|---|---|---|---|"]
    for key, label in labels.items():
        if key in stages:
            s = stages[key]
            lines.append(f"| {label} | {s['min']:.2f} | {s['median']:.2f} | {s['max']:.2f} |")
    return "\n".join(lines)


def _runs_table(workload: dict) -> str:
    """Per platform path (fastest round): runs, wall, time in the assets' code, the rest, dbt calls."""
    lines = [
        "| platform path | runs | wall (s) | in the assets' code (s) | orchestration incl. start-up (s) | dbt calls | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in workload["paths"].items():
        if not name.startswith("platform"):
            continue
        d = entry["detail_of_fastest"]
        wall = entry["wall_seconds"]["min"]
        runs = d.get("runs", 1)
        compute = d.get("runs_compute_seconds", d.get("compute_seconds"))
        rest = d.get("runs_orchestration_seconds", wall - compute if compute is not None else None)
        lines.append(
            f"| {name} | {runs} | {wall:.1f} | {_s(compute, '', 1)} | {_s(rest, '', 1)} | {d.get('dbt_invocations', 'n/a')} | "
            f"{entry['peak_rss_bytes']['max'] / MB:.0f} |"
        )
    return "\n".join(lines)


def _versus_table(workload: dict) -> str:
    """Each platform stage beside the reference path doing the same work (minima)."""
    p = workload["paths"]
    pairs = [
        ("landing step (SFTP → lake)", _stage(p, "platform", "landing_seconds"), "OpenSSH `sftp` get", _min(p, "sftp_cli")),
        (
            "raw load without Pandera",
            _diff(_stage(p, "platform", "raw_load_seconds"), _stage(p, "platform", "raw_validate_seconds")),
            "bare DuckDB CTAS",
            _min(p, "duckdb_bare", "work_seconds"),
        ),
        ("raw step (load, Pandera, reconciliation)", _stage(p, "platform", "raw_seconds"), "pandas per file", _min(p, "pandas_per_file", "work_seconds")),
        ("dbt step (one `dbt build`)", _stage(p, "platform", "dbt_seconds"), "compiled SQL run directly", _min(p, "direct_sql", "work_seconds")),
        ("whole run (process wall)", _min(p, "platform"), "sftp + bare load + direct SQL", _sum(_min(p, "sftp_cli"), _min(p, "duckdb_bare", "work_seconds"), _min(p, "direct_sql", "work_seconds"))),
    ]
    lines = ["| platform | min (s) | reference | min (s) | ratio |", "|---|---|---|---|---|"]
    for label, mine, ref_label, ref in pairs:
        ratio = f"{mine / ref:.2f}×" if mine is not None and ref else "n/a"
        lines.append(f"| {label} | {_s(mine, '')} | {ref_label} | {_s(ref, '')} | {ratio} |")
    return "\n".join(lines)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _sum(*values: float | None) -> float | None:
    return None if any(v is None for v in values) else sum(values)  # type: ignore[arg-type]


def _rounds_line(workload: dict) -> str:
    loads = ", ".join(f"{r['foreign_load']:.0%}{'*' if not r['kept'] else ''}" for r in workload["rounds"])
    busy = workload.get("busy_rounds_kept", 0)
    note = f"; {busy} kept although busy (the machine never quietened)" if busy else ""
    line = f"rounds: {workload['kept_rounds']} kept of {len(workload['rounds'])}; foreign CPU load per round: {loads} (* discarded){note}"
    measured = workload.get("measured")
    if measured:
        line += f"; measured {measured['date']} at commit {measured['git_commit']} (configuration `{measured['config']}`)"
    return line


def markdown(results: dict, targets: list[Target], analysis: dict) -> str:
    meta = results["meta"]
    machine = meta["machine"]
    config = meta["config"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    out = [
        "# Benchmark results",
        "",
        f"Run {meta['date']} on {machine['cpu']} ({machine['cores']} cores, {machine['memory_gb']} GB), {machine['os']}, "
        f"Python {machine['python']}; {versions}; commit {machine['git_commit']}. Configuration `{config['name']}`; "
        f"the whole benchmark took {meta.get('duration_seconds', 0) / 60:.0f} min. "
        f"Load average at start: {', '.join(f'{v:.1f}' for v in machine['load_average_at_start'])}.",
        "",
    ]
    if meta.get("notes"):
        out += [meta["notes"], ""]
    if meta.get("merged_from_previous"):
        out += [
            f"Kept from an earlier benchmark run (`--merge`): {', '.join(meta['merged_from_previous'])}; each workload's "
            "section says when, at which commit and in which configuration it was measured.",
            "",
        ]
    out += ["## Targets", "", targets_table(targets), ""]
    workloads = results["workloads"]
    if "day" in workloads:
        day = workloads["day"]
        tree = day["tree"]
        out += [
            f"## day-{tree['locations']}: one business date, {tree['locations']} locations",
            "",
            f"{tree['files']} files, {tree['rows']:,} rows, {tree['bytes'] / MB:.1f} MB. {_rounds_line(day)}.",
            "",
            _paths_table(day, tree["rows"], tree["bytes"]),
            "",
            _versus_table(day),
            "",
            _stages_table(day, "platform"),
            "",
        ]
    if "scale" in analysis:
        scale = analysis["scale"]
        fit, bare = scale["platform_fit"], scale["duckdb_bare_fit"]
        out += ["## scale: one date, growing location counts", "", _rounds_line(workloads["scale"]) + ".", ""]
        out += ["| locations | rows | platform min (s) | bare DuckDB load (s) | OpenSSH sftp (s) | peak RSS (MB) |", "|---|---|---|---|---|---|"]
        for pt in scale["points"]:
            out.append(
                f"| {pt['locations']} | {pt['rows']:,} | {_s(pt['platform_seconds'], '')} | {_s(pt['duckdb_bare_seconds'], '')} | "
                f"{_s(pt['sftp_cli_seconds'], '')} | {pt['peak_rss_bytes'] / MB:.0f} |"
            )
        if fit["slope"] is not None:
            out += [
                "",
                f"Platform: {fit['slope']:.3f} s per location + {fit['intercept']:.1f} s (R² {fit['r2']:.3f}); "
                f"bare DuckDB load: {bare['slope']:.4f} s per location + {bare['intercept']:.2f} s.",
            ]
        out.append("")
    if "backfill" in workloads:
        b = workloads["backfill"]
        tree = b["tree"]
        sep = b["paths"].get("platform_separate_runs", {}).get("detail_of_fastest", {})
        out += [
            f"## backfill-{tree['dates']}: {tree['dates']} dates × {tree['locations']} locations",
            "",
            f"{tree['files']} files, {tree['rows']:,} rows, {tree['bytes'] / MB:.1f} MB. {_rounds_line(b)}. "
            f"Separate runs: {sep.get('runs', 'n/a')} processes, one per date, one after the other.",
            "",
            _paths_table(b, tree["rows"], tree["bytes"]),
            "",
            _runs_table(b),
            "",
        ]
    if "year" in workloads:
        y = workloads["year"]
        tree = y["tree"]
        out += [
            f"## year: {tree['dates']} dates × {tree['locations']} locations",
            "",
            f"{tree['files']} files, {tree['rows']:,} rows, {tree['bytes'] / MB:.1f} MB; chunked variant: {y['chunks']} runs. "
            f"{_rounds_line(y)}.",
            "",
            _paths_table(y, tree["rows"], tree["bytes"]),
            "",
            _runs_table(y),
            "",
        ]
    out += [
        "## Method",
        "",
        "- Every path runs as its own process on the same generated files, against the same OpenSSH `sshd` "
        "(loopback, key login, `internal-sftp`) and the same kind of target (a DuckDB file). The platform run is "
        "`python -m benchmarks.platform_run`: a fresh process imports the code location and executes the "
        "`toast_daily` job in process for the date or range (one run, single-run backfill policy) with the real "
        "resources and the embedded default's SQLite instance; stage times are the run's own step timings "
        "(RunStepStats) and materialization metadata.",
        "- References: OpenSSH `sftp -b` (`get -r` per location-date folder, one connection); `CREATE TABLE AS SELECT * "
        "FROM read_csv([files], header = true, auto_detect = false, columns = <the header, all VARCHAR>)` per entity "
        "with `preserve_insertion_order = false` (auto-detection would sniff every file); the SQL "
        "`dbt compile` produced for the window, executed statement by statement on a copy of the platform's warehouse "
        "(views, the marts' delete + insert, every data test); a pandas script (per file `read_csv`, rename, lineage "
        "columns, append to DuckDB).",
        "- One warm-up round (for the platform: a run of a date without files, which builds the warehouse; then a "
        "snapshot), then interleaved rounds (every path once per round). Every measured platform run starts from that "
        "snapshot and an empty lake, so it lands and loads dates the warehouse has not seen. Foreign load = busy CPU of the "
        f"machine minus our processes' CPU (the sshd sessions included), as a share of all cores; rounds above "
        f"{config['busy_threshold']:.0%} are discarded and re-run (up to {config['max_extra_rounds']} extra); if the "
        "machine never quietens, the least busy rounds are kept and flagged above.",
        "- Ratios are ratios of minima. \"work\" is the time inside the reference process without interpreter start; "
        "the platform's wall time includes its interpreter start and imports and ends with the run: the process's "
        "reading of the run's record for this report afterwards is left out (since ff0f854; a year's run has about "
        "30,000 events to read). Orchestration is the run's time outside "
        "the assets' and checks' own code (Dagster's planning, resources, event handling and storage).",
        "- Peak RSS: summed resident memory of the path's process tree (the platform and its dbt subprocess), sampled "
        "every 50 ms.",
        "",
    ]
    return "\n".join(out)
